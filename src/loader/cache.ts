// Browser model cache: a package (manifest.json + shards, src/formats/package.ts) downloaded once into
// IndexedDB and loaded from there afterwards.
//
//   key "glm-webgpu:<id>"          -> ModelRecord: the manifest and the files fully stored so far
//   key "glm-webgpu:<id>:<file>"   -> ArrayBuffer: one shard (or tokenizer file), checked before it is stored
//
// A file is listed in the record only after its entry is written, so an interrupted download resumes
// with the missing files only, and a record never claims a file it does not have. `complete` is true
// only when every file of the manifest is listed. Stored shards are hashed again when they are read
// (one shard in memory at a time); a corrupt one is dropped and fetched again.
import type { ByteSource, ModelFiles } from '../formats/byte-source';
import { checkReadRange, MissingFileError } from '../formats/byte-source';
import { MANIFEST_FILE, parseManifest, type PackageFile, type PackageManifest } from '../formats/package';
import { DownloadTimeoutError, InvalidArgumentError, ModelDeletedError } from '../errors';
import { DownloadError, QuotaExceededError, ShardHashMismatchError, formatBytes } from './errors';
import { abortReason, defaultFetchEnv, downloadFiles, fetchFile, NO_STORE, MODEL_ID_PATTERN, modelIdFromUrl, packageBaseUrl, type FetchEnv, type RetryOptions } from './fetch';
import { sha256Hex } from './sha256';
import type { RequestTimeouts } from './timeouts';
import { defaultCacheStore, namedStorageErrors, storageError, type KeyValueStore } from './store';
import { defaultBus, defaultLocks, modelLockName, type CacheBus, type LockManagerLike } from './coordination';

export const KEY_PREFIX = 'glm-webgpu';
export const DEFAULT_CONCURRENCY = 4;

