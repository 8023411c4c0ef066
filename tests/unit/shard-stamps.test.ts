// Issue #18's happy-path criterion: a local package's shards are hashed on worker threads while the
// parts are read, and a stamp (file identity + SHA-256) lets a later load of an unchanged file skip the
// hash. These tests pin what must still hold: a changed, corrupt or tampered shard is a
// ShardIntegrityError whatever the stamps say, a bad stamp file is ignored, and no check leaks an
// unhandled rejection.
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelFiles } from '../../src/formats/byte-source';
import { nodeModelFiles } from '../../src/formats/node-files';
import { nodePackageSink } from '../../src/formats/node-package-sink';
import { PackageWriter, type PackageManifest } from '../../src/formats/package';
import { RACY_WINDOW_MS } from '../../src/formats/shard-stamps';
import { normalizeConfig } from '../../src/model/config';
import { loadModelFolder } from '../../src/model/load';
import { weightRecipes } from '../../src/model/weights';

const CONFIG = {
  model_type: 'glm',
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  max_position_embeddings: 64,
  eos_token_id: 2,
};
/** The smallest shard size, so the tiny model spans many shards (several hashed at once). */
const SHARD_SIZE = 4096;
/** A clock past the racy window: files written by the test count as settled, so stamps are used. */
const later = () => Date.now() + 10 * RACY_WINDOW_MS;

let root: string;
let pkg: string;
let manifest: PackageManifest;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  root = mkdtempSync(join(tmpdir(), 'glm-stamps-'));
  pkg = join(root, 'pkg');
  const config = normalizeConfig(CONFIG);
  const writer = new PackageWriter(await nodePackageSink(pkg), { shardSize: SHARD_SIZE });
  let seed = 1;
  for (const r of weightRecipes(config).model) {
    const data = new Float32Array(r.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
    await writer.addTensor(r.path, { dtype: 'f32', shape: [...r.shape], data });
  }
  manifest = await writer.finish({ config: CONFIG, normalized: config, quant: 'none', files: [], tokenizer: [] });
});

