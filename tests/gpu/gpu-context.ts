// One WebGPU device per test file, on Dawn. Prints the adapter so every run says what it ran on.
import { ensureVulkanForDawn } from '../prereq';
import { createNodeGpu } from '../../src/gpu/node-gpu';
import { requestGpu, type DeviceOptions, type GpuContext } from '../../src/gpu/device';

const contexts = new Map<string, Promise<GpuContext>>();

export function testGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  const key = JSON.stringify(options);
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = (async () => {
      ensureVulkanForDawn();
      const flags = process.env.GLM_WEBGPU_DAWN_FLAGS ? process.env.GLM_WEBGPU_DAWN_FLAGS.split(',') : [];
      const gpu = await createNodeGpu(flags);
      const context = await requestGpu(gpu, options);
      const a = context.adapter;
      console.log(
        `[gpu] adapter: ${a.vendor || '?'} / ${a.architecture || '?'} / ${a.description || a.device || '?'}` +
          ` (fallback=${a.isFallback}); features: ${[...context.features].join(', ') || 'none'}`,
      );
      return context;
    })();
    contexts.set(key, ctx);
  }
  return ctx;
}
