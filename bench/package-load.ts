// Load time of a local package with and without the shard SHA-256 check of issue #18, in one run:
//   trusted   no check (`trustShards`, the CLI's --trust-shards): parts read by byte range, what every
//             load did before #18;
//   whole     the generic check (package.ts): each shard read whole, hashed with WebCrypto, parts served
//             from memory; what a local folder did until the worker-thread check (kept for other ModelFiles);
//   cold      the local-folder check: parts read by range while a worker thread hashes the file, no stamp
//             yet (a first load);
//   warm      the same with a stamp file from an earlier load: unchanged shards are not hashed again.
// Two packages: the embedded demo model (11.5 MB, q4) and a synthetic 1 GiB one (f32 zeros, 64 MiB shards,
// written to a temp folder first). Runs are interleaved (trusted, whole, cold, warm, trusted, ...) so a slow
// stretch of a shared machine weighs on all; the median of each is printed with its ratio to `trusted`,
// and the machine's SHA-256 throughput measured in the same process; then the CPU time of each (all threads),
// which is what the check costs where no core is spare.
//   npx vite build --mode cli --ssr bench/package-load.ts --outDir dist/bench && node dist/bench/main.js [--runs 5] [--demo-only]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelFiles } from '../src/formats/byte-source';
import { nodeModelFiles } from '../src/formats/node-files';
import { nodePackageSink } from '../src/formats/node-package-sink';
import { PackageWriter } from '../src/formats/package';
import { sha256Hex } from '../src/loader/sha256';
import { normalizeConfig } from '../src/model/config';
import { RACY_WINDOW_MS } from '../src/formats/shard-stamps';
import { loadModelFolder } from '../src/model/load';
import { weightRecipes } from '../src/model/weights';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5);
const demoOnly = process.argv.includes('--demo-only');

const BIG_CONFIG = {
  model_type: 'glm',
  vocab_size: 32768,
  hidden_size: 2048,
  intermediate_size: 4096,
  num_hidden_layers: 4,
  num_attention_heads: 16,
  num_key_value_heads: 2,
  head_dim: 128,
  max_position_embeddings: 4096,
  eos_token_id: 2,
};

async function writeBigPackage(dir: string): Promise<number> {
  const config = normalizeConfig(BIG_CONFIG);
  const writer = new PackageWriter(await nodePackageSink(dir));
  for (const r of weightRecipes(config).model) {
    const n = r.shape.reduce((a, b) => a * b, 1);
    await writer.addTensor(r.path, { dtype: 'f32', shape: [...r.shape], data: new Float32Array(n) });
  }
  const m = await writer.finish({ config: BIG_CONFIG, normalized: config, quant: 'none', files: [], tokenizer: [] });
  return m.totalBytes;
}

type Mode = 'trusted' | 'whole' | 'cold' | 'warm';
const MODES: Mode[] = ['trusted', 'whole', 'cold', 'warm'];
let stampDir = '';
let fresh = 0;

function filesFor(dir: string, mode: Mode): ModelFiles {
  if (mode === 'trusted') return nodeModelFiles(dir, { trustShards: true });
  if (mode === 'whole') return { ...nodeModelFiles(dir, { shardStamps: false }), openChecked: undefined };
  // cold: a stamp file no load has written yet; warm: the one every warm run shares.
  return nodeModelFiles(dir, { shardStamps: join(stampDir, mode === 'cold' ? `cold-${fresh++}.json` : 'warm.json') });
}

/** CPU time of the last loadMs (every thread of the process: the hashing threads too), in ms. */
let lastCpuMs = 0;

async function loadMs(dir: string, mode: Mode): Promise<number> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await loadModelFolder(filesFor(dir, mode), { convert: () => null });
  const used = process.cpuUsage(cpu);
  lastCpuMs = (used.user + used.system) / 1000;
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(label: string, dir: string, bytes: number): Promise<void> {
  await loadMs(dir, 'trusted'); // warm the page cache and the JIT
  await loadMs(dir, 'warm'); // the earlier load that wrote the warm stamps
  const times: Record<Mode, number[]> = { trusted: [], whole: [], cold: [], warm: [] };
  const cpu: Record<Mode, number[]> = { trusted: [], whole: [], cold: [], warm: [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of MODES) {
      times[mode].push(await loadMs(dir, mode));
      cpu[mode].push(lastCpuMs);
    }
  }
  const base = median(times.trusted);
  const cells = MODES.map((m) => `${m} ${median(times[m]).toFixed(0).padStart(5)} ms${m === 'trusted' ? '' : ` (${(median(times[m]) / base).toFixed(2)}x)`}`);
  console.log(`${label.padEnd(26)} ${(bytes / 2 ** 20).toFixed(1).padStart(7)} MiB  wall: ${cells.join('  ')}`);
  // CPU time over all threads: what the check adds in work, whether or not a spare core hid it.
  console.log(`${''.padEnd(38)}cpu:  ${MODES.map((m) => `${m} ${median(cpu[m]).toFixed(0).padStart(5)} ms`).join('  ')}`);
}

const probe = new Uint8Array(256 * 2 ** 20);
let t = performance.now();
await sha256Hex(probe);
const hashGBs = probe.byteLength / ((performance.now() - t) / 1000) / 1e9;
t = performance.now();
new Uint8Array(probe.byteLength).set(probe);
const copyGBs = probe.byteLength / ((performance.now() - t) / 1000) / 1e9;
console.log(`SHA-256 ${hashGBs.toFixed(2)} GB/s, memcpy ${copyGBs.toFixed(2)} GB/s (same process); median of ${runs} interleaved runs each`);
stampDir = mkdtempSync(join(tmpdir(), 'glm-load-bench-stamps-'));

const root = resolve(import.meta.dirname, '../..');
const demo = join(root, 'public/models/glm-demo');
const { statSync, readdirSync } = await import('node:fs');
const demoBytes = readdirSync(demo).filter((f) => f.startsWith('shard-')).reduce((s, f) => s + statSync(join(demo, f)).size, 0);
// The first checked load of this process also starts the hashing thread.
const first = await loadMs(demo, 'cold');
console.log(`first checked load of the demo in this process (hashing thread started): ${first.toFixed(0)} ms`);
await compare('demo model (glm-demo, q4)', demo, demoBytes);
const big = mkdtempSync(join(tmpdir(), 'glm-load-bench-'));
try {
  if (!demoOnly) {
    const bytes = await writeBigPackage(join(big, 'pkg'));
    // Files written moments ago are "racy" (their stat cannot prove them unchanged): wait that out.
    await new Promise((r) => setTimeout(r, RACY_WINDOW_MS + 500));
    await compare('synthetic package (f32)', join(big, 'pkg'), bytes);
  }
} finally {
  rmSync(big, { recursive: true, force: true });
  rmSync(stampDir, { recursive: true, force: true });
}
