// The GPU side of loadBackend(): device (Dawn under Node, navigator.gpu in a browser), GpuOps,
// weights uploaded one tensor at a time as they are read.
import type { ModelFiles } from '../formats/byte-source';
import { requestGpu } from '../gpu/device';
import { GpuOps } from '../gpu/ops';
import { loadModelFolder } from '../model/load';
import type { HostWeight } from '../model/weights';
import type { LoadOptions, LoadedBackend } from './backend';
import { ModelSession } from './session';

async function gpuInstance(): Promise<GPU | undefined> {
  if (typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu) return navigator.gpu;
  const { createNodeGpu } = await import('../gpu/node-gpu');
  const flags = typeof process !== 'undefined' && process.env.GLM_WEBGPU_DAWN_FLAGS ? process.env.GLM_WEBGPU_DAWN_FLAGS.split(',') : [];
  return createNodeGpu(flags);
}

export async function loadGpuBackend(files: ModelFiles, options: LoadOptions, convert: (w: HostWeight) => HostWeight): Promise<LoadedBackend> {
  const ctx = await requestGpu(await gpuInstance());
  const ops = new GpuOps(ctx);
  try {
    const model = await loadModelFolder(files, {
      convert: (w, path) => ops.uploadWeight(convert(w), path),
      onProgress: options.onProgress,
    });
    return {
      kind: 'gpu',
      model,
      newSession: (capacity) => new ModelSession(ops, model.config, model.weights, capacity) as ModelSession<unknown, unknown, unknown>,
      dispose: () => ops.dispose(),
      describe: () => ({ backend: 'gpu', quant: options.quant, adapter: ctx.adapter, features: [...ctx.features] }),
    };
  } catch (err) {
    ops.dispose();
    throw err;
  }
}
