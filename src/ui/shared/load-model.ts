// Loading a model into an engine from a URL, shared by the chat page and the widget:
//   package (manifest.json) -> loadModelPackage into IndexedDB (byte progress) -> engine.load('glm-cache:<id>')
//   Hugging Face folder     -> engine.load(url): the worker reads the safetensors by HTTP range requests
//   Hub repo / URL / .gguf  -> engine.load(source): the worker converts it into IndexedDB once (src/loader/hub.ts)
import { loadModelPackage, type DownloadProgress } from '../../index';
import type { EngineLoadOptions, LoadProgress, ModelInfo } from '../../index';
import type { Engine } from '../../index';
import type { Calibration } from '../../index';
import { cacheSource } from './cache-source';
import { inspectHubSource, inspectSource, type SourceInfo } from './model-source';

export type BackendChoice = 'auto' | 'gpu' | 'cpu';
export type QuantChoice = 'q4' | 'q8' | 'none';

export interface LoadModelOptions {
  backend: BackendChoice;
  /** How a Hugging Face folder's weights are held (packages keep their own format). */
  quant: QuantChoice;
  contextLength?: number;
  /** This machine's measured speeds: Auto then picks the fastest placement (issue #16). */
  calibration?: Calibration;
  /** GPU bytes the model may use (the page's GPU budget field). */
  gpuBudget?: number;
  signal?: AbortSignal;
  /** Already inspected (the page asked the planner first). */
  source?: SourceInfo;
  onDownload?(p: DownloadProgress): void;
  onLoad?(p: LoadProgress): void;
}

export interface LoadedModelInfo {
  info: ModelInfo;
  source: SourceInfo;
  /** Package files downloaded now, and found in the cache. */
  fetched: string[];
  fromCache: string[];
}

export async function loadModelFromUrl(engine: Engine, url: string, options: LoadModelOptions): Promise<LoadedModelInfo> {
  const source = options.source ?? (await inspectHubSource(url, options.quant === 'none' ? 'q4' : options.quant)) ?? (await inspectSource(url));
  const engineOptions: EngineLoadOptions = {
    backend: options.backend,
    ...(options.contextLength ? { contextLength: options.contextLength } : {}),
    ...(options.calibration ? { calibration: options.calibration } : {}),
    ...(options.gpuBudget !== undefined ? { gpuBudget: options.gpuBudget } : {}),
    ...(options.onLoad ? { onProgress: options.onLoad } : {}),
  };
  if (source.kind === 'package') {
    const pkg = await loadModelPackage(source.url, {
      id: source.id,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onDownload ? { onProgress: options.onDownload } : {}),
    });
    const info = await engine.load(cacheSource(pkg.id), { ...engineOptions, quant: 'none' });
    return { info, source, fetched: pkg.fetched, fromCache: pkg.fromCache };
  }
  if (source.kind === 'hub') {
    // Converted at options.quant (q4 by default: 'none' would store float32, twice the BF16 download).
    const info = await engine.load(source.url, { ...engineOptions, quant: options.quant === 'none' ? 'q4' : options.quant });
    return { info, source, fetched: [], fromCache: [] };
  }
  const info = await engine.load(source.url, { ...engineOptions, quant: options.quant });
  return { info, source, fetched: [], fromCache: [] };
}
