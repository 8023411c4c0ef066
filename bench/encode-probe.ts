// CPU cost of recording dispatches: GpuOps.matmul (our bookkeeping plus Dawn's calls), the same with the
// compute pass replaced by a stub (our JavaScript alone), and bare setPipeline / setBindGroup /
// dispatchWorkgroups calls with and without a dynamic offset. Decode of a small model is bound by this,
// not by the GPU (README, Benchmarks). Build and run (SwiftShader here, any adapter on the GPU machine):
//   npx vite build --mode cli --ssr bench/encode-probe.ts --outDir dist/probe
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node dist/probe/main.js
import { createNodeGpu } from '../src/gpu/node-gpu';
import { requestGpu } from '../src/gpu/device';
import { GpuOps } from '../src/gpu/ops';
import { randomQ4 } from '../src/ui/bench/suite';

const DISPATCHES = 2000;
const ROUNDS = 8;
const perDispatch = (ms: number) => `${((ms / DISPATCHES) * 1000).toFixed(2)} us`;

const ctx = await requestGpu(await createNodeGpu());
const ops = new GpuOps(ctx, { submitEvery: 0 });
const w = await ops.uploadWeight(randomQ4(64, 256, 1), 'w');
const x0 = new Float32Array(256);

// The first rounds compile the pipeline and make the bind groups; later ones find them cached.
for (let r = 0; r < ROUNDS; r++) {
  const x = ops.upload(x0, 1, 256);
  const t0 = performance.now();
  for (let i = 0; i < DISPATCHES; i++) ops.matmul(x, w);
  const t1 = performance.now();
  await ops.flush();
  console.log(`GpuOps.matmul: ${perDispatch(t1 - t0)} per dispatch recorded; submit and wait ${(performance.now() - t1).toFixed(1)} ms`);
}

// JavaScript alone: the pass is a stub (reached through the private openPass, for this probe only).
{
  const stub = { setPipeline() {}, setBindGroup() {}, dispatchWorkgroups() {}, end() {} };
  const internals = ops as unknown as { openPass: () => unknown };
  const real = internals.openPass;
  for (let r = 0; r < ROUNDS; r++) {
    internals.openPass = () => stub;
    const x = ops.upload(x0, 1, 256);
    const t0 = performance.now();
    for (let i = 0; i < DISPATCHES; i++) ops.matmul(x, w);
    console.log(`GpuOps.matmul without Dawn: ${perDispatch(performance.now() - t0)} per dispatch`);
    internals.openPass = real;
    await ops.flush();
  }
}

// Bare WebGPU calls.
const dev = ctx.device;
const module = dev.createShaderModule({
  code: `@group(0) @binding(0) var<uniform> u: vec4<u32>;
@group(0) @binding(1) var<storage, read_write> b: array<u32>;
@compute @workgroup_size(1) fn main() { b[0] = b[0] + u.x; }`,
});
const counter = dev.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
const uniforms = dev.createBuffer({ size: 65536, usage: GPUBufferUsage.UNIFORM });
const pipelineWith = (dynamic: boolean) => {
  const layout = dev.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: dynamic } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ],
  });
  const pipeline = dev.createComputePipeline({ layout: dev.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } });
  const group = dev.createBindGroup({
    layout,
    entries: [
      { binding: 0, resource: { buffer: uniforms, size: 256 } },
      { binding: 1, resource: { buffer: counter } },
    ],
  });
  return { pipeline, group };
};
const fixed = pipelineWith(false);
const dynamic = pipelineWith(true);
for (let r = 0; r < 3; r++) {
  const encoder = dev.createCommandEncoder();
  const pass = encoder.beginComputePass();
  const t0 = performance.now();
  for (let i = 0; i < DISPATCHES; i++) {
    pass.setPipeline(fixed.pipeline);
    pass.setBindGroup(0, fixed.group);
    pass.dispatchWorkgroups(1);
  }
  const t1 = performance.now();
  for (let i = 0; i < DISPATCHES; i++) {
    pass.setPipeline(dynamic.pipeline);
    pass.setBindGroup(0, dynamic.group, [(i % 256) * 256]);
    pass.dispatchWorkgroups(1);
  }
  const t2 = performance.now();
  pass.end();
  dev.queue.submit([encoder.finish()]);
  await dev.queue.onSubmittedWorkDone();
  console.log(`bare calls: ${perDispatch(t1 - t0)} per dispatch with a static bind group, ${perDispatch(t2 - t1)} with a dynamic offset`);
}
process.exit(0);
