// Storage and network faults (issue #18), with fake fetches, fake stores and fake locks: stall timeouts
// and deadlines, IndexedDB errors as named errors, corrupt and foreign records, deleting a model while
// it downloads, two tabs loading the same model, the move out of idb-keyval's shared database.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheStorageError, DownloadTimeoutError, ModelDeletedError } from '../../src/errors';
import { MissingFileError } from '../../src/formats/byte-source';
import { httpModelFiles } from '../../src/formats/http-files';
import { MANIFEST_FILE, type PackageManifest } from '../../src/formats/package';
import {
  QuotaExceededError,
  cachedModelFiles,
  deleteCachedModel,
  listCachedModels,
  loadModelPackage,
  memoryBus,
  memoryLocks,
  memoryStore,
  recordKey,
  type CacheBus,
  type DownloadProgress,
  type KeyValueStore,
  type LoaderEnv,
  type LockManagerLike,
  type ModelRecord,
  type SkippedRecord,
} from '../../src/loader/index';
import { fetchFile, type FetchEnv } from '../../src/loader/fetch';
import { migrateEntries } from '../../src/loader/store';
import { withRequestTimeouts } from '../../src/loader/timeouts';
import { loadModelFolder } from '../../src/model/load';
import { createFastMatmul } from '../../src/cpu/fast-matmul';
import { matmulQuant } from '../../src/cpu/quant-matmul';
import { quantizeQ4 } from '../../src/quant/q4';
import { GlmEngine } from '../../src/runtime/engine';
import { runCli } from '../helpers/cli';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';
import { fixtureDir } from '../helpers/fixtures';

const URL_ = 'https://models.example/pkg/shard-00000.bin';
const instantEnv = (fetchImpl: (url: string, init: RequestInit) => Promise<Response>): FetchEnv => ({
  fetch: fetchImpl as unknown as typeof fetch,
  sleep: async () => {},
  random: () => 0.5,
});

/** A fetch that never answers but rejects when its signal aborts, as browsers and undici do. */
const silentServer = (_url: string, init: RequestInit) =>
  new Promise<Response>((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason), { once: true }));

/** Headers at once, then `first` bytes, then chunks every `everyMs` (or nothing more when everyMs is null). */
function trickle(first: number, everyMs: number | null) {
  return async (_url: string, init: RequestInit) => {
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new Uint8Array(first));
          return;
        }
        if (everyMs === null) {
          await new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason), { once: true })).catch((e) => controller.error(e));
          return;
        }
        await new Promise((r) => setTimeout(r, everyMs));
        if (init.signal!.aborted) controller.error(init.signal!.reason);
        else controller.enqueue(new Uint8Array(1));
      },
    });
    return new Response(stream, { status: 200 });
  };
}

const expected = { file: 'shard-00000.bin', bytes: 1 << 20, sha256: '0'.repeat(64) };

