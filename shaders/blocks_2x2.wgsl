// blocks2x2: the GLM-4V tower's 2x2 stride-2 conv as a GEMM needs its input as rows of 2x2 blocks.
// x is the g x g patch grid, one row per patch (row y·g + x); out row i·h + j (h = floor(g/2)) holds the
// block (2i + dy, 2j + dx) with channel c at column c·4 + dy·2 + dx, the order of the conv weight
// [out, in, 2, 2] flattened. One invocation per output element.

struct BlocksParams {
  grid: u32,     // g
  half: u32,     // h = floor(g / 2)
  channels: u32, // C
  count: u32,    // h · h · 4C
}

@group(0) @binding(0) var<uniform> params: BlocksParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [g·g, C]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [h·h, 4C]

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (e >= params.count) {
    return;
  }
  let width = 4u * params.channels;
  let row = e / width;
  let col = e % width;
  let c = col / 4u;
  let dy = (col / 2u) % 2u;
  let dx = col % 2u;
  let i = row / params.half;
  let j = row % params.half;
  let src = ((2u * i + dy) * params.grid + 2u * j + dx) * params.channels + c;
  out[e] = x[src];
}
