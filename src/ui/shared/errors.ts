// Errors as the pages show them. Errors cross the worker boundary with only `name` and `message`, so
// the page branches on err.name (the stable names of src/errors.ts and src/loader/errors.ts).
export type ErrorAction = 'use-cpu' | 'reload' | 'manage-storage' | 'new-chat' | null;

export interface ErrorView {
  name: string;
  title: string;
  message: string;
  /** What the user can do about it; the pages offer it as a button. */
  action: ErrorAction;
}

const VIEWS: Record<string, { title: string; action: ErrorAction }> = {
  WebGpuUnavailableError: { title: 'WebGPU is not available in this browser', action: 'use-cpu' },
  NoAdapterError: { title: 'WebGPU found no usable GPU adapter', action: 'use-cpu' },
  DeviceLostError: { title: 'The GPU device was lost', action: 'reload' },
  GpuOutOfMemoryError: { title: 'The GPU ran out of memory', action: 'use-cpu' },
  GpuFeatureUnavailableError: { title: 'This GPU lacks a feature the model needs', action: 'use-cpu' },
  QuotaExceededError: { title: 'Not enough storage for the model', action: 'manage-storage' },
  DownloadError: { title: 'The download failed', action: null },
  NetworkError: { title: 'The network failed', action: null },
  ShardHashMismatchError: { title: 'A downloaded file is corrupt', action: null },
  TruncatedFileError: { title: 'A downloaded file is incomplete', action: null },
  MissingFileError: { title: 'Model not found', action: null },
  CorsBlockedError: { title: 'The model’s host does not allow this page (CORS)', action: null },
  OfflineError: { title: 'The model could not be reached', action: null },
  UnsupportedPackageVersionError: { title: 'This model package needs a newer glm-webgpu', action: null },
  PackageFormatError: { title: 'The model package is malformed', action: null },
  PlanInfeasibleError: { title: 'The model does not fit this browser', action: null },
  ContextOverflowError: { title: 'The conversation is longer than the context', action: 'new-chat' },
  ModelNotLoadedError: { title: 'No model is loaded', action: null },
  GenerationInProgressError: { title: 'A reply is still being generated', action: null },
  InvalidArgumentError: { title: 'Invalid setting', action: null },
  ShaderError: { title: 'A GPU kernel failed to compile', action: 'use-cpu' },
  AbortError: { title: 'Cancelled', action: null },
  // issue #18: storage and network faults, strict CSP
  DownloadTimeoutError: { title: 'The download stalled', action: null },
  CacheStorageError: { title: 'The browser’s storage failed', action: 'manage-storage' },
  ModelDeletedError: { title: 'The model was deleted while it downloaded', action: null },
  WorkerBlockedError: { title: 'The page’s security policy blocks the engine’s worker', action: null },
};

export function describeError(err: unknown): ErrorView {
  const e = err instanceof Error ? err : new Error(String(err));
  const name = e.name || 'Error';
  const view = VIEWS[name];
  return { name, title: view?.title ?? name, message: e.message, action: view?.action ?? null };
}

/** {name, message} for events and logs (what survives a worker boundary). */
export function errorDetail(err: unknown): { name: string; message: string } {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name || 'Error', message: e.message };
}
