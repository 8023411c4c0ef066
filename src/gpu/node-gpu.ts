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
    // `webgpu` is an optional dependency of the package: npm leaves it out with --omit=optional or where it
    // has no binary for the platform. Installed but failing to load is a missing system library instead.
    const notInstalled = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
    throw new WebGpuUnavailableError(
      notInstalled
        ? 'The Node WebGPU backend (npm package "webgpu", Dawn, an optional dependency of glm-webgpu) is not installed. ' +
          'Install it with `npm install webgpu` (in this repository: `npm ci`), or use the CPU backend (backend "cpu").'
        : 'The Node WebGPU backend (npm package "webgpu", Dawn) could not be loaded. On Linux install a Vulkan loader: ' +
          '`apt-get install -y libvulkan1` (plus `chromium` for the SwiftShader CPU driver), or use the CPU backend (backend "cpu").',
      { cause: err },
    );
  }
  // GPUBufferUsage, GPUShaderStage, ... are globals in browsers; Dawn exports them.
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(dawnFlags);
  instances.set(key, gpu);
  return gpu;
}
