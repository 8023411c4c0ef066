// Backend selection for the CLI, tests and the engine: load a model folder onto the CPU or the GPU,
// optionally quantizing it first, and hand back a ModelSession factory.
import type { ModelFiles } from '../formats/byte-source';
import { CpuOps } from '../cpu/ops';
import { createFastMatmul, type FastMatmul } from '../cpu/fast-matmul';
import { loadModelFolder, type LoadedModel } from '../model/load';
import { quantizeWeightAt, type QuantChoice } from '../model/quantize-weights';
import type { HostWeight } from '../model/weights';
import type { Ops } from '../model/ops';
import { ModelSession } from './session';
import type { Bandwidth } from '../planner/planner';

/** 'auto': the planner places layers on the GPU and the CPU to fit the GPU budget (or the CPU alone without WebGPU). */
export type BackendKind = 'cpu' | 'gpu' | 'auto';

export interface LoadOptions {
  backend: BackendKind;
  /** 'none' runs the weights as stored (float, or THUDM's int4/int8). */
  quant: QuantChoice;
  /** GPU bytes the model may use; given with backend 'gpu' or 'auto' it makes a planned (possibly hybrid) placement. */
  gpuBudget?: number;
  /** CPU bytes for CPU-placed layers (default 8 GiB). */
  cpuBudget?: number;
  /** Context the plan must hold (default: the model's, at most 4096). */
  contextLength?: number;
  /** Measured speeds for the planner (runtime/calibration.ts bandwidthOf); default: its assumptions. */
  bandwidth?: Partial<Bandwidth>;
  /** The CPU matmul's FastMatmul.minParallelGroups as the calibration measured it (Infinity: one thread); default: the kernels' own. */
  cpuMinParallelGroups?: number;
  /** The GPU decode GEMV's arithmetic (GpuOpsOptions.gemv; default int8 where WGSL has dot4I8Packed). */
  gemv?: 'int8' | 'float';
  onProgress?: (done: number, total: number, what: string) => void;
}

/** A model loaded on one backend; sessions share its weights. */
export interface LoadedBackend {
  kind: 'cpu' | 'gpu' | 'hybrid';
  /** Layers per device. */
  placement: { gpu: number; cpu: number };
  model: LoadedModel<unknown>;
  newSession(capacity?: number): ModelSession<unknown, unknown, unknown>;
  /** Releases GPU memory (no-op on the CPU). */
  dispose(): void;
  describe(): Record<string, unknown>;
}

export async function loadBackend(files: ModelFiles, options: LoadOptions): Promise<LoadedBackend> {
  const convert = (w: HostWeight, path: string) => quantizeWeightAt(w, path, options.quant);
  if (options.backend === 'cpu') {
    const model = await loadModelFolder<HostWeight>(files, { convert, onProgress: options.onProgress });
    const fast = await runtimeQuantMatmul(options.cpuMinParallelGroups);
    const ops = new CpuOps(fast);
    return {
      kind: 'cpu',
      placement: { gpu: 0, cpu: model.config.numLayers },
      model,
      newSession: (capacity) => new ModelSession(ops, model.config, model.weights, capacity, model.vision) as ModelSession<unknown, unknown, unknown>,
      dispose: () => fast.dispose(),
      describe: () => ({ backend: 'cpu', quant: options.quant, cpuKernels: fast.description }),
    };
  }
  const { loadGpuBackend, loadPlannedBackend, gpuAvailable } = await import('./gpu-backend');
  if (options.backend === 'auto' && !(await gpuAvailable())) return loadBackend(files, { ...options, backend: 'cpu' });
  if (options.backend === 'auto' || options.gpuBudget !== undefined) {
    const planned = await loadPlannedBackend(files, options);
    // The planner found the CPU alone fastest (e.g. a software adapter): the plain CPU backend, no GPU device held.
    return planned === 'cpu' ? loadBackend(files, { ...options, backend: 'cpu' }) : planned;
  }
  return loadGpuBackend(files, options, convert);
}

export type AnyOps = Ops<unknown, unknown, unknown>;

/**
 * The CPU fallback's q4/q8 matmul: WebAssembly SIMD where the runtime has it, with worker threads in a
 * cross-origin-isolated page (SharedArrayBuffer); one thread under Node, where the engine runs in
 * tests and the CLI next to other work. `minParallelGroups`: where the workers start to pay, as the
 * calibration measured it on this machine (calibration.ts measureParallelThreshold).
 */
export async function runtimeQuantMatmul(minParallelGroups?: number): Promise<FastMatmul> {
  const isolatedPage = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated && typeof navigator !== 'undefined';
  const threads = isolatedPage ? Math.max(1, Math.min(4, navigator.hardwareConcurrency ?? 1)) : 1;
  let fast: FastMatmul;
  try {
    fast = await createFastMatmul({ threads });
  } catch {
    fast = await createFastMatmul({ threads: 1 });
  }
  if (minParallelGroups !== undefined) fast.minParallelGroups = minParallelGroups;
  return fast;
}
