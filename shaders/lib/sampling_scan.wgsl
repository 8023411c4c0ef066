// Workgroup prefix sums for the sampling kernels, blocked: each invocation adds up the block totals
// before its block and the values before it in its block (SCAN_BLOCK values each). Three barriers
// instead of two per doubling step of a Hillis-Steele scan: the sampling kernels run one or a few
// workgroups, so their time goes to barrier-separated phases, not to arithmetic. The loops have
// constant trip counts (with predicates) so the compiler can unroll them and overlap the loads.
// WORKGROUP_SIZE is an override of the including kernel: a power of two >= SCAN_BLOCK, so blocks are full.
// Every invocation must call these from workgroup-uniform control flow: they contain barriers.

const SCAN_BLOCK: u32 = 16u;
override SCAN_BLOCKS: u32 = WORKGROUP_SIZE / SCAN_BLOCK;

var<workgroup> scan_u32_buf: array<u32, WORKGROUP_SIZE>;
var<workgroup> scan_u32_blocks: array<u32, SCAN_BLOCKS>;
var<workgroup> scan_f32_buf: array<f32, WORKGROUP_SIZE>;
var<workgroup> scan_f32_blocks: array<f32, SCAN_BLOCKS>;

// Returns (sum of `value` over invocations before `lid`, sum over all invocations).
fn wg_scan_u32(lid: u32, value: u32) -> vec2<u32> {
  scan_u32_buf[lid] = value;
  workgroupBarrier();
  let block = lid / SCAN_BLOCK;
  let block_start = block * SCAN_BLOCK;
  if (lid == block_start) {
    var sum = 0u;
    for (var j = 0u; j < SCAN_BLOCK; j = j + 1u) {
      sum = sum + scan_u32_buf[block_start + j];
    }
    scan_u32_blocks[block] = sum;
  }
  workgroupBarrier();
  var before = 0u;
  var total = 0u;
  for (var b = 0u; b < SCAN_BLOCKS; b = b + 1u) {
    let t = scan_u32_blocks[b];
    if (b < block) {
      before = before + t;
    }
    total = total + t;
  }
  for (var j = 0u; j < SCAN_BLOCK; j = j + 1u) {
    if (block_start + j < lid) {
      before = before + scan_u32_buf[block_start + j];
    }
  }
  // Nobody may start the next scan (and overwrite the buffers) before everyone has read this one.
  workgroupBarrier();
  return vec2<u32>(before, total);
}

// f32 version. Every invocation adds the block totals in the same order, so all see the same total.
fn wg_scan_f32(lid: u32, value: f32) -> vec2<f32> {
  scan_f32_buf[lid] = value;
  workgroupBarrier();
  let block = lid / SCAN_BLOCK;
  let block_start = block * SCAN_BLOCK;
  if (lid == block_start) {
    var sum = 0.0;
    for (var j = 0u; j < SCAN_BLOCK; j = j + 1u) {
      sum = sum + scan_f32_buf[block_start + j];
    }
    scan_f32_blocks[block] = sum;
  }
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var b = 0u; b < SCAN_BLOCKS; b = b + 1u) {
    let t = scan_f32_blocks[b];
    if (b < block) {
      before = before + t;
    }
    total = total + t;
  }
  for (var j = 0u; j < SCAN_BLOCK; j = j + 1u) {
    if (block_start + j < lid) {
      before = before + scan_f32_buf[block_start + j];
    }
  }
  workgroupBarrier();
  return vec2<f32>(before, total);
}
