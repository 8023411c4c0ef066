// Backend selection for the CLI, tests and the engine: load a model folder onto the CPU or the GPU,
// optionally quantizing it first, and hand back a ModelSession factory.
import type { ModelFiles } from '../formats/byte-source';
import { CpuOps } from '../cpu/ops';
import { loadModelFolder, type LoadedModel } from '../model/load';
import { quantizeWeight, type QuantChoice } from '../model/quantize-weights';
import type { HostWeight } from '../model/weights';
import type { Ops } from '../model/ops';
import { ModelSession } from './session';

export type BackendKind = 'cpu' | 'gpu';

export interface LoadOptions {
  backend: BackendKind;
  /** 'none' runs the weights as stored (float, or THUDM's int4/int8). */
  quant: QuantChoice;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** A model loaded on one backend; sessions share its weights. */
export interface LoadedBackend {
  kind: BackendKind;
  model: LoadedModel<unknown>;
  newSession(capacity?: number): ModelSession<unknown, unknown, unknown>;
  /** Releases GPU memory (no-op on the CPU). */
  dispose(): void;
  describe(): Record<string, unknown>;
}

export async function loadBackend(files: ModelFiles, options: LoadOptions): Promise<LoadedBackend> {
  const convert = (w: HostWeight) => quantizeWeight(w, options.quant);
  if (options.backend === 'cpu') {
    const model = await loadModelFolder<HostWeight>(files, { convert, onProgress: options.onProgress });
    const ops = new CpuOps();
    return {
      kind: 'cpu',
      model,
      newSession: (capacity) => new ModelSession(ops, model.config, model.weights, capacity) as ModelSession<unknown, unknown, unknown>,
      dispose: () => {},
      describe: () => ({ backend: 'cpu', quant: options.quant }),
    };
  }
  const { loadGpuBackend } = await import('./gpu-backend');
  return loadGpuBackend(files, options, convert);
}

export type AnyOps = Ops<unknown, unknown, unknown>;