describe('fetch: stall timeout and deadline', () => {
  it('a server that accepts and never answers: DownloadTimeoutError (stall) after every retry, not a hang', async () => {
    let calls = 0;
    const t0 = Date.now();
    const err = await fetchFile(URL_, expected, instantEnv((u, i) => (calls++, silentServer(u, i))), { stallTimeoutMs: 40, retries: 2 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadTimeoutError);
    expect((err as Error).name).toBe('DownloadTimeoutError');
    expect((err as Error).message).toMatch(/no data for 40 ms \(stallTimeoutMs\).*after 3 attempts/);
    expect(calls).toBe(3);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a fetch that ignores its abort signal still times out', async () => {
    const err = await fetchFile(URL_, null, instantEnv(() => new Promise<Response>(() => {})), { stallTimeoutMs: 30, retries: 0 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadTimeoutError);
  });

  it('a body that stops halfway: stall timeout; a body that trickles for ever: deadline', async () => {
    const stalled = await fetchFile(URL_, expected, instantEnv(trickle(1000, null)), { stallTimeoutMs: 50, retries: 0 }).catch((e: Error) => e);
    expect(stalled).toBeInstanceOf(DownloadTimeoutError);
    expect((stalled as Error).message).toMatch(/no data for 50 ms/);
    // A byte every 10 ms keeps the stall clock from firing; the deadline ends it.
    const slow = await fetchFile(URL_, expected, instantEnv(trickle(1000, 10)), { stallTimeoutMs: 200, deadlineMs: 150, retries: 0 }).catch((e: Error) => e);
    expect(slow).toBeInstanceOf(DownloadTimeoutError);
    expect((slow as Error).message).toMatch(/did not finish within its deadline of 150 ms \(deadlineMs\)/);
  });

  it('the caller aborting still wins with its own reason; bad limits are refused', async () => {
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new DOMException('stop', 'AbortError')), 20);
    const err = await fetchFile(URL_, expected, instantEnv(silentServer), { stallTimeoutMs: 10_000, signal: ctrl.signal }).catch((e: Error) => e);
    expect((err as Error).name).toBe('AbortError');
    await expect(withRequestTimeouts(URL_, { stallTimeoutMs: -1 }, undefined, async () => 1)).rejects.toMatchObject({ name: 'InvalidArgumentError', message: expect.stringMatching(/stallTimeoutMs must be a positive/) });
  });

  it('progress restarts the stall clock: a slow but steady download completes', async () => {
    const body = new Uint8Array(64).fill(7);
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(body).digest('hex');
    const steady = async () => {
      let o = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 15));
            if (o >= body.length) return c.close();
            c.enqueue(body.slice(o, o + 8));
            o += 8;
          },
        }),
      );
    };
    // 8 chunks x 15 ms = 120 ms in all, more than the 40 ms stall timeout, never 40 ms without a byte.
    const got = await fetchFile(URL_, { file: 'x', bytes: 64, sha256 }, instantEnv(steady), { stallTimeoutMs: 40, retries: 0 });
    expect(got).toEqual(body);
  });
});

