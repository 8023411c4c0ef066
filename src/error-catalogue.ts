// The error catalogue (issue #15): every error class the library throws on purpose, exported from the
// public entry, and GLM_ERROR_NAMES, the one documented list of their `name`s. A page branches on
// `err.name` (names survive the worker boundary; classes do not). tests/unit/error-catalogue.test.ts
// keeps this list, the classes in src/ and the exports of src/index.ts in step.
export { WeightShapeError } from './model/weights';
export { InvalidPromptError } from './model/positions';
export { UnsupportedPackageVersionError, PackageFormatError } from './formats/package';
export { TruncatedFileError, MissingFileError } from './formats/byte-source';
export { NetworkError } from './formats/http-files';
export { SafetensorsFormatError, TensorNotFoundError, UnsupportedDTypeError } from './formats/safetensors';
export { GgufFormatError, UnsupportedGgufVersionError, UnsupportedGgufTypeError } from './formats/gguf';
export {
  TokenizerError, UnsupportedTokenizerError, ChatTemplateError, TokenizerLimitError, TokenizerModelMismatchError, ChatTemplateLimitError,
} from './tokenizer/errors';
export { KnowledgeBaseFormatError } from './knowledge/wordnet';
export { KnowledgeConfigError } from './knowledge/index';
export { MatmulThreadError } from './cpu/threads';
export { CpuOutOfMemoryError, WasmSimdUnavailableError } from './cpu/fast-matmul';
export { GpuFeatureUnavailableError } from './gpu/ops';
export { QuantFormatError } from './quant/types';
export { DownloadError } from './loader/errors';

/**
 * Every error name the engine, the loader and the CLI use, with what it means. All are subclasses of
 * `GlmError` and exported by these names, except the two CLI-only ones (`UsageError`,
 * `PackageExistsError`), which live with the Node command line and only reach you as its exit message.
 */
export const GLM_ERROR_NAMES = [
  // Platform and GPU
  'WebGpuUnavailableError', // no navigator.gpu (or, under Node, the optional `webgpu` package is missing)
  'NoAdapterError', // WebGPU exists but gave no adapter
  'DeviceLostError', // the GPU device was lost
  'GpuOutOfMemoryError', // a GPU allocation was refused
  'GpuFeatureUnavailableError', // an op needs an adapter feature (e.g. shader-f16) that is missing
  'ShaderError', // a WGSL module or pipeline failed to compile
  'WorkerStartError', // the engine worker could not start or stopped answering
  'WorkerBlockedError', // the browser refused to start the engine worker (the page's CSP worker-src): the message names the directive
  'MatmulThreadError', // a CPU matmul worker thread failed or could not start
  'CpuOutOfMemoryError', // a wasm memory of the CPU fallback could not grow, or one weight row is too large for it
  'WasmSimdUnavailableError', // the WebAssembly SIMD CPU kernels were asked for where SIMD is missing
  // Models, formats and downloads
  'UnsupportedModelError', // config.json names a model this engine does not run
  'ConfigError', // config.json is inconsistent
  'WeightShapeError', // a tensor does not have the shape its config implies
  'MissingFileError', // a file of the model folder is missing
  'TruncatedFileError', // a file is shorter than its header says
  'NetworkError', // an HTTP read of a model file failed
  'CorsBlockedError', // the host answered without Access-Control-Allow-Origin for this page
  'OfflineError', // the browser is offline (or the host unreachable) and the model is not cached
  'DownloadError', // the network failed on every retry, or the server answered an unexpected status
  'DownloadTimeoutError', // a request sent nothing for the stall timeout, or missed its deadline
  'CacheStorageError', // IndexedDB or navigator.storage failed (the DOMException is the cause)
  'ModelDeletedError', // the model was deleted from the cache while it downloaded
  'ModelNeedsConversionError', // a Hub repo ships weights a browser cannot read (PyTorch pickles): the message says how to convert
  'ShardHashMismatchError', // a downloaded shard does not match its sha256
  'ShardIntegrityError', // a package shard read while loading (a local folder, ranges) does not match its manifest's sha256
  'ConfigLimitError', // a config.json or GGUF metadata value outside the range any GLM model uses
  'QuotaExceededError', // the browser's storage quota is too small for the model
  'UnsupportedPackageVersionError', // the package manifest is newer than this engine
  'PackageFormatError', // the package manifest or a shard is malformed
  'SafetensorsFormatError', // a .safetensors header is malformed
  'TensorNotFoundError', // a tensor the model needs is not in the checkpoint
  'UnsupportedDTypeError', // a tensor type this engine cannot read
  'GgufFormatError', // a .gguf file is malformed
  'UnsupportedGgufVersionError', // a GGUF version this engine cannot read
  'UnsupportedGgufTypeError', // a GGUF tensor type this engine cannot read (e.g. Q4_K)
  'QuantFormatError', // quantized data whose lengths or shape do not match
  'TokenizerError', // the tokenizer files are malformed
  'UnsupportedTokenizerError', // no tokenizer this engine can read in the model folder
  'ChatTemplateError', // the chat template could not render the messages
  'TokenizerLimitError', // a tokenizer file beyond the engine's bounds (ids, vocabulary size, regex, piece length)
  'TokenizerModelMismatchError', // the tokenizer has ids at or above the model's vocabulary
  'ChatTemplateLimitError', // the chat template exceeded its step, time or size budget
  'KnowledgeConfigError', // a package's knowledge.json is malformed or names an unknown kind
  'KnowledgeBaseFormatError', // the knowledge-base file is not one this engine reads
  // Running
  'PlanInfeasibleError', // the model does not fit the GPU and CPU budgets
  'ModelNotLoadedError', // a call needs a loaded model
  'GenerationInProgressError', // a call that must wait for the running generation
  'ContextOverflowError', // the conversation no longer fits the context
  'InvalidPromptError', // a forward pass was asked to run no new tokens
  'InvalidArgumentError', // a bad argument or option
  'UnsupportedFieldError', // a chat request field the engine does not implement (named, never ignored)
  'UnsupportedSchemaError', // a JSON schema keyword constrained decoding does not cover
  'AbortError', // an AbortSignal given to load() or create() was aborted
  // GLM-4V (issue #21, model side)
  'VisionConfigError', // a GLM-4V vision_config that is missing, malformed or inconsistent
  'VisionWeightError', // a vision-tower tensor whose shape does not match vision_config
  'ImageInputError', // images that do not fit the prompt (boi / placeholder / eoi layout) or the model's image size
  'NoVisionTowerError', // images given to a model without a vision tower
  // Images (issue #21)
  'ImageUrlError', // an image_url is not a data:, blob: or http(s) URL, is malformed, or could not be fetched
  'UnsupportedImageTypeError', // an image type this engine cannot decode (PNG and JPEG everywhere; browsers also WebP, GIF, BMP, AVIF)
  'ImageTooLargeError', // an image over the byte or pixel limit
  'ImageDecodeError', // an image's bytes are truncated or corrupt
  'TooManyImagesError', // more images than the model takes (GLM-4V-9B: one per conversation)
  // CLI only (not exported)
  'UsageError', // bad command-line arguments (exit code 2)
  'PackageExistsError', // `convert --out` would overwrite a package
] as const;

export type GlmErrorName = (typeof GLM_ERROR_NAMES)[number];
