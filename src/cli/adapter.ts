import type { Command } from 'commander';
import { createNodeGpu } from '../gpu/node-gpu';
import { requestGpu } from '../gpu/device';

/** `glm-webgpu adapter`: which WebGPU adapter Dawn finds here, with its features and limits. */
export function registerAdapterCommand(program: Command): void {
  program
    .command('adapter')
    .description('print the WebGPU adapter found through Dawn, its features and limits (JSON)')
    .option('--f16', 'ask Dawn to expose shader-f16 on NVIDIA (toggle vulkan_enable_f16_on_nvidia)')
    .action(async (opts: { f16?: boolean }) => {
      const gpu = await createNodeGpu(opts.f16 ? ['enable-dawn-features=vulkan_enable_f16_on_nvidia'] : []);
      const ctx = await requestGpu(gpu);
      console.log(JSON.stringify({ adapter: ctx.adapter, features: [...ctx.features], limits: ctx.limits }, null, 2));
      ctx.device.destroy();
    });
}
