// gelu, elementwise, in the form GELU_ERF picks (an override constant, so each pipeline compiles one form):
//   false: tanh form (ChatGLM-6B's gelu_impl): 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³)));
//   true:  exact erf form, x/2 · (1 + erf(x/√2)) (GLM-4V's vision tower and its GLU adapter).

struct UnaryParams {
  count: u32,   // elements
}

@group(0) @binding(0) var<uniform> params: UnaryParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [count]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [count]

override WORKGROUP_SIZE: u32 = 256u;
override GELU_ERF: bool = false;

fn gelu(v: f32) -> f32 {
  if (GELU_ERF) {
    return gelu_erf(v);
  }
  return gelu_tanh(v);
}

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
  out[i] = act(gelu(f32(x[i])));
}
