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

// --- issue #16 (a new user's first ten minutes): why a model URL could not be fetched ---

/** The host answered, but without Access-Control-Allow-Origin for this page: the browser hid the answer. */
export class CorsBlockedError extends GlmError {
  override name = 'CorsBlockedError';
}

/** The browser is offline (or the host cannot be reached at all) and the model is not cached. */
export class OfflineError extends GlmError {
  override name = 'OfflineError';
}
