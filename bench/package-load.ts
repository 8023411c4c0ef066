// Load time of a package with and without the shard SHA-256 check of issue #18 (before: parts read by
// byte range, no hash, which is what `trustShards` still does; after: each shard read whole, hashed,
// parts served from memory). Two packages: the embedded demo model (11.5 MB, q4) and a synthetic 1 GiB
// one (f32 zeros, 64 MiB shards, written to a temp folder first). Runs are interleaved (before, after,
// before, ...) so a slow stretch of a shared machine weighs on both; the median of each is printed with
// the after/before ratio, and the machine's SHA-256 throughput measured in the same process.
//   npx vite build --mode cli --ssr bench/package-load.ts --outDir dist/bench && node dist/bench/main.js [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nodeModelFiles } from '../src/formats/node-files';
import { nodePackageSink } from '../src/formats/node-package-sink';
import { PackageWriter } from '../src/formats/package';
import { sha256Hex } from '../src/loader/sha256';
import { normalizeConfig } from '../src/model/config';
import { loadModelFolder } from '../src/model/load';
import { weightRecipes } from '../src/model/weights';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5);

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

async function loadMs(dir: string, verify: boolean): Promise<number> {
  const t = performance.now();
  await loadModelFolder(nodeModelFiles(dir, { trustShards: !verify }), { convert: () => null });
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(label: string, dir: string, bytes: number): Promise<void> {
  await loadMs(dir, false); // warm the page cache and the JIT
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < runs; i++) {
    before.push(await loadMs(dir, false));
    after.push(await loadMs(dir, true));
  }
  const b = median(before);
  const a = median(after);
  console.log(`${label.padEnd(28)} ${(bytes / 2 ** 20).toFixed(1).padStart(8)} MiB  before ${b.toFixed(0).padStart(6)} ms  after ${a.toFixed(0).padStart(6)} ms  after/before ${(a / b).toFixed(2)}`);
}

const probe = new Uint8Array(256 * 2 ** 20);
let t = performance.now();
await sha256Hex(probe);
const hashGBs = probe.byteLength / ((performance.now() - t) / 1000) / 1e9;
t = performance.now();
new Uint8Array(probe.byteLength).set(probe);
const copyGBs = probe.byteLength / ((performance.now() - t) / 1000) / 1e9;
console.log(`SHA-256 ${hashGBs.toFixed(2)} GB/s, memcpy ${copyGBs.toFixed(2)} GB/s (same process); median of ${runs} interleaved runs each`);

const root = resolve(import.meta.dirname, '../..');
const demo = join(root, 'public/models/glm-demo');
const { statSync, readdirSync } = await import('node:fs');
const demoBytes = readdirSync(demo).filter((f) => f.startsWith('shard-')).reduce((s, f) => s + statSync(join(demo, f)).size, 0);
await compare('demo model (glm-demo, q4)', demo, demoBytes);
const big = mkdtempSync(join(tmpdir(), 'glm-load-bench-'));
try {
  const bytes = await writeBigPackage(join(big, 'pkg'));
  await compare('synthetic package (f32)', join(big, 'pkg'), bytes);
} finally {
  rmSync(big, { recursive: true, force: true });
}
