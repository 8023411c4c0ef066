// sliceRows: out = x[first_row .. first_row + rows). A kernel rather than copyBufferToBuffer so the
// step's single compute pass stays open.

struct CopyParams {
  count: u32,    // elements to copy = rows · cols
  offset: u32,   // first element = first_row · cols
}

@group(0) @binding(0) var<uniform> params: CopyParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [rows_in, cols]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [rows, cols]

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (i >= params.count) {
    return;
  }
  out[i] = x[params.offset + i];
}
