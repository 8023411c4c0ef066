// The smoke kernel (shaders/smoke_axpy.wgsl) run end to end: upload, dispatch, read back.
// Used by the gpu and e2e test tiers to prove WebGPU works where they run.
import axpyWgsl from '../../shaders/smoke_axpy.wgsl?raw';
import { compileShader, createComputePipeline } from './shader';

const WORKGROUP_SIZE = 64;

export async function runAxpyKernel(device: GPUDevice, alpha: number, x: Float32Array, y: Float32Array): Promise<Float32Array> {
  if (x.length !== y.length) throw new RangeError(`x has ${x.length} elements but y has ${y.length}`);
  const n = x.length;
  const module = await compileShader(device, axpyWgsl, 'smoke_axpy');
  const pipeline = await createComputePipeline(device, module, 'smoke_axpy', { WORKGROUP_SIZE });
  const bytes = Math.max(4, n * 4);
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const xBuf = device.createBuffer({ size: bytes, usage: storage });
  const yBuf = device.createBuffer({ size: bytes, usage: storage });
  const outBuf = device.createBuffer({ size: bytes, usage: storage });
  const params = device.createBuffer({ size: 8, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const readback = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(xBuf, 0, x as Float32Array<ArrayBuffer>);
    device.queue.writeBuffer(yBuf, 0, y as Float32Array<ArrayBuffer>);
    const p = new ArrayBuffer(8);
    new Uint32Array(p, 0, 1)[0] = n;
    new Float32Array(p, 4, 1)[0] = alpha;
    device.queue.writeBuffer(params, 0, p);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [xBuf, yBuf, outBuf, params].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(Math.ceil(n / WORKGROUP_SIZE));
    pass.end();
    encoder.copyBufferToBuffer(outBuf, 0, readback, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const result = new Float32Array(readback.getMappedRange().slice(0, n * 4));
    readback.unmap();
    return result;
  } finally {
    for (const b of [xBuf, yBuf, outBuf, params, readback]) b.destroy();
  }
}
