// The browser loader (IndexedDB cache) with an injected Map-backed store and a fake fetch, and the
// Node folder cache with the same fake fetch and, for the CLI, a real local HTTP server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MissingFileError, TruncatedFileError } from '../../src/formats/byte-source';
import { nodeModelFiles } from '../../src/formats/node-files';
import { MANIFEST_FILE, UnsupportedPackageVersionError, type PackageManifest } from '../../src/formats/package';
import {
  DownloadError,
  QuotaExceededError,
  ShardHashMismatchError,
  deleteCachedModel,
  entryKey,
  listCachedModels,
  loadModelPackage,
  memoryStore,
  readCachedShards,
  recordKey,
  type DownloadProgress,
  type LoaderEnv,
  type ModelRecord,
} from '../../src/loader/index';
import { downloadPackage, STATE_FILE } from '../../src/loader/node-cache';
import { loadModelFolder } from '../../src/model/load';
import { runCli } from '../helpers/cli';
import { FIXTURES_DIR, fixtureDir, fixtureExpected } from '../helpers/fixtures';

const FIXTURE = 'thudm-glm4chat-tiny';
const BASE = 'https://models.example/glm4chat-q4/';
const ID = 'models.example_glm4chat-q4';

let tmp: string;
let pkgDir: string;
let served: Map<string, Uint8Array>;
let manifest: PackageManifest;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'glm-loader-test-'));
  pkgDir = join(tmp, 'pkg');
  // The fixture plus tokenizer files, so the package carries extra files like a real one.
  const src = join(tmp, 'src');
  mkdirSync(src);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(fixtureDir(FIXTURE), f), join(src, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(FIXTURES_DIR, 'tokenizer-glm4-mini', f), join(src, f));
  const r = await runCli(['convert', '--model', src, '--out', pkgDir, '--quant', 'q4', '--shard-size', '16KiB']);
  expect(r.code, r.stderr).toBe(0);
  const m = JSON.parse(readFileSync(join(pkgDir, MANIFEST_FILE), 'utf8')) as PackageManifest;
  expect(m.shards.length).toBeGreaterThanOrEqual(5);
  expect(m.files.map((f) => f.file)).toEqual(['config.json', 'tokenizer.json', 'tokenizer_config.json']);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function loadServed(): void {
  served = new Map();
  for (const f of readdirSync(pkgDir)) served.set(f, new Uint8Array(readFileSync(join(pkgDir, f))));
  manifest = JSON.parse(new TextDecoder().decode(served.get(MANIFEST_FILE))) as PackageManifest;
}

type Behavior = 'ok' | 'network' | 'cut' | 'truncate' | 'corrupt' | 'long' | { status: number };

/** A fetch over `served` that counts requests, tracks concurrency and misbehaves on demand. */
function fakeNet() {
  const requests = new Map<string, number>();
  const plans = new Map<string, Behavior[]>();
  const always = new Map<string, Behavior>();
  let inFlight = 0;
  let maxInFlight = 0;
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const file = url.slice(url.lastIndexOf('/') + 1);
    requests.set(file, (requests.get(file) ?? 0) + 1);
    if (init?.signal?.aborted) throw init.signal.reason;
    const behavior = plans.get(file)?.shift() ?? always.get(file) ?? 'ok';
    if (behavior === 'network') throw new TypeError('fetch failed');
    if (typeof behavior === 'object') return new Response('error', { status: behavior.status });
    const bytes = served.get(file);
    if (!bytes) return new Response('not found', { status: 404 });
    let body = bytes;
    if (behavior === 'truncate') body = bytes.slice(0, Math.floor(bytes.byteLength / 2));
    if (behavior === 'corrupt') {
      body = bytes.slice();
      body[body.byteLength >> 1] ^= 0xff;
    }
    if (behavior === 'long') body = new Uint8Array([...bytes, 1, 2, 3]);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let o = 0;
    let done = false;
    const finish = () => {
      if (!done) inFlight--;
      done = true;
    };
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        // A macrotask per chunk, so parallel downloads really overlap.
        await new Promise((r) => setTimeout(r, 1));
        if (init?.signal?.aborted) {
          finish();
          controller.error(init.signal.reason);
          return;
        }
        if (behavior === 'cut' && o >= body.byteLength / 2) {
          finish();
          controller.error(new TypeError('network error: connection reset'));
          return;
        }
        if (o >= body.byteLength) {
          finish();
          controller.close();
          return;
        }
        const n = Math.min(4096, body.byteLength - o);
        controller.enqueue(body.slice(o, o + n));
        o += n;
      },
    });
    return new Response(stream, { status: 200 });
  };
  return {
    fetch: fetchImpl as typeof fetch,
    requests,
    plans,
    always,
    get maxInFlight() {
      return maxInFlight;
    },
    shardRequests: () => [...requests.entries()].filter(([f]) => f.startsWith('shard-')).reduce((s, [, n]) => s + n, 0),
    reset() {
      requests.clear();
      plans.clear();
      always.clear();
      maxInFlight = 0;
    },
  };
}