afterAll(async () => {
  // Give any stray rejection a turn to surface before looking.
  await new Promise((r) => setTimeout(r, 50));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

let copies = 0;
function copyPackage(): string {
  const dir = join(root, `copy-${copies++}`);
  cpSync(pkg, dir, { recursive: true });
  return dir;
}

function flipByte(file: string, at = 100): void {
  const bytes = readFileSync(file);
  bytes[at] = bytes[at]! ^ 1;
  writeFileSync(file, bytes);
}

function stampsIn(file: string): Record<string, { identity: string; sha256: string }> {
  return (JSON.parse(readFileSync(file, 'utf8')) as { files: Record<string, { identity: string; sha256: string }> }).files;
}

async function loadError(files: ModelFiles): Promise<Error> {
  try {
    await loadModelFolder(files, { convert: () => null });
  } catch (err) {
    return err as Error;
  }
  throw new Error('the load succeeded');
}

const middle = () => manifest.shards[Math.floor(manifest.shards.length / 2)]!.file;

describe('local package shards: hashed on worker threads, stamped when unchanged', () => {
  it('the tiny package spans many shards', () => {
    expect(manifest.shards.length).toBeGreaterThan(8);
  });

  it('a first load hashes every shard and stamps it with the hash the manifest lists', async () => {
    const dir = copyPackage();
    const stampFile = join(root, 'first.json');
    const model = await loadModelFolder(nodeModelFiles(dir, { shardStamps: stampFile, clock: later }), { convert: () => null });
    expect(model.format).toBe('package');
    const stamps = stampsIn(stampFile);
    for (const shard of manifest.shards) expect(stamps[join(dir, shard.file)]?.sha256).toBe(shard.sha256);
  });

  it('a stamp of the unchanged file is what a later load trusts: a forged stamp hash fails it, so the file was not hashed again', async () => {
    const dir = copyPackage();
    const stampFile = join(root, 'honest.json');
    await loadModelFolder(nodeModelFiles(dir, { shardStamps: stampFile, clock: later }), { convert: () => null });
    const forged = stampsIn(stampFile);
    forged[join(dir, middle())]!.sha256 = '0'.repeat(64);
    const forgedFile = join(root, 'forged.json');
    writeFileSync(forgedFile, JSON.stringify({ format: 'glm-webgpu-shard-stamps', version: 1, files: forged }));
    const err = await loadError(nodeModelFiles(dir, { shardStamps: forgedFile, clock: later }));
    expect(err.name).toBe('ShardIntegrityError');
    expect(err.message).toContain(middle());
  });

  it('a stamped shard corrupted later (same size, mtime set back) is hashed again and caught', async () => {
    const dir = copyPackage();
    const stampFile = join(root, 'tamper.json');
    const files = () => nodeModelFiles(dir, { shardStamps: stampFile, clock: later });
    const shard = join(dir, middle());
    // A whole second, which utimes sets exactly (a fraction would lose nanoseconds on the way).
    const mtime = Math.floor(Date.now() / 1000) - 3600;
    utimesSync(shard, mtime, mtime);
    await loadModelFolder(files(), { convert: () => null });
    const before = statSync(shard, { bigint: true });
    flipByte(shard);
    // Same size and mtime as when stamped: only the ctime (which no call can set) tells.
    utimesSync(shard, mtime, mtime);
    const after = statSync(shard, { bigint: true });
    expect([after.size, after.mtimeNs]).toEqual([before.size, before.mtimeNs]);
    const err = await loadError(files());
    expect(err.name).toBe('ShardIntegrityError');
    expect(err.message).toContain(middle());
  });

  it('a stamped shard with a new mtime but the same bytes is hashed again, loads, and gets a new stamp', async () => {
    const dir = copyPackage();
    const stampFile = join(root, 'touch.json');
    const files = () => nodeModelFiles(dir, { shardStamps: stampFile, clock: later });
    await loadModelFolder(files(), { convert: () => null });
    const shard = join(dir, middle());
    const old = stampsIn(stampFile)[shard]!.identity;
    utimesSync(shard, new Date(), new Date(Date.now() - 3600_000));
    await loadModelFolder(files(), { convert: () => null });
    const now = stampsIn(stampFile)[shard]!;
    expect(now.identity).not.toBe(old);
    expect(now.sha256).toBe(manifest.shards.find((s) => s.file === middle())!.sha256);
  });

  it('a stamped shard that changed size is refused by the manifest size check', async () => {
    for (const change of [(b: Buffer) => b.subarray(0, b.length - 1), (b: Buffer) => Buffer.concat([b, Buffer.from([0])])]) {
      const dir = copyPackage();
      const stampFile = join(root, `size-${copies}.json`);
      const files = () => nodeModelFiles(dir, { shardStamps: stampFile, clock: later });
      await loadModelFolder(files(), { convert: () => null });
      const shard = join(dir, middle());
      writeFileSync(shard, change(readFileSync(shard)));
      expect((await loadError(files())).name).toBe('TruncatedFileError');
    }
  });

  it('a corrupt or foreign stamp file is ignored (every shard hashed) and replaced by a good one', async () => {
    for (const [i, text] of ['{"format": "glm-webgpu-shard-st', '[1, 2, 3]', '{"format":"glm-webgpu-shard-stamps","version":1,"files":{"x":{"identity":1,"sha256":"no"}}}', '\u0000\u0001'].entries()) {
      const dir = copyPackage();
      const stampFile = join(root, `corrupt-${i}.json`);
      writeFileSync(stampFile, text);
      flipByte(join(dir, middle()));
      const err = await loadError(nodeModelFiles(dir, { shardStamps: stampFile, clock: later }));
      expect(err.name).toBe('ShardIntegrityError');
      const intact = copyPackage();
      await loadModelFolder(nodeModelFiles(intact, { shardStamps: stampFile, clock: later }), { convert: () => null });
      expect(stampsIn(stampFile)[join(intact, middle())]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('a shard that changed moments ago is hashed from the bytes read, and is not stamped', async () => {
    const dir = copyPackage();
    const stampFile = join(root, 'racy.json');
    flipByte(join(dir, middle()));
    // The real clock: the copy was just written, so every file is racy.
    const err = await loadError(nodeModelFiles(dir, { shardStamps: stampFile }));
    expect(err.name).toBe('ShardIntegrityError');
    expect(err.message).toContain(middle());
    const intact = copyPackage();
    await loadModelFolder(nodeModelFiles(intact, { shardStamps: stampFile }), { convert: () => null });
    expect(existsSync(stampFile) ? Object.keys(stampsIn(stampFile)) : []).toEqual([]);
  });

  it('a shard rewritten while the load reads it fails the load, even with the same bytes', async () => {
    const dir = copyPackage();
    const inner = nodeModelFiles(dir, { shardStamps: false, clock: later });
    const target = middle();
    const files: ModelFiles = {
      ...inner,
      async openChecked(name) {
        const opened = await inner.openChecked!(name);
        if (name === target) writeFileSync(join(dir, name), readFileSync(join(dir, name)));
        return opened;
      },
    };
    const err = await loadError(files);
    expect(err.name).toBe('ShardIntegrityError');
    expect(err.message).toMatch(/changed while/);
  });

  it('a shard deleted or replaced after the load opened it fails the load with ShardIntegrityError', async () => {
    for (const change of ['delete', 'replace'] as const) {
      const dir = copyPackage();
      const inner = nodeModelFiles(dir, { shardStamps: false, clock: later });
      const target = middle();
      const files: ModelFiles = {
        ...inner,
        async openChecked(name) {
          const opened = await inner.openChecked!(name);
          const file = join(dir, name);
          if (name === target && change === 'delete') rmSync(file);
          if (name === target && change === 'replace') {
            writeFileSync(`${file}.new`, readFileSync(file));
            renameSync(`${file}.new`, file);
          }
          return opened;
        },
      };
      const err = await loadError(files);
      expect(err.name).toBe('ShardIntegrityError');
      expect(err.message).toContain(target);
    }
  });

  it('concurrent loads: every load of a folder with a corrupt shard fails with ShardIntegrityError, the intact one loads', async () => {
    const bad = copyPackage();
    flipByte(join(bad, manifest.shards[1]!.file));
    const badLate = copyPackage();
    flipByte(join(badLate, manifest.shards.at(-1)!.file), 10);
    const good = copyPackage();
    const results = await Promise.allSettled(
      [bad, badLate, good, bad].map((dir) => loadModelFolder(nodeModelFiles(dir, { shardStamps: false, clock: later }), { convert: () => null })),
    );
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).name : 'loaded'))).toEqual(['ShardIntegrityError', 'ShardIntegrityError', 'loaded', 'ShardIntegrityError']);
    expect((results[1] as PromiseRejectedResult).reason.message).toContain(manifest.shards.at(-1)!.file);
  });

  it('--trust-shards still skips the check', async () => {
    const dir = copyPackage();
    flipByte(join(dir, middle()));
    await expect(loadModelFolder(nodeModelFiles(dir, { trustShards: true, shardStamps: false }), { convert: () => null })).resolves.toBeTruthy();
  });
});
