// Tree sum over the workgroup in shared memory. WORKGROUP_SIZE (an override of the including kernel)
// must be a power of two; GpuOps checks that before building the pipeline.
// Must be called from workgroup-uniform control flow by every invocation (it contains barriers).
var<workgroup> sum_scratch: array<f32, WORKGROUP_SIZE>;

fn workgroup_sum(value: f32, lid: u32) -> f32 {
  sum_scratch[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      sum_scratch[lid] = sum_scratch[lid] + sum_scratch[lid + stride];
    }
    workgroupBarrier();
  }
  let total = sum_scratch[0];
  // Second barrier: nobody may overwrite sum_scratch (next call) before everyone has read the total.
  workgroupBarrier();
  return total;
}