export interface StorageManagerLike {
  estimate?(): Promise<{ quota?: number; usage?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

/** Everything the loader touches outside itself; tests replace any part. */
export interface LoaderEnv extends FetchEnv {
  store: KeyValueStore;
  storage: StorageManagerLike | null;
  now(): number;
  /** Per-model locks shared by the origin's tabs and workers (navigator.locks). */
  locks: LockManagerLike;
  /** Cache events across tabs and workers (BroadcastChannel). */
  bus: CacheBus;
}

export function defaultLoaderEnv(overrides: Partial<LoaderEnv> = {}): LoaderEnv {
  const storage = typeof navigator !== 'undefined' && navigator.storage ? navigator.storage : null;
  return {
    ...defaultFetchEnv(),
    storage,
    now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
    locks: defaultLocks(),
    bus: defaultBus(),
    ...overrides,
    // Whatever store is given, its failures reach callers as named errors (store.ts).
    store: namedStorageErrors(overrides.store ?? defaultCacheStore(KEY_PREFIX)),
  };
}

export interface DownloadProgress {
  /** Bytes present: already cached plus downloaded so far (partial files included). */
  bytesDone: number;
  bytesTotal: number;
  /** Download rate of this call, bytes per second (0 until something arrived). */
  rate: number;
  /** Seconds left at the current rate; null when unknown. */
  etaSeconds: number | null;
  shardsDone: number;
  shardsTotal: number;
  /** The file that just finished, when this event is about one. */
  file?: string;
}

/** A cached file found missing or corrupt when read, and fetched again. */
export interface RepairEvent {
  file: string;
  reason: string;
}

export interface LoadPackageOptions extends RetryOptions, RequestTimeouts {
  /** Cache id (letters, digits, ".", "_", "-"); default derived from the URL. */
  id?: string;
  onProgress?(progress: DownloadProgress): void;
  signal?: AbortSignal;
  /** Parallel downloads (default 4). */
  concurrency?: number;
  env?: Partial<LoaderEnv>;
  /** Called when a stored file is found missing or corrupt while the model is read, before it is fetched again. */
  onRepair?(event: RepairEvent): void;
  /** Called when the model's cache record is unreadable (corrupt, or written by something else); it is then replaced. */
  onSkipped?(skipped: SkippedRecord): void;
}

/** A cache record that is not a model record this version can read: skipped, never a TypeError. */
export interface SkippedRecord {
  key: string;
  reason: string;
}

export interface ModelRecord {
  kind: 'glm-webgpu-model';
  id: string;
  url: string;
  manifest: PackageManifest;
  /** Files whose entries are fully written and were checked against the manifest when stored. */
  stored: Record<string, { bytes: number; sha256: string }>;
  complete: boolean;
  /** Sum of the stored files' sizes. */
  bytes: number;
  updatedAt: number;
}

export interface CachedPackage {
  id: string;
  /** Base URL of the package (ends with "/"). */
  url: string;
  manifest: PackageManifest;
  /** The package as a model folder: pass it to loadModelFolder. Reads one shard at a time from IndexedDB. */
  files: ModelFiles;
  /** Result of navigator.storage.persist() (null when unavailable). */
  persisted: boolean | null;
  /** Files downloaded by this call, and files found in the cache. */
  fetched: string[];
  fromCache: string[];
  /** True when the manifest could not be fetched and the cached one was used. */
  offline: boolean;
}

export interface CachedModelInfo {
  id: string;
  url: string;
  bytes: number;
  /** Shards stored / in the manifest. */
  shards: number;
  shardsTotal: number;
  complete: boolean;
  updatedAt: number;
}

export const recordKey = (id: string) => `${KEY_PREFIX}:${id}`;
export const entryKey = (id: string, file: string) => `${KEY_PREFIX}:${id}:${file}`;
const isRecordKey = (key: string) => /^glm-webgpu:[^:]+$/.test(key);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * `value` as a ModelRecord of model `id`, or why it is not one. The database is shared with whatever
 * else runs on the origin and survives browser crashes, so a record is checked field by field before
 * anything reads it, the manifest with the same parser as a downloaded one.
 */
export function checkModelRecord(value: unknown, id: string): ModelRecord | string {
  if (!isObject(value)) return `not a record (${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`;
  if (value.kind !== 'glm-webgpu-model') return `kind is ${JSON.stringify(value.kind) ?? 'missing'}, not "glm-webgpu-model" (a foreign entry)`;
  if (value.id !== id) return `its id ${JSON.stringify(value.id)} does not match its key`;
  if (typeof value.url !== 'string') return 'url is not a string';
  if (!isObject(value.stored)) return 'stored is not an object';
  for (const [file, s] of Object.entries(value.stored)) {
    if (!isObject(s) || !isCount(s.bytes) || typeof s.sha256 !== 'string') return `stored["${file}"] is not {bytes, sha256}`;
  }
  if (typeof value.complete !== 'boolean') return 'complete is not a boolean';
  if (!isCount(value.bytes)) return 'bytes is not a byte count';
  if (typeof value.updatedAt !== 'number') return 'updatedAt is not a number';
  try {
    parseManifest(value.manifest, `cached ${MANIFEST_FILE} of "${id}"`);
  } catch (err) {
    return `its manifest is unreadable: ${(err as Error).message}`;
  }
  return value as unknown as ModelRecord;
}

/** The record of `id`: null when absent; a corrupt one is reported to `onSkipped` and read as absent. */
async function readRecord(store: KeyValueStore, id: string, onSkipped?: (s: SkippedRecord) => void): Promise<ModelRecord | null> {
  const value = await store.get(recordKey(id));
  if (value === undefined) return null;
  const checked = checkModelRecord(value, id);
  if (typeof checked === 'string') {
    onSkipped?.({ key: recordKey(id), reason: checked });
    return null;
  }
  return checked;
}

function allFiles(manifest: PackageManifest): PackageFile[] {
  return [...manifest.shards, ...manifest.files];
}

async function asBytes(value: unknown): Promise<Uint8Array<ArrayBuffer> | null> {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value instanceof Uint8Array) return value as Uint8Array<ArrayBuffer>;
  if (typeof Blob !== 'undefined' && value instanceof Blob) return new Uint8Array(await value.arrayBuffer());
  return null;
}

function isQuotaError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'QuotaExceededError' || /quota/i.test(err.message));
}

