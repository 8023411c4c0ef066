// WebGPU under Node.js through Dawn (the `webgpu` npm package). Browsers have navigator.gpu;
// Node gets the same API object from here. Kept out of the browser bundles (dynamic import).
import { WebGpuUnavailableError } from '../errors';

// Dawn's GPU instance must outlive every adapter and device made from it: if the JS object is
// garbage-collected while a device is in use, Dawn aborts the process (futex / mutex assertions).
// So instances are created once per flag set and kept for the life of the process.
const instances = new Map<string, GPU>();

/** Dawn toggles are passed at creation, e.g. `enable-dawn-features=vulkan_enable_f16_on_nvidia`. */
export async function createNodeGpu(dawnFlags: string[] = []): Promise<GPU> {
  const key = dawnFlags.join('\n');
  const existing = instances.get(key);
  if (existing) return existing;
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (err) {
    throw new WebGpuUnavailableError(
      'The Node WebGPU backend (npm package "webgpu", Dawn) could not be loaded. Run `npm ci` in the project, ' +
        'and on Linux install a Vulkan loader: `apt-get install -y libvulkan1` (plus `chromium` for the SwiftShader CPU driver).',
      { cause: err },
    );
  }
  // GPUBufferUsage, GPUShaderStage, ... are globals in browsers; Dawn exports them.
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(dawnFlags);
  instances.set(key, gpu);
  return gpu;
}
