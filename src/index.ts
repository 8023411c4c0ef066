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
export { loadModelPackage, listCachedModels, deleteCachedModel, QuotaExceededError, ShardHashMismatchError, UnsupportedPackageVersionError } from './loader/index';

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
export { MANIFEST_FILE, parseManifest, type PackageManifest } from './formats/package';
export {
  modelIdFromUrl,
  packageBaseUrl,
  recordKey,
  idbStore,
  type CachedModelInfo,
  type DownloadProgress,
  type ModelRecord,
} from './loader/index';