/** Serializes record writes (downloads finish concurrently). */
class RecordWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly record: ModelRecord,
    private readonly env: LoaderEnv,
  ) {}

  update(fn: (r: ModelRecord) => void): Promise<void> {
    const next = this.chain.then(async () => {
      fn(this.record);
      const files = allFiles(this.record.manifest);
      this.record.bytes = Object.values(this.record.stored).reduce((s, f) => s + f.bytes, 0);
      this.record.complete = files.every((f) => this.record.stored[f.file]?.sha256 === f.sha256);
      this.record.updatedAt = Date.now();
      await this.env.store.set(recordKey(this.record.id), this.record);
    });
    this.chain = next.catch(() => {});
    return next;
  }
}

async function fetchManifest(base: string, env: LoaderEnv, options: LoadPackageOptions): Promise<string> {
  const bytes = await fetchFile(`${base}${MANIFEST_FILE}`, null, env, { ...options, signal: options.signal }, { cache: 'no-cache' });
  return new TextDecoder().decode(bytes);
}

/** A network failure (as opposed to a bad manifest, a 404, an abort): the cached manifest may stand in. */
function isNetworkFailure(err: unknown): boolean {
  return err instanceof DownloadError || err instanceof DownloadTimeoutError;
}

/**
 * Makes a package available from IndexedDB, downloading only what is missing, and returns it as a
 * model folder. Errors: UnsupportedPackageVersionError (manifest), QuotaExceededError (before any
 * download), ShardHashMismatchError / TruncatedFileError / DownloadError (after retries),
 * the signal's AbortError. Whatever was fully downloaded before an error stays cached.
 */
export async function loadModelPackage(url: string, options: LoadPackageOptions = {}): Promise<CachedPackage> {
  const env = defaultLoaderEnv(options.env);
  const base = packageBaseUrl(url);
  const id = options.id ?? modelIdFromUrl(base);
  if (!MODEL_ID_PATTERN.test(id)) throw new InvalidArgumentError(`model id "${id}" must be letters, digits, ".", "_" or "-"`);

  // The load stops when the caller aborts, or when the model is deleted (in this tab or another).
  const ctrl = new AbortController();
  const onCallerAbort = () => ctrl.abort(abortReason(options.signal!));
  if (options.signal?.aborted) onCallerAbort();
  else options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  const unsubscribe = env.bus.subscribe((m) => {
    if (m.type === 'deleting' && m.id === id) {
      ctrl.abort(new ModelDeletedError(`model "${id}" was deleted from the cache while it was loading; the download stopped and nothing of it was kept. Load it again to download it anew.`));
    }
  });
  // One context at a time downloads a model: a second tab waits here, then finds the files stored.
  const stopWaiting = reportWhileWaiting(env, id, options.onProgress);
  try {
    return await env.locks.request(modelLockName(id), { signal: ctrl.signal }, async () => {
      stopWaiting();
      const pkg = await loadLocked(base, id, env, options, ctrl.signal);
      if (ctrl.signal.aborted) throw abortReason(ctrl.signal); // deleted as the last file landed
      return pkg;
    });
  } catch (err) {
    throw ctrl.signal.aborted ? abortReason(ctrl.signal) : err;
  } finally {
    stopWaiting();
    unsubscribe();
    options.signal?.removeEventListener('abort', onCallerAbort);
  }
}

/** While another context holds the model's lock: its progress, read from the record every half second. */
function reportWhileWaiting(env: LoaderEnv, id: string, onProgress: LoadPackageOptions['onProgress']): () => void {
  if (!onProgress) return () => {};
  let stopped = false;
  const timer = setInterval(() => {
    void readRecord(env.store, id)
      .then((r) => {
        if (stopped || !r) return;
        const files = allFiles(r.manifest);
        const shards = r.manifest.shards;
        onProgress({
          bytesDone: r.bytes,
          bytesTotal: files.reduce((s, f) => s + f.bytes, 0),
          rate: 0,
          etaSeconds: null,
          shardsDone: shards.filter((f) => r.stored[f.file]).length,
          shardsTotal: shards.length,
        });
      })
      .catch(() => {});
  }, 500);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** loadModelPackage with the model's lock held; `signal` aborts it (caller's abort or deletion). */
