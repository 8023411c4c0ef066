// Browser-side model loading: fetch with progress -> IndexedDB cache -> a model folder for loadModelFolder.
// (The Node folder cache is src/loader/node-cache.ts, kept out of here so pages never bundle node:fs.)
export {
  loadModelPackage,
  cachedModelFiles,
  readCachedShards,
  listCachedModels,
  deleteCachedModel,
  cachedModelRecord,
  checkModelRecord,
  defaultLoaderEnv,
  recordKey,
  entryKey,
  KEY_PREFIX,
  DEFAULT_CONCURRENCY,
  type CachedPackage,
  type CachedModelInfo,
  type DownloadProgress,
  type LoadPackageOptions,
  type LoaderEnv,
  type ModelRecord,
  type StorageManagerLike,
  type RepairEvent,
  type SkippedRecord,
} from './cache';
export { idbStore, memoryStore, namedStorageErrors, defaultCacheStore, CACHE_DB_NAME, LEGACY_DB_NAME, type KeyValueStore } from './store';
export { memoryLocks, memoryBus, type LockManagerLike, type CacheBus } from './coordination';
export { DEFAULT_STALL_TIMEOUT_MS, DEFAULT_DEADLINE_MS, type RequestTimeouts } from './timeouts';
export { fetchFile, packageBaseUrl, modelIdFromUrl, type FetchEnv, type RetryOptions } from './fetch';
export { DownloadError, QuotaExceededError, ShardHashMismatchError, MissingFileError, TruncatedFileError, UnsupportedPackageVersionError, PackageFormatError } from './errors';
export { sha256Hex } from './sha256';
