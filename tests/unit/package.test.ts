import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryModelFiles, TruncatedFileError } from '../../src/formats/byte-source';
import { nodeModelFiles } from '../../src/formats/node-files';
import {
  MANIFEST_FILE,
  PART_ALIGNMENT,
  PackageFormatError,
  PackageWriter,
  UnsupportedPackageVersionError,
  loadPackageWeights,
  openPackage,
  parseManifest,
  type PackageManifest,
  type PackageSink,
} from '../../src/formats/package';
import { loadModelFolder } from '../../src/model/load';
import { quantizeWeight } from '../../src/model/quantize-weights';
import { weightRecipes, type HostWeight } from '../../src/model/weights';
import { quantizeQ4 } from '../../src/quant/q4';
import { runCli } from '../helpers/cli';
import { MODEL_FIXTURES, FIXTURES_DIR, fixtureDir, fixtureExpected } from '../helpers/fixtures';

const tmp = mkdtempSync(join(tmpdir(), 'glm-package-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as PackageManifest;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function convert(model: string, out: string, quant: string, extra: string[] = []) {
  const r = await runCli(['convert', '--model', model, '--out', out, '--quant', quant, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

async function generate(model: string, name: string, extra: string[] = []): Promise<number[]> {
  const e = fixtureExpected(name);
  const r = await runCli(['generate', '--model', model, '--ids', e.prompt_ids.join(','), '--max-new-tokens', String(e.greedy_ids.length + 3), '--json', '--ignore-eos', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { ids: number[] }).ids;
}

describe.each(MODEL_FIXTURES)('package from %s', (name) => {
  it.each(['q4', 'q8'] as const)('%s package: generate gives exactly the ids of generate --quant on the HF folder', async (quant) => {
    const out = join(tmp, `${name}-${quant}`);
    const conv = await convert(fixtureDir(name), out, quant, ['--shard-size', '16KiB']);
    expect(conv.stderr).toMatch(/convert: 100% /);
    expect(conv.stderr).toMatch(/peak RSS/);
    const m = readManifest(out);
    expect(m.format).toBe('glm-webgpu-package');
    expect(m.quant).toBe(quant);
    expect(m.shards.length).toBeGreaterThan(1);
    const fromPkg = await generate(out, name);
    const fromHf = await generate(fixtureDir(name), name, ['--quant', quant]);
    expect(fromPkg).toEqual(fromHf);

    // The loaded weights are the very tensors --quant produces.
    const hf = await loadModelFolder(nodeModelFiles(fixtureDir(name)), { convert: (w) => quantizeWeight(w, quant) });
    const pkg = await loadModelFolder(nodeModelFiles(out));
    expect(pkg.format).toBe('package');
    expect(pkg.config).toEqual(hf.config);
    expect(pkg.weights).toEqual(hf.weights);
  });
});

describe('package layout', () => {
  it('shards <= shard size, parts 256-aligned, sha256 per shard, tensors in recipe order, none = bitwise logits', async () => {
    const name = 'hf-glm4-tiny';
    const out = join(tmp, 'layout-none');
    // 4 KiB shards: the 98 KiB embedding spans many shards.
    await convert(fixtureDir(name), out, 'none', ['--shard-size', '4KiB']);
    const m = readManifest(out);
    expect(m.shardSize).toBe(4096);
    expect(m.alignment).toBe(PART_ALIGNMENT);
    for (const s of m.shards) {
      expect(s.bytes).toBeLessThanOrEqual(4096);
      expect(statSync(join(out, s.file)).size).toBe(s.bytes);
      expect(sha256(join(out, s.file))).toBe(s.sha256);
    }
    expect(m.totalBytes).toBe(m.shards.reduce((a, s) => a + s.bytes, 0));
    const parts = Object.values(m.tensors).flatMap((t) => Object.values(t.parts));
    for (const p of parts) expect(p!.offset % PART_ALIGNMENT).toBe(0);
    expect(parts.some((p) => p!.byteLength > 4096)).toBe(true);
    const { model } = weightRecipes(parseManifest(m).normalized);
    expect(Object.keys(m.tensors)).toEqual(model.map((r) => r.path));
    expect(readdirSync(out).filter((f) => f.startsWith('shard-')).length).toBe(m.shards.length);

    const ids = fixtureExpected(name).prompt_ids.join(',');
    const a = await runCli(['logits', '--model', out, '--ids', ids]);
    const b = await runCli(['logits', '--model', fixtureDir(name), '--ids', ids]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('copies tokenizer files and lists them with their hashes', async () => {
    const src = join(tmp, 'with-tokenizer');
    const dst = join(tmp, 'with-tokenizer-pkg');
    rmSync(src, { recursive: true, force: true });
    // A model folder with tokenizer files beside the checkpoint.
    mkdirSync(src, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(fixtureDir('thudm-glm4chat-tiny'), f), join(src, f));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(FIXTURES_DIR, 'tokenizer-glm4-mini', f), join(src, f));
    await convert(src, dst, 'q4');
    const m = readManifest(dst);
    expect(m.tokenizer).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    for (const f of m.files) {
      expect(readFileSync(join(dst, f.file))).toEqual(readFileSync(join(src, f.file)));
      expect(f.sha256).toBe(sha256(join(dst, f.file)));
    }
    const files = nodeModelFiles(dst);
    expect(await files.readText('tokenizer_config.json')).toBe(readFileSync(join(src, 'tokenizer_config.json'), 'utf8'));
  });

  it('asymmetric q4 (with mins) round-trips through a PackageWriter and memory files', async () => {
    const chunks = new Map<string, Uint8Array[]>();
    let manifestText = '';
    const sink: PackageSink = {
      location: 'memory',
      async createFile(file) {
        const parts: Uint8Array[] = [];
        chunks.set(file, parts);
        const hash = createHash('sha256');
        let bytes = 0;
        return {
          async write(b) {
            parts.push(b.slice());
            hash.update(b);
            bytes += b.byteLength;
          },
          async close() {
            return { bytes, sha256: hash.digest('hex') };
          },
        };
      },
      async writeManifest(text) {
        manifestText = text;
      },
    };
    const writer = new PackageWriter(sink, { shardSize: 4096 });
    const asym = (w: HostWeight): HostWeight => (w.dtype === 'f32' && w.shape.length === 2 ? quantizeQ4(w.data, w.shape[0]!, w.shape[1]!, { asymmetric: true }) : w);
    const hf = await loadModelFolder(nodeModelFiles(fixtureDir('hf-glm-tiny')), {
      convert: async (w, path) => {
        const q = asym(w);
        await writer.addTensor(path, q);
        return q;
      },
    });
    const m = await writer.finish({ config: hf.rawConfig, normalized: hf.config, quant: 'q4', files: [], tokenizer: [] });
    expect(JSON.parse(manifestText)).toEqual(JSON.parse(JSON.stringify(m)));
    expect(Object.keys(m.tensors['layers.0.qkv.weight']!.parts)).toEqual(['packed', 'scales', 'mins']);
    const record: Record<string, Uint8Array> = { [MANIFEST_FILE]: new TextEncoder().encode(manifestText) };
    for (const [file, parts] of chunks) {
      const all = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.byteLength;
      }
      record[file] = all;
    }
    const pkg = await openPackage(memoryModelFiles(record));
    expect(await loadPackageWeights(pkg.config, pkg)).toEqual(hf.weights);
    // A package missing a tensor its config needs says which.
    const { embedding: _dropped, ...rest } = pkg.manifest.tensors;
    void _dropped;
    await expect(loadPackageWeights(pkg.config, { ...pkg, manifest: { ...pkg.manifest, tensors: rest } })).rejects.toThrow(/has no tensor "embedding"/);
  });
});

describe('package errors', () => {
  const base = join(tmp, 'errors-base');
  const fresh = async (dir: string) => {
    rmSync(dir, { recursive: true, force: true });
    await convert(fixtureDir('thudm-chatglm2-tiny'), dir, 'q4', ['--shard-size', '16KiB']);
    return dir;
  };

  it('a manifest of another version or format is UnsupportedPackageVersionError saying which version this build reads', async () => {
    const dir = await fresh(join(tmp, 'v2'));
    const m = readManifest(dir);
    writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify({ ...m, version: 2 }));
    const r = await runCli(['generate', '--model', dir, '--ids', '1,2', '--max-new-tokens', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('UnsupportedPackageVersionError');
    expect(r.stderr).toMatch(/version 2.*reads only format "glm-webgpu-package" version 1.*[Rr]e-convert/);
    expect(() => parseManifest({ format: 'something-else', version: 1 })).toThrow(UnsupportedPackageVersionError);
    expect(() => parseManifest({ ...m, tensors: 5 })).toThrow(PackageFormatError);
    expect(() => parseManifest('{not json')).toThrow(PackageFormatError);
    expect(() => parseManifest({ ...m, shards: [{ file: '../etc/passwd', bytes: 1, sha256: '0'.repeat(64) }] })).toThrow(PackageFormatError);
    const t = m.tensors['embedding']!;
    expect(() => parseManifest({ ...m, tensors: { ...m.tensors, embedding: { ...t, parts: { ...t.parts, packed: { ...t.parts.packed!, byteLength: 3 } } } } })).toThrow(/needs/);
  });

  it('a truncated shard is a TruncatedFileError naming the shard', async () => {
    const dir = await fresh(base);
    const m = readManifest(dir);
    truncateSync(join(dir, m.shards[1]!.file), m.shards[1]!.bytes - 100);
    const err = await loadModelFolder(nodeModelFiles(dir)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TruncatedFileError);
    expect((err as Error).message).toContain(m.shards[1]!.file);
  });

  it('convert refuses to overwrite a package without --force, replaces it with --force, and rejects bad sizes', async () => {
    const dir = await fresh(join(tmp, 'force'));
    const before = readManifest(dir).shards.length;
    const again = await runCli(['convert', '--model', fixtureDir('thudm-chatglm2-tiny'), '--out', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('PackageExistsError');
    // Replace with bigger shards: the leftover shard files are removed.
    await convert(fixtureDir('thudm-chatglm2-tiny'), dir, 'q4', ['--shard-size', '1MiB', '--force']);
    const m = readManifest(dir);
    expect(m.shards.length).toBe(1);
    expect(before).toBeGreaterThan(1);
    expect(readdirSync(dir).filter((f) => f.startsWith('shard-'))).toEqual(['shard-00000.bin']);
    for (const bad of ['12', '5000', 'big', '64XB']) {
      const r = await runCli(['convert', '--model', fixtureDir('thudm-chatglm2-tiny'), '--out', join(tmp, 'bad'), '--shard-size', bad]);
      expect(r.code, bad).toBe(2);
    }
  });
});

describe('the engine takes a package', () => {
  it('chat completion from a q8 package equals the HF folder with quant q8', async () => {
    const { createEngine } = await import('../../src/worker/client');
    const { writeTinyChatModel } = await import('../helpers/tiny-chat-model');
    const hfDir = writeTinyChatModel(join(tmp, 'chat-hf'));
    const pkg = join(tmp, 'chat-pkg');
    await convert(hfDir, pkg, 'q8', ['--shard-size', '64KiB']);
    expect(readManifest(pkg).files.map((f) => f.file)).toEqual(['config.json', 'tokenizer.json', 'tokenizer_config.json']);
    const reply = async (model: string, quant: 'none' | 'q8') => {
      const engine = await createEngine({ inThread: true });
      await engine.load(model, { backend: 'cpu', quant });
      const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 12, temperature: 0 });
      return (r as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
    };
    const fromHf = await reply(hfDir, 'q8');
    expect(fromHf.length).toBeGreaterThan(0);
    expect(await reply(pkg, 'none')).toBe(fromHf);
  });
});
