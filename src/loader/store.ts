// The key-value store the browser cache writes to. In the browser: IndexedDB through idb-keyval, in a
// database of our own ("glm-webgpu-cache", object store "entries"), so that the page's other uses of
// idb-keyval (its shared default database) neither see nor break our records. In unit tests: a Map.
// Values are ArrayBuffers (shards, tokenizer files) and plain records.
//
// Every store the loader uses goes through namedStorageErrors(): IndexedDB fails with bare
// DOMExceptions (AbortError when a transaction is aborted, UnknownError when the backing files are
// damaged, InvalidStateError when the connection closed), and an AbortError that escapes would read as
// "the user cancelled". They become CacheStorageError (or QuotaExceededError) with the original as cause.
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';
import { CacheStorageError, GlmError } from '../errors';
import { QuotaExceededError } from './errors';
import { defaultLocks, MIGRATION_LOCK } from './coordination';

export interface KeyValueStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** The cache's own IndexedDB database and object store. */
export const CACHE_DB_NAME = 'glm-webgpu-cache';
export const CACHE_STORE_NAME = 'entries';
/** Where versions before issue #18 kept the cache: idb-keyval's shared default database. */
export const LEGACY_DB_NAME = 'keyval-store';
export const LEGACY_STORE_NAME = 'keyval';

/** IndexedDB via idb-keyval, in the cache's own database unless told otherwise. */
export function idbStore(dbName = CACHE_DB_NAME, storeName = CACHE_STORE_NAME): KeyValueStore {
  const custom: UseStore = createStore(dbName, storeName);
  return {
    get: (key) => get(key, custom),
    set: (key, value) => set(key, value, custom),
    del: (key) => del(key, custom),
    keys: async () => (await keys(custom)).filter((k): k is string => typeof k === 'string'),
  };
}

const NAMED = Symbol('namedStorageErrors');

function describeCause(err: unknown): string {
  if (err instanceof Error || (typeof DOMException !== 'undefined' && err instanceof DOMException)) return `${(err as Error).name}: ${(err as Error).message}`;
  return err === null || err === undefined ? 'no reason given (the transaction was aborted)' : String(err);
}

/** One storage failure as a named error; GlmErrors (already named) pass through. */
export function storageError(what: string, err: unknown): Error {
  if (err instanceof GlmError) return err;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'QuotaExceededError') {
    return new QuotaExceededError(`${what}: the browser's storage quota is exhausted (${describeCause(err)}). Free space (delete cached models, or this site's data) and try again.`, { cause: err });
  }
  return new CacheStorageError(
    `${what} failed: ${describeCause(err)}. The browser's storage for this site did not work (private browsing, a full disk, or a damaged profile database); ` +
      `reload the page and try again, or clear this site's data in the browser settings and download the model again.`,
    { cause: err },
  );
}

/** `store` with every failure turned into a named error (see the top of this file). Idempotent. */
export function namedStorageErrors(store: KeyValueStore): KeyValueStore {
  if ((store as { [NAMED]?: boolean })[NAMED]) return store;
  const guard = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      throw storageError(what, err);
    }
  };
  return {
    [NAMED]: true,
    get: (key) => guard(`reading "${key}" from the model cache (IndexedDB)`, () => store.get(key)),
    set: (key, value) => guard(`writing "${key}" to the model cache (IndexedDB)`, () => store.set(key, value)),
    del: (key) => guard(`deleting "${key}" from the model cache (IndexedDB)`, () => store.del(key)),
    keys: () => guard('listing the model cache (IndexedDB)', () => store.keys()),
  } as KeyValueStore;
}

/**
 * Moves the cache's entries (keys starting with `prefix`) from the old shared database into the new
 * one, one entry at a time (a shard is in memory once), files before records so that a record never
 * names an entry not yet moved. Other keys of the old database (the page's own) are left alone.
 */
export async function migrateEntries(from: KeyValueStore, to: KeyValueStore, prefix: string): Promise<number> {
  const ours = (await from.keys()).filter((k) => k.startsWith(prefix));
  // Records are "prefix<id>" (one colon after the prefix), files "prefix<id>:<file>".
  const isRecord = (k: string) => !k.slice(prefix.length).includes(':');
  const ordered = [...ours.filter((k) => !isRecord(k)), ...ours.filter(isRecord)];
  for (const key of ordered) {
    const value = await from.get(key);
    if (value !== undefined && (await to.get(key)) === undefined) await to.set(key, value);
    await from.del(key);
  }
  return ordered.length;
}

let cacheStore: KeyValueStore | null = null;

/**
 * The browser cache's store: its own IndexedDB database, errors named, and, before its first use in
 * this context, the entries of older versions moved out of idb-keyval's default database (once per
 * origin, under a Web Lock so two tabs do not move the same entries). A failed move is a clean start:
 * the old entries stay where they were and the models download again.
 */
export function defaultCacheStore(prefix: string): KeyValueStore {
  if (cacheStore) return cacheStore;
  const store = namedStorageErrors(idbStore());
  let ready: Promise<void> | null = null;
  const migrated = () => (ready ??= migrateLegacyDatabase(store, prefix));
  cacheStore = {
    get: async (key) => (await migrated(), store.get(key)),
    set: async (key, value) => (await migrated(), store.set(key, value)),
    del: async (key) => (await migrated(), store.del(key)),
    keys: async () => (await migrated(), store.keys()),
  };
  return cacheStore;
}

async function migrateLegacyDatabase(store: KeyValueStore, prefix: string): Promise<void> {
  try {
    if (typeof indexedDB === 'undefined') return;
    // Opening a database that does not exist creates it: look first where the browser can tell.
    if (typeof indexedDB.databases === 'function') {
      const names = (await indexedDB.databases()).map((d) => d.name);
      if (!names.includes(LEGACY_DB_NAME)) return;
    }
    const legacy = idbStore(LEGACY_DB_NAME, LEGACY_STORE_NAME);
    const move = () => migrateEntries(legacy, store, prefix);
    const moved = await (defaultLocks().request(MIGRATION_LOCK, {}, move) as Promise<number>);
    if (moved > 0) console.info(`glm-webgpu: moved ${moved} cache entries from IndexedDB "${LEGACY_DB_NAME}" to "${CACHE_DB_NAME}"`);
  } catch (err) {
    console.warn(`glm-webgpu: could not move the old model cache out of IndexedDB "${LEGACY_DB_NAME}" (${describeCause(err)}); models download again.`);
  }
}

function clone(value: unknown): unknown {
  // Mimics IndexedDB's structured clone for the values the cache stores: callers never share buffers with the store.
  if (value instanceof ArrayBuffer) return value.slice(0);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
  return structuredClone(value);
}

/** A Map-backed store for tests (and for runtimes without IndexedDB). `map` is exposed for inspection. */
export function memoryStore(): KeyValueStore & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>();
  return {
    map,
    async get<T>(key: string) {
      return (map.has(key) ? clone(map.get(key)) : undefined) as T | undefined;
    },
    async set(key, value) {
      map.set(key, clone(value));
    },
    async del(key) {
      map.delete(key);
    },
    async keys() {
      return [...map.keys()];
    },
  };
}
