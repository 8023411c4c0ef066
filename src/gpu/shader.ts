// Compile WGSL with a readable error: WebGPU reports compile errors asynchronously and
// only through getCompilationInfo(), so check it before a broken pipeline fails later.
import { ShaderError } from '../errors';

export async function compileShader(device: GPUDevice, code: string, label: string): Promise<GPUShaderModule> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label });
  const info = await module.getCompilationInfo();
  const scopeError = await device.popErrorScope();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0 || scopeError) {
    const lines = errors.map((m) => `  ${label}:${m.lineNum}:${m.linePos}: ${m.message}`);
    if (scopeError && lines.length === 0) lines.push(`  ${scopeError.message}`);
    throw new ShaderError(`WGSL shader "${label}" failed to compile:\n${lines.join('\n')}`);
  }
  return module;
}

/** Creates a compute pipeline and reports validation failures as ShaderError. */
export async function createComputePipeline(
  device: GPUDevice,
  module: GPUShaderModule,
  label: string,
  constants?: Record<string, number>,
  entryPoint = 'main',
): Promise<GPUComputePipeline> {
  try {
    return await device.createComputePipelineAsync({
      label,
      layout: 'auto',
      compute: { module, entryPoint, constants },
    });
  } catch (err) {
    throw new ShaderError(`Compute pipeline "${label}" failed: ${(err as Error).message}`, { cause: err });
  }
}
