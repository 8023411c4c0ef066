// The device's FMA rate, the yardstick the GPU benches divide by (gpu-gemm.ts, vision-encode.ts): a plain
// WGSL loop where each invocation runs 8 independent vec4 FMA chains, nothing read or written but a
// never-taken store that keeps the compiler from deleting the loop.

const ITER = 4096;
const WORKGROUP = 256;

const FMA_LOOP_WGSL = `
@group(0) @binding(0) var<storage, read_write> sink: array<vec4<f32>>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x) * 1e-9;
  var v0 = vec4<f32>(s); var v1 = v0 + 1.0; var v2 = v0 + 2.0; var v3 = v0 + 3.0;
  var v4 = v0 + 4.0; var v5 = v0 + 5.0; var v6 = v0 + 6.0; var v7 = v0 + 7.0;
  let m = vec4<f32>(0.999999);
  let c = vec4<f32>(1e-7);
  for (var i = 0u; i < ${ITER}u; i++) {
    v0 = fma(v0, m, c); v1 = fma(v1, m, c); v2 = fma(v2, m, c); v3 = fma(v3, m, c);
    v4 = fma(v4, m, c); v5 = fma(v5, m, c); v6 = fma(v6, m, c); v7 = fma(v7, m, c);
  }
  let r = v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7;
  if (r.x == 12345.0) { sink[gid.x] = r; }
}`;

/**
 * FLOP/s of the FMA loop over `workgroups` workgroups (2 FLOP per FMA, f32): best of 3 submits after a
 * warm-up. Each submit repeats the dispatch enough times to last about 0.2 s (at most 200), so submit
 * overhead stays small next to the work. A few workgroups (SwiftShader smoke runs) only check that it runs.
 */
export async function measureFmaRate(device: GPUDevice, workgroups: number): Promise<number> {
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: FMA_LOOP_WGSL }), entryPoint: 'main' } });
  const sink = device.createBuffer({ size: 16 * WORKGROUP * workgroups, usage: GPUBufferUsage.STORAGE });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: sink } }] });
  /** Seconds per dispatch, over one submit of `reps` dispatches. */
  const batch = async (reps: number): Promise<number> => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(workgroups);
    pass.end();
    const t = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t) / 1000 / reps;
  };
  await batch(1); // warm-up: pipeline, clocks
  const reps = Math.max(1, Math.min(200, Math.ceil(0.2 / (await batch(1)))));
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, await batch(reps));
  sink.destroy();
  return (workgroups * WORKGROUP * ITER * 8 * 4 * 2) / best;
}