async function loadLocked(base: string, id: string, env: LoaderEnv, options: LoadPackageOptions, signal: AbortSignal): Promise<CachedPackage> {
  const { store } = env;
  const previous = await readRecord(store, id, options.onSkipped);
  let manifest: PackageManifest;
  let offline = false;
  try {
    manifest = parseManifest(await fetchManifest(base, env, { ...options, signal }), `${base}${MANIFEST_FILE}`);
  } catch (err) {
    if (!(isNetworkFailure(err) && previous?.complete)) throw err;
    manifest = parseManifest(previous.manifest, `cached ${MANIFEST_FILE} of "${id}"`);
    offline = true;
  }

  // What is already here: listed in the record with the manifest's hash, and its entry present.
  const files = allFiles(manifest);
  const keys = new Set(await store.keys());
  const stored: ModelRecord['stored'] = {};
  for (const f of files) {
    const s = previous?.stored[f.file];
    if (s && s.sha256 === f.sha256 && s.bytes === f.bytes && keys.has(entryKey(id, f.file))) stored[f.file] = s;
  }
  // Entries of files no longer wanted (an older version, an interrupted write) are dropped first.
  const prefix = `${KEY_PREFIX}:${id}:`;
  for (const key of keys) {
    if (key.startsWith(prefix) && !stored[key.slice(prefix.length)]) await store.del(key);
  }
  const missing = files.filter((f) => !stored[f.file]);
  const needed = missing.reduce((s, f) => s + f.bytes, 0);

  if (needed > 0 && env.storage?.estimate) {
    let estimate: { quota?: number; usage?: number };
    try {
      estimate = await env.storage.estimate();
    } catch (err) {
      throw storageError(`checking the free storage for model "${id}" (navigator.storage.estimate())`, err);
    }
    const { quota, usage } = estimate;
    if (quota !== undefined) {
      const available = Math.max(0, quota - (usage ?? 0));
      if (needed > available) {
        throw new QuotaExceededError(
          `model "${id}" needs ${formatBytes(needed)} (${needed} bytes) more storage but only ${formatBytes(available)} (${available} bytes) are available ` +
            `(quota ${formatBytes(quota)}, used ${formatBytes(usage ?? 0)}). Free space (delete cached models with deleteCachedModel, or browser data) and try again.`,
        );
      }
    }
  }

  let persisted: boolean | null = null;
  if (env.storage?.persist) {
    try {
      persisted = (await env.storage.persisted?.()) || (await env.storage.persist());
    } catch {
      persisted = null;
    }
  }

  const writer = new RecordWriter({ kind: 'glm-webgpu-model', id, url: base, manifest, stored, complete: false, bytes: 0, updatedAt: Date.now() }, env);
  await writer.update(() => {});

  const fetched: string[] = [];
  const shardNames = new Set(manifest.shards.map((s) => s.file));
  const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
  let bytesDone = totalBytes - needed;
  let received = 0;
  let shardsDone = manifest.shards.filter((s) => stored[s.file]).length;
  const t0 = env.now();
  let lastEmit = -Infinity;
  const emit = (file?: string, force = false) => {
    const now = env.now();
    if (file === undefined && !force && now - lastEmit < 100) return;
    lastEmit = now;
    const seconds = (now - t0) / 1000;
    const rate = seconds > 0 ? received / seconds : 0;
    options.onProgress?.({
      bytesDone,
      bytesTotal: totalBytes,
      rate,
      etaSeconds: rate > 0 ? (totalBytes - bytesDone) / rate : bytesDone === totalBytes ? 0 : null,
      shardsDone,
      shardsTotal: manifest.shards.length,
      ...(file !== undefined ? { file } : {}),
    });
  };
  emit(undefined, true);

  await downloadFiles(
    base,
    missing,
    env,
    {
      ...options,
      signal,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      onBytes: (n) => {
        received += n;
        bytesDone += n;
        emit();
      },
    },
    async (f, bytes, queue) => {
      try {
        await store.set(entryKey(id, f.file), bytes.buffer);
      } catch (err) {
        if (!isQuotaError(err)) throw err;
        const est = await env.storage?.estimate?.().catch(() => undefined);
        const available = est?.quota !== undefined ? Math.max(0, est.quota - (est.usage ?? 0)) : undefined;
        throw new QuotaExceededError(
          `storing ${f.file} of model "${id}" (${f.bytes} bytes) ran out of storage` +
            (available !== undefined ? `: ${available} bytes available` : '') +
            `; ${queue.reduce((sum, q) => sum + q.bytes, f.bytes)} bytes were still needed. Free space and try again (stored files are kept).`,
          { cause: err },
        );
      }
      await writer.update((r) => {
        r.stored[f.file] = { bytes: f.bytes, sha256: f.sha256 };
      });
      fetched.push(f.file);
      if (shardNames.has(f.file)) shardsDone++;
      emit(f.file);
    },
  );

  const fromCache = files.filter((f) => !fetched.includes(f.file)).map((f) => f.file);
  return {
    id,
    url: base,
    manifest,
    files: cachedModelFiles(id, { env: options.env, ...options, url: base, manifest }),
    persisted,
    fetched,
    fromCache,
    offline,
  };
}

