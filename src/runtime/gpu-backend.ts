// The GPU side of loadBackend(): device (Dawn under Node, navigator.gpu in a browser), GpuOps with
// every layer on the GPU, or HybridOps with the planner's placement and out-of-memory recovery.
import type { ModelFiles } from '../formats/byte-source';
import { requestGpu, type GpuContext } from '../gpu/device';
import { GpuOps } from '../gpu/ops';
import { loadModelFolder } from '../model/load';
import type { HostWeight } from '../model/weights';
import { defaultGpuBudget, explainPlan } from '../planner/planner';
import type { LoadOptions, LoadedBackend } from './backend';
import { loadHybridModel, planHybrid } from './hybrid';
import type { WeightQuant } from '../planner/sizes';
import { ModelSession } from './session';
import { platform } from '#platform';

const GiB = 1024 ** 3;

function gpuInstance(): Promise<GPU | undefined> {
  return platform.webGpu();
}

/** Whether a WebGPU adapter can be had here (for backend 'auto'). */
export async function gpuAvailable(): Promise<boolean> {
  try {
    const gpu = await gpuInstance();
    return !!gpu && (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** The device for a load; tests inject one (e.g. a device that refuses memory past a limit). */
let contextFactory: () => Promise<GpuContext> = async () => requestGpu(await gpuInstance());
export function setGpuContextFactory(factory: (() => Promise<GpuContext>) | null): void {
  contextFactory = factory ?? (async () => requestGpu(await gpuInstance()));
}

/** A device from the same source the loads use (calibration measures the device the model will run on). */
export function openGpuContext(): Promise<GpuContext> {
  return contextFactory();
}

export async function loadGpuBackend(files: ModelFiles, options: LoadOptions, convert: (w: HostWeight, path: string) => HostWeight): Promise<LoadedBackend> {
  const ctx = await contextFactory();
  const ops = new GpuOps(ctx, options.gemv ? { gemv: options.gemv } : {});
  try {
    const model = await loadModelFolder(files, {
      convert: (w, path) => ops.uploadWeight(convert(w, path), path),
      onProgress: options.onProgress,
    });
    return {
      kind: 'gpu',
      placement: { gpu: model.config.numLayers, cpu: 0 },
      model,
      newSession: (capacity) => new ModelSession(ops, model.config, model.weights, capacity, model.vision) as ModelSession<unknown, unknown, unknown>,
      dispose: () => ops.dispose(),
      describe: () => ({ backend: 'gpu', quant: options.quant, adapter: ctx.adapter, features: [...ctx.features], gemv: ops.gemv }),
    };
  } catch (err) {
    ops.dispose();
    throw err;
  }
}

/**
 * The planner's placement (GPU, CPU or both) within a GPU budget, recovering from out-of-memory. Returns
 * 'cpu' (and holds no device) when the planner puts everything on the CPU: the caller loads the CPU backend.
 */
export async function loadPlannedBackend(files: ModelFiles, options: LoadOptions): Promise<LoadedBackend | 'cpu'> {
  const ctx = await contextFactory();
  const gpuBudget = options.gpuBudget ?? defaultGpuBudget(ctx.adapter, ctx.limits);
  const hybridOptions = {
    quant: options.quant,
    plannedQuant: await storedQuant(files, options.quant),
    gpuBudget,
    cpuBudget: options.cpuBudget ?? 8 * GiB,
    contextLength: options.contextLength ?? 4096,
    // Measured speeds steer Auto only: a user who chose the GPU gets the GPU wherever the budget allows.
    ...(options.bandwidth && options.backend === 'auto' ? { bandwidth: options.bandwidth } : {}),
    ...(options.cpuMinParallelGroups !== undefined ? { cpuMinParallelGroups: options.cpuMinParallelGroups } : {}),
    onProgress: options.onProgress,
    ...(options.gemv ? { gpuOptions: { gemv: options.gemv } } : {}),
  };
  if (options.backend === 'auto' && options.bandwidth) {
    const plan = await planHybrid(files, ctx, hybridOptions);
    if (plan.gpuLayerCount === 0 && plan.lmHead === 'cpu') {
      ctx.device.destroy();
      return 'cpu';
    }
  }
  const hybrid = await loadHybridModel(files, ctx, hybridOptions);
  const gpuLayers = hybrid.placement.layers.filter((d) => d === 'gpu').length;
  const kind = gpuLayers === hybrid.config.numLayers && hybrid.placement.head === 'gpu' ? 'gpu' : gpuLayers === 0 && hybrid.placement.head === 'cpu' ? 'cpu' : 'hybrid';
  return {
    kind,
    placement: { gpu: gpuLayers, cpu: hybrid.config.numLayers - gpuLayers },
    model: { config: hybrid.config, weights: hybrid.weights, rawConfig: hybrid.rawConfig, ...(hybrid.vision ? { vision: hybrid.vision } : {}) },
    newSession: (capacity) => hybrid.newSession(capacity) as unknown as ModelSession<unknown, unknown, unknown>,
    dispose: () => {
      hybrid.ops.gpu.dispose();
      hybrid.disposeCpu();
    },
    describe: () => ({
      backend: kind,
      quant: options.quant,
      gpuBudget,
      placement: hybrid.placement,
      contextLength: hybrid.contextLength,
      changes: hybrid.changes,
      plan: hybrid.plan ? explainPlan(hybrid.plan) : null,
      adapter: ctx.adapter,
      gemv: hybrid.ops.gpu.gemv,
      ...(gpuLayers < hybrid.config.numLayers ? { cpuKernels: hybrid.cpuKernels } : {}),
    }),
  };
}

/**
 * The format the weights will have on the device, for the planner's sizes: the requested quantization,
 * else what the folder stores (a package's manifest says; THUDM checkpoints may be saved quantized).
 */
export async function storedQuant(files: ModelFiles, requested: WeightQuant): Promise<WeightQuant> {
  if (requested !== 'none') return requested;
  if (await files.exists('manifest.json')) {
    const quant = (JSON.parse(await files.readText('manifest.json')) as { quant?: unknown }).quant;
    if (quant === 'q4' || quant === 'q8') return quant;
  }
  return 'none';
}