describe('httpModelFiles (Hugging Face folders over HTTP): the same limits on a real socket', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
    server = null;
  });

  it('a server that accepts and never answers: DownloadTimeoutError, and a range read that stalls mid-body too', async () => {
    server = createServer((req, res) => {
      if (req.url === '/m/config.json') return; // accepted, never answered
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'Content-Length': 4096 });
        return res.end();
      }
      res.writeHead(206, { 'Content-Length': 100 });
      res.write(Buffer.alloc(10)); // then nothing
    });
    await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/`;
    const files = httpModelFiles(base, { stallTimeoutMs: 80 });
    const err = await files.readText('config.json').catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadTimeoutError);
    expect((err as Error).message).toContain(`${base}config.json: no data for 80 ms`);
    const source = await files.open('model.safetensors');
    const err2 = await source.read(0, 100).catch((e: Error) => e);
    expect(err2).toBeInstanceOf(DownloadTimeoutError);
  });
});

// ---------------------------------------------------------------------------------------------------
// The browser cache (loadModelPackage & co.) against fake stores, fake networks and fake tab plumbing.

let tmp: string;
let served: Map<string, Uint8Array>;
let manifest: PackageManifest;
const BASE = 'https://models.example/glm4chat-q4/';
const ID = 'models.example_glm4chat-q4';

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'glm-hostile-io-'));
  const pkgDir = join(tmp, 'pkg');
  const r = await runCli(['convert', '--model', fixtureDir('thudm-glm4chat-tiny'), '--out', pkgDir, '--quant', 'q4', '--shard-size', '16KiB']);
  expect(r.code, r.stderr).toBe(0);
  served = new Map(readdirSync(pkgDir).map((f) => [f, new Uint8Array(readFileSync(join(pkgDir, f)))]));
  manifest = JSON.parse(new TextDecoder().decode(served.get(MANIFEST_FILE))) as PackageManifest;
  expect(manifest.shards.length).toBeGreaterThanOrEqual(4);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A fetch over `served`, 4 KiB chunks `chunkMs` apart, counting requests per file. */
function slowNet(chunkMs = 1) {
  const requests = new Map<string, number>();
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const file = url.slice(url.lastIndexOf('/') + 1);
    requests.set(file, (requests.get(file) ?? 0) + 1);
    const bytes = served.get(file);
    if (!bytes) return new Response('not found', { status: 404 });
    let o = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(c) {
          await new Promise((r) => setTimeout(r, chunkMs));
          if (init?.signal?.aborted) return c.error(init.signal.reason);
          if (o >= bytes.byteLength) return c.close();
          c.enqueue(bytes.slice(o, o + 4096));
          o += 4096;
        },
      }),
    );
  };
  return { fetch: fetchImpl as typeof fetch, requests, shardRequests: () => [...requests].filter(([f]) => f.startsWith('shard-')).reduce((s, [, n]) => s + n, 0) };
}

/** One browser tab: its own fetch, the origin's store, locks and bus. */
function tab(store: KeyValueStore, locks: LockManagerLike, bus: CacheBus, net = slowNet()): Partial<LoaderEnv> {
  return { fetch: net.fetch, store, locks, bus, sleep: async () => {}, storage: null };
}

const allFileNames = () => [...manifest.shards, ...manifest.files].map((f) => f.file);
const keysOf = (store: ReturnType<typeof memoryStore>, id: string) => [...store.map.keys()].filter((k) => k === recordKey(id) || k.startsWith(`${recordKey(id)}:`));

/** A store whose operation `op` fails with `error` (after `after` successful calls of it). */
function failingStore(op: 'get' | 'set' | 'del' | 'keys', error: unknown, after = 0) {
  const inner = memoryStore();
  let calls = 0;
  const wrapped = { ...inner } as typeof inner;
  const original = inner[op] as (...a: unknown[]) => Promise<unknown>;
  (wrapped as unknown as Record<string, unknown>)[op] = async (...args: unknown[]) => {
    if (calls++ >= after) throw error;
    return original(...args);
  };
  return wrapped;
}

describe('IndexedDB and storage failures are named errors with their cause', () => {
  const abort = new DOMException('The transaction was aborted, so the request cannot be fulfilled.', 'AbortError');
  const unknown = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError');

  it('an aborted IndexedDB transaction while storing a shard: CacheStorageError, never an AbortError ("cancelled")', async () => {
    const store = failingStore('set', abort, 2);
    const err = await loadModelPackage(BASE, { env: tab(store, memoryLocks(), memoryBus()), retries: 0 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CacheStorageError);
    expect((err as Error).name).toBe('CacheStorageError');
    expect((err as Error).cause).toBe(abort);
    expect((err as Error).message).toMatch(/writing "glm-webgpu:.*" to the model cache \(IndexedDB\) failed: AbortError/);
    expect((err as Error).message).not.toMatch(/cancel/i);
  });

  it('UnknownError reading the cache, a transaction aborted without a reason, and listing: all CacheStorageError', async () => {
    const errGet = await loadModelPackage(BASE, { env: tab(failingStore('get', unknown), memoryLocks(), memoryBus()) }).catch((e: Error) => e);
    expect(errGet).toBeInstanceOf(CacheStorageError);
    expect((errGet as Error).cause).toBe(unknown);
    const errNull = await loadModelPackage(BASE, { env: tab(failingStore('get', null), memoryLocks(), memoryBus()) }).catch((e: Error) => e);
    expect(errNull).toBeInstanceOf(CacheStorageError);
    expect((errNull as Error).message).toMatch(/no reason given/);
    const errList = await listCachedModels({ store: failingStore('keys', unknown) }).catch((e: Error) => e);
    expect(errList).toBeInstanceOf(CacheStorageError);
    const refusesDelete = failingStore('del', abort);
    refusesDelete.map.set(`${recordKey(ID)}:shard-00000.bin`, new ArrayBuffer(8));
    const errDelete = await deleteCachedModel(ID, { store: refusesDelete, locks: memoryLocks(), bus: memoryBus() }).catch((e: Error) => e);
    expect(errDelete).toBeInstanceOf(CacheStorageError);
    // The browser's own quota error while writing keeps its meaning.
    const errQuota = await loadModelPackage(BASE, { env: tab(failingStore('set', new DOMException('full', 'QuotaExceededError'), 1), memoryLocks(), memoryBus()) }).catch((e: Error) => e);
    expect(errQuota).toBeInstanceOf(QuotaExceededError);
  });

  it('a rejecting navigator.storage.estimate(): CacheStorageError with the cause, before any shard is fetched', async () => {
    const net = slowNet();
    const failure = new DOMException('estimate failed', 'UnknownError');
    const store = memoryStore();
    const env = { ...tab(store, memoryLocks(), memoryBus(), net), storage: { estimate: () => Promise.reject(failure) } };
    const err = await loadModelPackage(BASE, { env }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CacheStorageError);
    expect((err as Error).cause).toBe(failure);
    expect((err as Error).message).toContain('navigator.storage.estimate()');
    expect(net.shardRequests()).toBe(0);
  });
});

describe('corrupt and foreign records are skipped and reported, never a TypeError', () => {
  it('listCachedModels lists the good model and reports each bad record with the reason', async () => {
    const store = memoryStore();
    await loadModelPackage(BASE, { env: tab(store, memoryLocks(), memoryBus()) });
    const bad: Record<string, unknown> = {
      'glm-webgpu:str': 'hello',
      'glm-webgpu:nul': null,
      'glm-webgpu:foreign': { kind: 'something-else', id: 'foreign' },
      'glm-webgpu:nomanifest': { kind: 'glm-webgpu-model', id: 'nomanifest', url: BASE, stored: {}, complete: true, bytes: 0, updatedAt: 0, manifest: { shards: 5 } },
      'glm-webgpu:badstored': { ...(store.map.get(recordKey(ID)) as object), id: 'badstored', stored: { 'shard-00000.bin': 7 } },
      'glm-webgpu:wrongid': { ...(store.map.get(recordKey(ID)) as object) },
    };
    for (const [k, v] of Object.entries(bad)) store.map.set(k, v);
    store.map.set('someone-else:key', new Uint8Array(3));
    const skipped: SkippedRecord[] = [];
    const models = await listCachedModels({ store }, { onSkipped: (s) => skipped.push(s) });
    expect(models.map((m) => m.id)).toEqual([ID]);
    expect(Object.fromEntries(skipped.map((s) => [s.key, s.reason]))).toEqual({
      'glm-webgpu:str': 'not a record (string)',
      'glm-webgpu:nul': 'not a record (null)',
      'glm-webgpu:foreign': 'kind is "something-else", not "glm-webgpu-model" (a foreign entry)',
      'glm-webgpu:nomanifest': expect.stringMatching(/^its manifest is unreadable: .*UnsupportedPackageVersion|^its manifest is unreadable: /),
      'glm-webgpu:badstored': 'stored["shard-00000.bin"] is not {bytes, sha256}',
      'glm-webgpu:wrongid': `its id "${ID}" does not match its key`,
    });
  });

  it('loadModelPackage over a corrupt record of the same id: reported, replaced by a fresh download that works', async () => {
    const store = memoryStore();
    store.map.set(recordKey(ID), { kind: 'glm-webgpu-model', id: ID, url: 5, manifest: 'garbage', stored: 'x' });
    store.map.set(`${recordKey(ID)}:shard-00000.bin`, new ArrayBuffer(3)); // a leftover entry of the bad record
    const skipped: SkippedRecord[] = [];
    const pkg = await loadModelPackage(BASE, { env: tab(store, memoryLocks(), memoryBus()), onSkipped: (s) => skipped.push(s) });
    expect(skipped).toEqual([{ key: recordKey(ID), reason: 'url is not a string' }]);
    expect(pkg.fetched.sort()).toEqual(allFileNames().sort());
    expect((store.map.get(recordKey(ID)) as ModelRecord).complete).toBe(true);
    const model = await loadModelFolder(pkg.files);
    expect(model.format).toBe('package');
    // Reading a model whose record went bad afterwards: a named error that says what to do.
    store.map.set(recordKey(ID), { kind: 'glm-webgpu-model' });
    const err = await cachedModelFiles(ID, { env: { store } }).readText('config.json').catch((e: Error) => e);
    expect(err).toBeInstanceOf(MissingFileError);
    expect((err as Error).message).toMatch(/cache record of model .* is unreadable .*load the model from its URL again/);
  });
});

describe('deleting a model while it downloads', () => {
  for (const where of ['the same tab', 'another tab'] as const) {
    it(`from ${where}: the download stops with ModelDeletedError and the model is not written back`, async () => {
      const store = memoryStore();
      const locks = memoryLocks();
      const bus = memoryBus();
      const net = slowNet(5);
      const downloader = tab(store, locks, bus, net);
      const deleter = where === 'the same tab' ? downloader : tab(store, locks, bus);
      let deleting: Promise<{ entries: number }> | null = null;
      const load = loadModelPackage(BASE, {
        env: downloader,
        concurrency: 2,
        onProgress: (p) => {
          if (p.shardsDone >= 2 && !deleting) deleting = deleteCachedModel(ID, deleter);
        },
      });
      const err = await load.catch((e: Error) => e);
      expect(err).toBeInstanceOf(ModelDeletedError);
      expect((err as Error).message).toMatch(/deleted from the cache while it was loading/);
      expect(deleting).not.toBeNull();
      const freed = await deleting!;
      expect(freed.entries).toBeGreaterThanOrEqual(3); // the record and the shards stored before the delete
      expect(keysOf(store, ID)).toEqual([]);
      const requestsAtDelete = net.shardRequests();
      expect(requestsAtDelete).toBeLessThan(manifest.shards.length);
      await new Promise((r) => setTimeout(r, 100)); // nothing left running writes it back later
      expect(keysOf(store, ID)).toEqual([]);
      expect(await listCachedModels({ store })).toEqual([]);
      expect(net.shardRequests()).toBe(requestsAtDelete);
      // And a later load downloads it anew.
      const again = await loadModelPackage(BASE, { env: tab(store, locks, bus) });
      expect(again.fetched.sort()).toEqual(allFileNames().sort());
    });
  }
});

describe('two tabs loading the same model', () => {
  it('each shard is fetched once in all; the second tab waits, reports the first one’s progress, then reads the cache', async () => {
    const store = memoryStore();
    const locks = memoryLocks();
    const bus = memoryBus();
    const netA = slowNet(60); // slow enough that tab B polls the record while it waits
    const netB = slowNet(1);
    const progressB: DownloadProgress[] = [];
    const [a, b] = await Promise.all([
      loadModelPackage(BASE, { env: tab(store, locks, bus, netA) }),
      loadModelPackage(BASE, { env: tab(store, locks, bus, netB), onProgress: (p) => progressB.push(p) }),
    ]);
    expect(a.fetched.sort()).toEqual(allFileNames().sort());
    expect(b.fetched).toEqual([]);
    expect(b.fromCache.sort()).toEqual(allFileNames().sort());
    for (const s of manifest.shards) expect((netA.requests.get(s.file) ?? 0) + (netB.requests.get(s.file) ?? 0), s.file).toBe(1);
    // While waiting, B showed A's progress (read from the record), not a frozen bar.
    expect(progressB.some((p) => p.bytesDone > 0 && p.bytesDone < p.bytesTotal)).toBe(true);
  });

  it('a tab that gives up waiting (its signal aborts) stops at once with its own reason', async () => {
    const store = memoryStore();
    const locks = memoryLocks();
    const bus = memoryBus();
    const first = loadModelPackage(BASE, { env: tab(store, locks, bus, slowNet(20)) });
    const ctrl = new AbortController();
    const second = loadModelPackage(BASE, { env: tab(store, locks, bus), signal: ctrl.signal });
    setTimeout(() => ctrl.abort(new DOMException('user gave up', 'AbortError')), 30);
    const err = await second.catch((e: Error) => e);
    expect((err as Error).message).toBe('user gave up');
    await expect(first).resolves.toMatchObject({ id: ID });
  });
});

describe('moving the cache out of idb-keyval\'s shared database', () => {
  it('moves only the cache\'s keys, shards before records, and leaves the page\'s own keys alone', async () => {
    const legacy = memoryStore();
    const target = memoryStore();
    await loadModelPackage(BASE, { env: tab(legacy, memoryLocks(), memoryBus()) });
    legacy.map.set('app-setting', { theme: 'dark' });
    const order: string[] = [];
    const set = target.set;
    target.set = async (k, v) => (order.push(k), set(k, v));
    const moved = await migrateEntries(legacy, target, 'glm-webgpu:');
    expect(moved).toBe(allFileNames().length + 1);
    expect([...legacy.map.keys()]).toEqual(['app-setting']);
    expect(order.at(-1)).toBe(recordKey(ID));
    const pkg = await loadModelPackage(BASE, { env: tab(target, memoryLocks(), memoryBus(), slowNet()) });
    expect(pkg.fetched).toEqual([]);
  });
});

describe('strict Content-Security-Policy: WebAssembly compilation refused', () => {
  // Chromium's words when script-src lacks 'wasm-unsafe-eval'.
  const refusal = () =>
    new WebAssembly.CompileError(
      "WebAssembly.compile(): Refused to compile or instantiate WebAssembly module because 'unsafe-eval' is not an allowed source of script in the following Content Security Policy directive: \"script-src 'self'\".",
    );
  afterEach(() => vi.restoreAllMocks());

  it('the CPU fallback runs the plain TS kernels, with the same results, and says why', async () => {
    const wasm = await createFastMatmul({ threads: 1 });
    expect(wasm.backend).toBe('wasm-simd');
    const compile = vi.spyOn(WebAssembly, 'compile').mockRejectedValue(refusal());
    const fallback = await createFastMatmul({ threads: 1 });
    expect(compile).toHaveBeenCalled();
    expect(fallback.backend).toBe('ts');
    expect(fallback.description).toMatch(/^ts \(WebAssembly refused by the page's Content-Security-Policy; add 'wasm-unsafe-eval' to script-src/);
    // Asked for explicitly, the wasm path still fails loudly.
    await expect(createFastMatmul({ threads: 1, backend: 'wasm-simd' })).rejects.toBeInstanceOf(WebAssembly.CompileError);
    const rows = 5;
    const cols = 96;
    const w = quantizeQ4(Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37)), rows, cols);
    const x = Float32Array.from({ length: cols }, (_, i) => Math.cos(i * 0.11));
    const reference = matmulQuant(x, 1, w);
    expect(fallback.matmul(x, 1, w)).toEqual(reference);
    wasm.dispose();
  });

  it('the engine loads on the CPU and stats() names the TS kernels and the CSP as the reason', async () => {
    vi.spyOn(WebAssembly, 'compile').mockRejectedValue(refusal());
    const engine = new GlmEngine();
    await engine.load(writeTinyChatModel(join(tmp, 'tiny-chat')), { backend: 'cpu', quant: 'q4' });
    const stats = engine.stats();
    expect(stats.backend).toBe('cpu');
    expect(stats.cpuKernels).toMatch(/^ts \(WebAssembly refused by the page's Content-Security-Policy/);
    engine.unload();
    vi.restoreAllMocks();
    const normal = new GlmEngine();
    await normal.load(join(tmp, 'tiny-chat'), { backend: 'cpu', quant: 'q4' });
    expect(normal.stats().cpuKernels).toMatch(/^wasm-simd/);
    normal.unload();
  });
});
