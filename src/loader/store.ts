// The key-value store the browser cache writes to. In the browser: IndexedDB through idb-keyval (its
// default database, so pages and tests can inspect entries with idb-keyval's own get/set). In unit
// tests: a Map. Values are ArrayBuffers (shards, tokenizer files) and plain records.
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';

export interface KeyValueStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** IndexedDB via idb-keyval; without arguments its default database ("keyval-store"/"keyval"). */
export function idbStore(dbName?: string, storeName?: string): KeyValueStore {
  const custom: UseStore | undefined = dbName ? createStore(dbName, storeName ?? 'keyval') : undefined;
  return {
    get: (key) => get(key, custom),
    set: (key, value) => set(key, value, custom),
    del: (key) => del(key, custom),
    keys: async () => (await keys(custom)).filter((k): k is string => typeof k === 'string'),
  };
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
