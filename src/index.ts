/// <reference types="@webgpu/types" preserve="true" />
// Public library entry: the engine API (createEngine, OpenAI-style chat), the planner, model
// formats and the error classes a page can branch on by `name`.
export * from './errors';
export { createEngine, type Engine, type CreateEngineOptions } from './worker/client';
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  KnowledgeAsk,
  KnowledgeHit,
  EngineLoadOptions,
  EngineStats,
  FinishReason,
  LoadProgress,
  ModelInfo,
  Usage,
} from './runtime/api-types';
export { GlmEngine, ModelNotLoadedError, GenerationInProgressError } from './runtime/engine';
export { ContextOverflowError } from './runtime/session';
export { requestGpu, OPTIONAL_FEATURES, type GpuContext, type DeviceOptions, type AdapterSummary } from './gpu/device';
export { normalizeConfig, UnsupportedModelError, ConfigError, SUPPORTED_MODELS, type GlmConfig } from './model/config';
export { PRESETS, presetNames, type PresetName } from './model/presets';
export { planPlacement, explainPlan, defaultGpuBudget, PlanInfeasibleError, type Plan, type PlanInput } from './planner/planner';
export { tensorSizes } from './planner/sizes';
export { parseBytes, formatBytes } from './planner/units';
export { loadModelPackage, listCachedModels, deleteCachedModel, cachedModelRecord, QuotaExceededError, ShardHashMismatchError, UnsupportedPackageVersionError } from './loader/index';
// Tokenizer and chat-template errors, and the tokenizer bounds (issues #14, #18).
export {
  TokenizerError,
  UnsupportedTokenizerError,
  ChatTemplateError,
  TokenizerLimitError,
  TokenizerModelMismatchError,
  ChatTemplateLimitError,
} from './tokenizer/errors';
export { MAX_TOKEN_ID } from './tokenizer/types';
export { TEMPLATE_LIMITS } from './tokenizer/template-limits';
// Issue #14: Hugging Face Hub sources converted into the cache, and the catalogue of real GLM models.
export { MODEL_CATALOGUE, catalogueModel, catalogueSizes, type CatalogueModel, type CatalogueSizes } from './runtime/catalogue';
export { parseHubSource, isHubRepoId, hubCacheId, hubModelFiles, convertHubModel, DEFAULT_HF_ENDPOINT, type HubSource, type HubLoadOptions } from './loader/hub';
export { convertIntoCache, indexedDbTarget, type ConversionTarget, type ConversionProgress, type ConversionCheckpoint } from './loader/convert-cache';
// issue #18: storage and network faults, strict CSP
export { DownloadTimeoutError, CacheStorageError, ModelDeletedError, WorkerBlockedError } from './errors';
export { DEFAULT_STALL_TIMEOUT_MS, DEFAULT_DEADLINE_MS, CACHE_DB_NAME, type RequestTimeouts, type SkippedRecord } from './loader/index';
// Chat API (#19): the OpenAI-shaped request/response types beyond the core ones above.
export type {
  ChatCompletionChoice,
  ChatCompletionChunkChoice,
  ChatCompletionContentPartText,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
  ChatCompletionToolChoice,
  ChoiceLogprobs,
  Completion,
  CompletionChunk,
  CompletionRequest,
  JsonSchema,
  ResponseFormat,
  TokenLogprob,
  TopLogprob,
} from './runtime/api-types';
export type { RequestOptions } from './worker/client';

// --- issue #15 (installable package): every error class and the documented list of names ---
export * from './error-catalogue';
// What the project's own pages (src/ui: chat page, widget) use, so they are honest examples of this API:
// the model catalogue, the planner verdict, the browser model cache and the package manifest.
export { isPresetName } from './model/presets';
export { classifyAdapter, type AdapterClass } from './planner/planner';
export { GiB } from './planner/units';
export type { WeightQuant } from './planner/sizes';
export { CACHE_SCHEME } from './runtime/engine';
export { MODEL_REGISTRY, type RegistryEntry } from './runtime/registry';
export { MANIFEST_FILE, parseManifest, type PackageManifest, type PackageQuant } from './formats/package';
export {
  modelIdFromUrl,
  packageBaseUrl,
  recordKey,
  idbStore,
  type CachedModelInfo,
  type DownloadProgress,
  type ModelRecord,
} from './loader/index';
// Issue #16: measured speeds (calibration) and why a model URL could not be fetched.
export { describeCalibration, bandwidthOf, CALIBRATION_VERSION, type Calibration, type GpuCalibration, type CpuCalibration } from './planner/speeds';
export { classifyFetchFailure, fetchFailureError, type FetchFailure } from './loader/network-failure';
// Issue #21 (GLM-4V, the API and pixels side): images in messages and their preprocessing.
export type { ChatCompletionContentPart, ChatCompletionContentPartImage } from './runtime/api-types';
export { type VisionInfo, visionInfoOf, renderGlm4vChat } from './vision/content';
export { userMessage, messageImageUrls, imageFileToDataUrl, ATTACHABLE_IMAGE_TYPES } from './vision/message';
export { preprocessImage, imagePixels, type ImageInput, type ImageDataLike } from './vision/image-source';
export { preprocessPixels, resizeBicubic, normalizeClip, toRgb, CLIP_MEAN, CLIP_STD, type DecodedPixels, type RgbImage } from './vision/preprocess';
export { DEFAULT_IMAGE_LIMITS, type ImageLimits } from './vision/image-type';
