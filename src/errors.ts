// Every error the engine throws on purpose has a stable `name` that callers can branch on.
// Only name, message and stack survive the worker boundary (comlink serialises Error that way),
// so never put information that a caller needs anywhere else than in those three.

export class GlmError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Subclasses set `name` as a class field; this default only shows for a bare GlmError.
    this.name = 'GlmError';
  }
}

/** The runtime has no WebGPU at all (no navigator.gpu, or the Node `webgpu` package is missing). */
export class WebGpuUnavailableError extends GlmError {
  override name = 'WebGpuUnavailableError';
}

/** navigator.gpu exists but no adapter was returned (blocklisted GPU, no Vulkan driver, ...). */
export class NoAdapterError extends GlmError {
  override name = 'NoAdapterError';
}

/** The GPU device was lost (driver reset, tab in background too long, out of memory). */
export class DeviceLostError extends GlmError {
  override name = 'DeviceLostError';
}

/** A GPU allocation was refused (out-of-memory error scope fired). */
export class GpuOutOfMemoryError extends GlmError {
  override name = 'GpuOutOfMemoryError';
}

/** A WGSL module failed to compile or a pipeline failed validation. */
export class ShaderError extends GlmError {
  override name = 'ShaderError';
}

/** Bad arguments from a caller (wrong shapes, bad options). */
export class InvalidArgumentError extends GlmError {
  override name = 'InvalidArgumentError';
}

/** True when `err` looks like a GlmError subclass with the given name, also after crossing a worker boundary. */
export function isGlmError(err: unknown, name?: string): err is Error {
  if (!(err instanceof Error)) return false;
  return name === undefined ? err.name.endsWith('Error') : err.name === name;
}

// ---- issue #14 (Hub models, model catalogue) ----

/** A catalogue model whose repo ships weights the browser cannot read (PyTorch pickles): the message says how to convert it once. */
export class ModelNeedsConversionError extends GlmError {
  override name = 'ModelNeedsConversionError';
}

// ---- Storage and network faults, strict CSP (issue #18) ----

/**
 * A request stopped because the server sent nothing for the stall timeout, or did not finish within its
 * deadline. Raise `stallTimeoutMs` / `deadlineMs` for very slow links.
 */
export class DownloadTimeoutError extends GlmError {
  override name = 'DownloadTimeoutError';
}

/** IndexedDB (or navigator.storage) failed: an aborted transaction, an UnknownError, a blocked database. `cause` holds the original. */
export class CacheStorageError extends GlmError {
  override name = 'CacheStorageError';
}

/** The model was deleted from the cache while it was downloading; the download stopped and nothing was kept. */
export class ModelDeletedError extends GlmError {
  override name = 'ModelDeletedError';
}

/** The browser refused to start the engine's Web Worker (usually the page's Content-Security-Policy `worker-src`). */
export class WorkerBlockedError extends GlmError {
  override name = 'WorkerBlockedError';
}

// ---- Chat API (issue #19) ----

/** A request field the engine does not implement (or an unknown one): named, never silently ignored. */
export class UnsupportedFieldError extends GlmError {
  override name = 'UnsupportedFieldError';
}

/** A JSON schema (response_format or a tool's parameters) uses a keyword constrained decoding does not cover. */
export class UnsupportedSchemaError extends GlmError {
  override name = 'UnsupportedSchemaError';
}

/** An AbortSignal given to load() or create() was aborted before the work could finish. */
export class AbortError extends GlmError {
  override name = 'AbortError';
}

// --- issue #15 (installable package) ---

/** The engine's Web Worker could not start (its script missing or failing to load) or stopped answering. */
export class WorkerStartError extends GlmError {
  override name = 'WorkerStartError';
}

// ---- issue #18: hostile files ----

/** A config.json or GGUF metadata value outside the range any GLM model uses (the message names the field, value and limit). */
export class ConfigLimitError extends GlmError {
  override name = 'ConfigLimitError';
}

/** A package shard whose SHA-256 differs from its manifest's, found while loading (a local folder, a URL read by ranges). */
export class ShardIntegrityError extends GlmError {
  override name = 'ShardIntegrityError';
}

// --- issue #16 (a new user's first ten minutes): why a model URL could not be fetched ---

/** The host answered, but without Access-Control-Allow-Origin for this page: the browser hid the answer. */
export class CorsBlockedError extends GlmError {
  override name = 'CorsBlockedError';
}

/** The browser is offline (or the host cannot be reached at all) and the model is not cached. */
export class OfflineError extends GlmError {
  override name = 'OfflineError';
}

// --- issue #21 (GLM-4V, model side: vision tower, image rows in the sequence) ---

/** A GLM-4V config.json whose vision_config (or boi/eoi token ids) is missing, malformed or inconsistent. */
export class VisionConfigError extends GlmError {
  override name = 'VisionConfigError';
}

/** A vision-tower tensor of a GLM-4V checkpoint whose shape does not match its vision_config. */
export class VisionWeightError extends GlmError {
  override name = 'VisionWeightError';
}

/** Images that do not fit the prompt or the model: wrong pixel count, or ids without the boi/placeholder/eoi layout. */
export class ImageInputError extends GlmError {
  override name = 'ImageInputError';
}

/** Images were given to a model that has no vision tower (only GLM-4V models take images). */
export class NoVisionTowerError extends GlmError {
  override name = 'NoVisionTowerError';
}

// --- issue #21 (GLM-4V, images in messages: content parts, image decoding and preprocessing) ---

/** An image_url a message gives is not a data:, blob: or http(s) URL, is malformed, or could not be fetched. */
export class ImageUrlError extends GlmError {
  override name = 'ImageUrlError';
}

/** An image whose type (media type or file signature) this engine cannot decode: the message lists the ones it can. */
export class UnsupportedImageTypeError extends GlmError {
  override name = 'UnsupportedImageTypeError';
}

/** An image over the byte or pixel limit (the message gives both numbers): downscale or recompress it. */
export class ImageTooLargeError extends GlmError {
  override name = 'ImageTooLargeError';
}

/** The image's bytes are not a valid image of the type they claim (truncated or corrupt). */
export class ImageDecodeError extends GlmError {
  override name = 'ImageDecodeError';
}

/** The conversation has more images than the model takes (GLM-4V-9B: one per conversation). */
export class TooManyImagesError extends GlmError {
  override name = 'TooManyImagesError';
}