let net: ReturnType<typeof fakeNet>;
let store: ReturnType<typeof memoryStore>;
let persistCalls: number;
let quota: number | undefined;

function env(): Partial<LoaderEnv> {
  return {
    fetch: net.fetch,
    store,
    sleep: async () => {},
    storage: {
      estimate: async () => ({ quota, usage: 1000 }),
      persist: async () => {
        persistCalls++;
        return true;
      },
      persisted: async () => false,
    },
  };
}

const load = (opts: Parameters<typeof loadModelPackage>[1] = {}) =>
  loadModelPackage(BASE, { retries: 2, backoffMs: 1, ...opts, env: { ...env(), ...opts.env } });
const record = () => store.map.get(recordKey(ID)) as ModelRecord | undefined;
const allFiles = () => [...manifest.shards, ...manifest.files].map((f) => f.file);

beforeEach(() => {
  loadServed();
  net = fakeNet();
  store = memoryStore();
  persistCalls = 0;
  quota = 1 << 30;
});

describe('loadModelPackage (IndexedDB cache, Map-backed store)', () => {
  it('first load fetches every file once, reports progress, and the cached package runs like the folder', async () => {
    const events: DownloadProgress[] = [];
    const pkg = await load({ onProgress: (p) => events.push(p), concurrency: 3 });
    expect(pkg.id).toBe(ID);
    expect(pkg.fetched.sort()).toEqual(allFiles().sort());
    for (const f of allFiles()) expect(net.requests.get(f), f).toBe(1);
    expect(net.requests.get(MANIFEST_FILE)).toBe(1);
    expect(net.maxInFlight).toBeGreaterThan(1);
    expect(net.maxInFlight).toBeLessThanOrEqual(3);
    expect(persistCalls).toBe(1);
    expect(pkg.persisted).toBe(true);
    const last = events.at(-1)!;
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBe(manifest.totalBytes + manifest.files.reduce((s, f) => s + f.bytes, 0));
    expect(last.shardsDone).toBe(manifest.shards.length);
    expect(last.shardsTotal).toBe(manifest.shards.length);
    expect(events.every((e) => e.bytesDone <= e.bytesTotal && e.rate >= 0)).toBe(true);
    expect(record()!.complete).toBe(true);
    expect(await listCachedModels({ store })).toEqual([
      expect.objectContaining({
        id: ID, url: BASE, complete: true, shards: manifest.shards.length, shardsTotal: manifest.shards.length, bytes: last.bytesTotal,
      }),
    ]);
    // loadModelFolder reads it like the folder on disk.
    const cached = await loadModelFolder(pkg.files);
    const disk = await loadModelFolder(nodeModelFiles(pkgDir));
    expect(cached.format).toBe('package');
    expect(cached.weights).toEqual(disk.weights);
    expect(await pkg.files.readText('tokenizer_config.json')).toBe(readFileSync(join(pkgDir, 'tokenizer_config.json'), 'utf8'));
  });

  it('a second load fetches no shard', async () => {
    await load();
    net.reset();
    const pkg = await load();
    expect(net.shardRequests()).toBe(0);
    expect(pkg.fetched).toEqual([]);
    expect(pkg.fromCache.sort()).toEqual(allFiles().sort());
  });

  it('an interrupted download resumes with only the missing files, and the record never lists a file it lacks', async () => {
    const broken = manifest.shards[2]!.file;
    net.always.set(broken, 'cut');
    const err = await load({ concurrency: 2 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain(broken);
    expect((err as Error).message).toMatch(/after 3 attempts/);
    expect(net.requests.get(broken)).toBe(3);
    const r = record()!;
    expect(r.complete).toBe(false);
    expect(r.stored[broken]).toBeUndefined();
    for (const f of Object.keys(r.stored)) expect(store.map.has(entryKey(ID, f)), f).toBe(true);
    expect(store.map.has(entryKey(ID, broken))).toBe(false);
    const storedBefore = new Set(Object.keys(r.stored));
    expect((await listCachedModels({ store }))[0]!.complete).toBe(false);

    net.reset();
    const pkg = await load();
    expect(pkg.fetched.sort()).toEqual(allFiles().filter((f) => !storedBefore.has(f)).sort());
    for (const f of storedBefore) expect(net.requests.get(f) ?? 0, f).toBe(0);
    expect(record()!.complete).toBe(true);
  });

  it('a short body is retried; a body that stays short is a TruncatedFileError and is not stored', async () => {
    const f = manifest.shards[1]!.file;
    net.plans.set(f, ['truncate']);
    await load();
    expect(net.requests.get(f)).toBe(2);
    store = memoryStore();
    net.reset();
    net.always.set(f, 'truncate');
    const err = await load().catch((e: Error) => e);
    expect(err).toBeInstanceOf(TruncatedFileError);
    expect((err as Error).message).toMatch(/ended after \d+ of \d+ bytes/);
    expect(record()!.complete).toBe(false);
    expect(record()!.stored[f]).toBeUndefined();
    expect(store.map.has(entryKey(ID, f))).toBe(false);
  });

  it('a wrong hash is retried, then ShardHashMismatchError; nothing unverified is stored', async () => {
    const f = manifest.shards[0]!.file;
    net.always.set(f, 'corrupt');
    const err = await load().catch((e: Error) => e);
    expect(err).toBeInstanceOf(ShardHashMismatchError);
    expect((err as Error).name).toBe('ShardHashMismatchError');
    expect(net.requests.get(f)).toBe(3);
    expect(store.map.has(entryKey(ID, f))).toBe(false);
    expect(record()!.complete).toBe(false);
    net.reset();
    net.always.set(f, 'long');
    await expect(load()).rejects.toThrow(/sent \d+ bytes, the manifest says/);
  });

  it('5xx and network errors are retried with backoff; 404 is not', async () => {
    const f = manifest.shards[3]!.file;
    net.plans.set(f, [{ status: 503 }, 'network']);
    const delays: number[] = [];
    await load({ backoffMs: 100, env: { sleep: async (ms) => void delays.push(ms) } });
    expect(net.requests.get(f)).toBe(3);
    expect(delays.length).toBe(2);
    expect(delays[1]!).toBeGreaterThanOrEqual(100);
    store = memoryStore();
    net.reset();
    served.delete(f);
    const err = await load().catch((e: Error) => e);
    expect(err).toBeInstanceOf(MissingFileError);
    expect(net.requests.get(f)).toBe(1);
  });

  it('a manifest of an unknown version: UnsupportedPackageVersionError, nothing stored', async () => {
    served.set(MANIFEST_FILE, new TextEncoder().encode(JSON.stringify({ ...manifest, version: 7 })));
    const err = await load().catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnsupportedPackageVersionError);
    expect((err as Error).message).toMatch(/version 7.*version 1/);
    expect(store.map.size).toBe(0);
    expect(net.shardRequests()).toBe(0);
  });

  it('quota too small: QuotaExceededError with needed and available bytes, before any download', async () => {
    quota = 5000;
    const err = await load().catch((e: Error) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect((err as Error).name).toBe('QuotaExceededError');
    const needed = manifest.totalBytes + manifest.files.reduce((s, f) => s + f.bytes, 0);
    expect((err as Error).message).toContain(`(${needed} bytes)`);
    expect((err as Error).message).toContain('(4000 bytes) are available');
    expect(net.shardRequests()).toBe(0);
    expect(store.map.size).toBe(0);
    // A store that refuses writes mid-download (the browser's own quota error) maps to the same error.
    quota = 1 << 30;
    const refusing = memoryStore();
    const set = refusing.set;
    let writes = 0;
    refusing.set = async (k, v) => {
      if (k.includes(':shard-') && ++writes > 2) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return set(k, v);
    };
    const err2 = await load({ env: { store: refusing }, concurrency: 1 }).catch((e: Error) => e);
    expect(err2).toBeInstanceOf(QuotaExceededError);
    const r = refusing.map.get(recordKey(ID)) as ModelRecord;
    expect(r.complete).toBe(false);
    expect(Object.keys(r.stored).filter((f) => f.startsWith('shard-')).length).toBe(2);
  });

  it('a stored shard corrupted in IndexedDB is detected when read and fetched again', async () => {
    const pkg = await load();
    const f = manifest.shards[1]!.file;
    const buf = new Uint8Array(store.map.get(entryKey(ID, f)) as ArrayBuffer);
    buf[10] ^= 0x55;
    net.reset();
    const repairs: string[] = [];
    const again = await load({ onRepair: (r) => repairs.push(`${r.file}: ${r.reason}`) });
    expect(net.shardRequests()).toBe(0); // hashes are checked when shards are read, not on every page load
    const model = await loadModelFolder(again.files);
    expect(repairs).toEqual([`${f}: no longer matches its SHA-256 (corrupted in storage)`]);
    expect(net.requests.get(f)).toBe(1);
    expect(net.shardRequests()).toBe(1);
    expect(model.weights).toEqual((await loadModelFolder(nodeModelFiles(pkgDir))).weights);
    expect(record()!.complete).toBe(true);
    void pkg;
    // A shard deleted behind the cache's back is refetched at the next load.
    store.map.delete(entryKey(ID, f));
    net.reset();
    const third = await load();
    expect(third.fetched).toEqual([f]);
  });

  it('readCachedShards hands the shards over one at a time, in order', async () => {
    const pkg = await load();
    const seen: string[] = [];
    await readCachedShards(pkg, async ({ file, index, bytes }) => {
      expect(index).toBe(seen.length);
      expect(bytes.byteLength).toBe(manifest.shards[index]!.bytes);
      seen.push(file);
    });
    expect(seen).toEqual(manifest.shards.map((s) => s.file));
  });

  it('deleteCachedModel frees every entry of the model', async () => {
    await load();
    await loadModelPackage('https://other.example/m/', { env: { ...env() }, id: 'other' });
    const before = store.map.size;
    const freed = await deleteCachedModel(ID, { store });
    expect(freed.entries).toBe(allFiles().length + 1);
    expect(freed.bytes).toBe(manifest.totalBytes + manifest.files.reduce((s, f) => s + f.bytes, 0));
    expect([...store.map.keys()].filter((k) => k.startsWith(`glm-webgpu:${ID}`))).toEqual([]);
    expect(store.map.size).toBe(before - freed.entries);
    expect((await listCachedModels({ store })).map((m) => m.id)).toEqual(['other']);
  });

  it('abort stops the download with an AbortError and keeps what was complete', async () => {
    const ctrl = new AbortController();
    const err = await load({
      signal: ctrl.signal,
      concurrency: 1,
      onProgress: (p) => {
        if (p.shardsDone >= 2) ctrl.abort();
      },
    }).catch((e: Error) => e);
    expect((err as Error).name).toBe('AbortError');
    const r = record()!;
    expect(r.complete).toBe(false);
    for (const f of Object.keys(r.stored)) expect(store.map.has(entryKey(ID, f))).toBe(true);
    expect(Object.keys(r.stored).length).toBeGreaterThanOrEqual(2);
  });

  it('offline: a complete cached model loads with the cached manifest', async () => {
    await load();
    net.reset();
    net.always.set(MANIFEST_FILE, 'network');
    const pkg = await load();
    expect(pkg.offline).toBe(true);
    expect(net.shardRequests()).toBe(0);
    // Without a complete copy the network error is reported.
    store = memoryStore();
    await expect(load()).rejects.toThrow(DownloadError);
  });

  it('a new version of the package on the server: only changed files are fetched, stale entries dropped', async () => {
    await load();
    const changed = manifest.shards.at(-1)!;
    const bytes = served.get(changed.file)!.slice();
    bytes[bytes.byteLength - 1] ^= 1;
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(bytes).digest('hex');
    served.set(changed.file, bytes);
    const m2 = { ...manifest, shards: manifest.shards.map((s) => (s.file === changed.file ? { ...s, sha256: sha } : s)) };
    served.set(MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(m2)));
    net.reset();
    const pkg = await load();
    expect(pkg.fetched).toEqual([changed.file]);
    expect(record()!.stored[changed.file]!.sha256).toBe(sha);
  });
});

describe('Node folder cache (downloadPackage) and the CLI with a package URL', () => {
  it('downloads, resumes, re-fetches a file corrupted on disk, and writes manifest.json only when complete', async () => {
    const cacheDir = join(tmp, 'node-cache');
    rmSync(cacheDir, { recursive: true, force: true });
    const broken = manifest.shards[1]!.file;
    net.always.set(broken, 'truncate');
    const err = await downloadPackage(BASE, { cacheDir, retries: 1, backoffMs: 1, env: { fetch: net.fetch, sleep: async () => {} } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TruncatedFileError);
    const dir = join(cacheDir, ID);
    expect(existsSync(join(dir, MANIFEST_FILE))).toBe(false);
    expect(existsSync(join(dir, broken))).toBe(false);

    net.reset();
    const first = await downloadPackage(BASE, { cacheDir, env: { fetch: net.fetch, sleep: async () => {} } });
    expect(first.fetched.length).toBeGreaterThanOrEqual(1);
    expect(first.fetched).toContain(broken);
    expect(first.fetched.length + first.fromCache.length).toBe(allFiles().length);
    expect(existsSync(join(dir, MANIFEST_FILE))).toBe(true);
    expect(existsSync(join(dir, STATE_FILE))).toBe(true);
    const fromCache = await loadModelFolder(nodeModelFiles(dir));
    expect(fromCache.weights).toEqual((await loadModelFolder(nodeModelFiles(pkgDir))).weights);

    net.reset();
    const second = await downloadPackage(BASE, { cacheDir, env: { fetch: net.fetch } });
    expect(second.fetched).toEqual([]);
    expect(net.shardRequests()).toBe(0);

    // Same size, different bytes (bit rot or an editor): caught by the hash, fetched again.
    const victim = join(dir, manifest.shards[0]!.file);
    const bytes = readFileSync(victim);
    bytes[5] ^= 0xff;
    writeFileSync(victim, bytes);
    unlinkSync(join(dir, manifest.shards[2]!.file));
    net.reset();
    const third = await downloadPackage(BASE, { cacheDir, env: { fetch: net.fetch } });
    expect(third.fetched.sort()).toEqual([manifest.shards[0]!.file, manifest.shards[2]!.file].sort());
  });

  it('generate --model http://.../pkg/ downloads into --cache-dir and gives the same ids as the folder', async () => {
    const server: Server = createServer((req, res) => {
      const file = (req.url ?? '').replace(/^\/pkg\//, '');
      const bytes = served.get(file);
      if (!bytes) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('Content-Length', bytes.byteLength);
      res.end(bytes);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pkg/`;
      const cacheDir = join(tmp, 'cli-cache');
      const e = fixtureExpected(FIXTURE);
      const args = ['--ids', e.prompt_ids.join(','), '--max-new-tokens', String(e.greedy_ids.length), '--json', '--ignore-eos'];
      const viaUrl = await runCli(['generate', '--model', url, '--cache-dir', cacheDir, ...args]);
      expect(viaUrl.code, viaUrl.stderr).toBe(0);
      expect(viaUrl.stderr).toMatch(/download: \d+ files fetched, 0 from the cache/);
      const viaDir = await runCli(['generate', '--model', pkgDir, ...args]);
      expect(JSON.parse(viaUrl.stdout).ids).toEqual(JSON.parse(viaDir.stdout).ids);
      const again = await runCli(['generate', '--model', url, '--cache-dir', cacheDir, ...args]);
      expect(again.stderr).toMatch(/download: 0 files fetched/);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