/**
 * The cached package `id` as a model folder. Each shard is read from IndexedDB when first read,
 * hashed, and released on close (the package reader closes a shard before opening the next). A shard
 * that is missing or whose hash no longer matches is fetched again from the package URL.
 */
export function cachedModelFiles(
  id: string,
  options: RetryOptions & RequestTimeouts & {
    env?: Partial<LoaderEnv>; url?: string; manifest?: PackageManifest; signal?: AbortSignal; onRepair?(event: RepairEvent): void;
  } = {},
): ModelFiles {
  const env = defaultLoaderEnv(options.env);
  let info: Promise<{ manifest: PackageManifest; url: string }> | null = null;
  const meta = () =>
    (info ??= (async () => {
      if (options.manifest && options.url) return { manifest: options.manifest, url: options.url };
      const value = await env.store.get(recordKey(id));
      if (value === undefined) throw new MissingFileError(`model "${id}" is not in the cache; download it with loadModelPackage first`);
      const record = checkModelRecord(value, id);
      if (typeof record === 'string') {
        throw new MissingFileError(`the cache record of model "${id}" is unreadable (${record}); load the model from its URL again (loadModelPackage replaces the record)`);
      }
      return { manifest: parseManifest(record.manifest, `cached ${MANIFEST_FILE} of "${id}"`), url: record.url };
    })());
  const location = `indexeddb:${KEY_PREFIX}:${id}`;
  const entryOf = async (name: string): Promise<PackageFile> => {
    const { manifest } = await meta();
    const f = allFiles(manifest).find((x) => x.file === name);
    if (!f) throw new MissingFileError(`missing file "${name}" in cached model "${id}"`);
    return f;
  };

  const refetch = async (f: PackageFile, why: string): Promise<Uint8Array<ArrayBuffer>> => {
    const { url } = await meta();
    options.onRepair?.({ file: f.file, reason: why });
    // Under the model's lock, so that a deletion (which takes the lock) never races this write-back.
    return env.locks.request(modelLockName(id), {}, async () => {
      const record = await readRecord(env.store, id);
      if (!record) throw new ModelDeletedError(`model "${id}" was deleted from the cache while it was being read; load it again from its URL`);
      const writer = new RecordWriter(record, env);
      // Unlist first: if the refetch fails the record says the file is missing, which is the truth.
      await writer.update((r) => {
        delete r.stored[f.file];
      });
      await env.store.del(entryKey(id, f.file));
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await fetchFile(`${url}${f.file}`, f, env, { ...options }, NO_STORE);
      } catch (err) {
        if (err instanceof ShardHashMismatchError) throw err;
        throw new DownloadError(`cached ${f.file} of model "${id}" ${why}, and fetching it again failed: ${(err as Error).message}`, { cause: err });
      }
      await env.store.set(entryKey(id, f.file), bytes.buffer);
      await writer.update((r) => {
        r.stored[f.file] = { bytes: f.bytes, sha256: f.sha256 };
      });
      return bytes;
    });
  };

  const load = async (f: PackageFile): Promise<Uint8Array<ArrayBuffer>> => {
    const value = await env.store.get(entryKey(id, f.file));
    const bytes = await asBytes(value);
    if (!bytes) return refetch(f, 'is missing from IndexedDB');
    if (bytes.byteLength !== f.bytes) return refetch(f, `has ${bytes.byteLength} bytes instead of ${f.bytes}`);
    if ((await sha256Hex(bytes)) !== f.sha256) return refetch(f, 'no longer matches its SHA-256 (corrupted in storage)');
    return bytes;
  };

  return {
    location,
    // load() hashes every shard it reads from IndexedDB (and refetches a corrupt one), so the package reader need not.
    shardsVerified: true,
    async exists(name) {
      if (name === MANIFEST_FILE) return true;
      const { manifest } = await meta();
      return allFiles(manifest).some((f) => f.file === name);
    },
    async readText(name) {
      if (name === MANIFEST_FILE) return JSON.stringify((await meta()).manifest);
      return new TextDecoder().decode(await load(await entryOf(name)));
    },
    async open(name): Promise<ByteSource> {
      if (name === MANIFEST_FILE) {
        const bytes = new TextEncoder().encode(JSON.stringify((await meta()).manifest));
        return { name: `${location}/${name}`, size: bytes.byteLength, read: async (o, n) => (checkReadRange(name, bytes.byteLength, o, n), bytes.slice(o, o + n)) };
      }
      const f = await entryOf(name);
      let data: Promise<Uint8Array<ArrayBuffer>> | null = null;
      const sourceName = `${location}/${name}`;
      return {
        name: sourceName,
        size: f.bytes,
        async read(offset, length) {
          checkReadRange(sourceName, f.bytes, offset, length);
          const bytes = await (data ??= load(f));
          return bytes.slice(offset, offset + length);
        },
        async close() {
          data = null;
        },
      };
    },
  };
}

