// Loading a model into an engine from a URL, shared by the chat page and the widget:
//   package (manifest.json) -> loadModelPackage into IndexedDB (byte progress) -> engine.load('glm-cache:<id>')
//   Hugging Face folder     -> engine.load(url): the worker reads the safetensors by HTTP range requests
import { loadModelPackage, type DownloadProgress } from '../../loader/index';
import type { EngineLoadOptions, LoadProgress, ModelInfo } from '../../runtime/api-types';
import type { Engine } from '../../worker/client';
import type { Calibration } from '../../planner/speeds';
import { cacheSource } from './cache-source';
import { inspectSource, type SourceInfo } from './model-source';

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
  const source = options.source ?? (await inspectSource(url));
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
  const info = await engine.load(source.url, { ...engineOptions, quant: options.quant });
  return { info, source, fetched: [], fromCache: [] };
}
