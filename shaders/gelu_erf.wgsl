// geluErf: GELU in its exact erf form, elementwise (GLM-4V's vision tower and its GLU adapter).

struct UnaryParams {
  count: u32,   // elements
}

@group(0) @binding(0) var<uniform> params: UnaryParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [count]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [count]

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
  out[i] = act(gelu_erf(f32(x[i])));
}
