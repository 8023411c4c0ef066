// concatRows: copies one part x (count elements) into out at element dst_offset; one dispatch per part.
// A kernel rather than copyBufferToBuffer so the step's single compute pass stays open.

struct CopyIntoParams {
  count: u32,       // elements of the part = rows · cols
  dst_offset: u32,  // first element in out = rows before this part · cols
}

@group(0) @binding(0) var<uniform> params: CopyIntoParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [rows, cols]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [Σ rows, cols]

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
  out[params.dst_offset + i] = x[i];
}
