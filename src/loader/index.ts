// Browser-side model loading: fetch with progress -> IndexedDB cache -> a model folder for loadModelFolder.
// (The Node folder cache is src/loader/node-cache.ts, kept out of here so pages never bundle node:fs.)
export {
  loadModelPackage,
  cachedModelFiles,
  readCachedShards,
  listCachedModels,
  deleteCachedModel,
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
} from './cache';
export { idbStore, memoryStore, type KeyValueStore } from './store';
export { fetchFile, packageBaseUrl, modelIdFromUrl, type FetchEnv, type RetryOptions } from './fetch';
export { DownloadError, QuotaExceededError, ShardHashMismatchError, MissingFileError, TruncatedFileError, UnsupportedPackageVersionError, PackageFormatError } from './errors';
export { sha256Hex } from './sha256';
