// embed: out[t, :] = table[ids[t], :], with the row decoded from whatever format the table has
// (prepended lib/weights_*.wgsl: f32, f16 pairs, Q4 or Q8 dequantized here on the GPU).
// A split table is bound one part at a time: each dispatch writes only the tokens whose id falls in
// rows row_start..row_start+rows-1 of the table.

struct EmbedParams {
  n: u32,          // tokens
  cols: u32,       // hidden size = row width of the table
  row_start: u32,  // first table row held by the bound part
  rows: u32,       // rows held by the bound part
}

@group(0) @binding(0) var<uniform> params: EmbedParams;
@group(0) @binding(1) var<storage, read> ids: array<u32>;          // [n] token ids, checked < vocab in TS
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [n, cols]
// bindings 5.. : the table part, declared by lib/weights_*.wgsl

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (i >= params.n * params.cols) {
    return;
  }
  let t = i / params.cols;
  let c = i % params.cols;
  let id = ids[t];
  if (id < params.row_start || id >= params.row_start + params.rows) {
    return;
  }
  out[i] = act(weight_value(id - params.row_start, c, params.cols));
}