/** Hands the shards of a cached package to `consumer` one at a time, each checked (and re-fetched if corrupt). */
export async function readCachedShards(
  pkg: Pick<CachedPackage, 'files' | 'manifest'>,
  consumer: (shard: { file: string; index: number; bytes: Uint8Array<ArrayBuffer> }) => void | Promise<void>,
): Promise<void> {
  for (const [index, s] of pkg.manifest.shards.entries()) {
    const source = await pkg.files.open(s.file);
    try {
      await consumer({ file: s.file, index, bytes: await source.read(0, s.bytes) });
    } finally {
      await source.close?.();
    }
  }
}

/** The cache record of model `id`, checked (null when absent or unreadable). */
export async function cachedModelRecord(id: string, env: Partial<LoaderEnv> = {}): Promise<ModelRecord | null> {
  return readRecord(defaultLoaderEnv(env).store, id);
}

/**
 * The models in the cache. Records that cannot be read (corrupt, or not ours) are skipped and passed
 * to `options.onSkipped`, so one bad entry never hides the others or throws.
 */
export async function listCachedModels(env: Partial<LoaderEnv> = {}, options: { onSkipped?(skipped: SkippedRecord): void } = {}): Promise<CachedModelInfo[]> {
  const { store } = defaultLoaderEnv(env);
  const out: CachedModelInfo[] = [];
  for (const key of await store.keys()) {
    if (!isRecordKey(key)) continue;
    const r = await readRecord(store, key.slice(KEY_PREFIX.length + 1), options.onSkipped);
    if (!r) continue;
    const shards = r.manifest.shards;
    out.push({
      id: r.id,
      url: r.url,
      bytes: r.bytes,
      shards: shards.filter((s) => r.stored[s.file]).length,
      shardsTotal: shards.length,
      complete: r.complete,
      updatedAt: r.updatedAt,
    });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Removes a model's record and every entry under its id; returns how many entries and bytes were freed.
 * A download of the model in progress (in any tab or worker) is told to stop first, and the entries go
 * only once it has (the model's lock), so it cannot write the model back.
 */
export async function deleteCachedModel(id: string, env: Partial<LoaderEnv> = {}): Promise<{ entries: number; bytes: number }> {
  const full = defaultLoaderEnv(env);
  const { store } = full;
  full.bus.post({ type: 'deleting', id });
  return full.locks.request(modelLockName(id), {}, async () => {
    const raw = await store.get(recordKey(id));
    const record = raw === undefined ? null : checkModelRecord(raw, id);
    // The record goes first: a model half deleted is then simply absent, and its leftover entries are
    // dropped by the next loadModelPackage of the same id.
    if (raw !== undefined) await store.del(recordKey(id));
    const prefix = `${KEY_PREFIX}:${id}:`;
    let entries = raw !== undefined ? 1 : 0;
    for (const key of await store.keys()) {
      if (!key.startsWith(prefix)) continue;
      await store.del(key);
      entries++;
    }
    return { entries, bytes: record && typeof record !== 'string' ? record.bytes : 0 };
  });
}
