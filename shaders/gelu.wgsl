// gelu, tanh form (ChatGLM-6B's gelu_impl): 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))).

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
  let v = f32(x[i]);
  // tanh saturates to ±1 in f32 beyond |z| = 9; clamping keeps implementations that compute it
  // through exp(2z) away from inf / inf = NaN.
  let z = clamp(0.7978845608028654 * (v * (1.0 + 0.044715 * v * v)), -10.0, 10.0);
  out[i] = act(0.5 * v * (1.0 + tanh(z)));
}
