// Smoke kernel for the test tiers: out[i] = alpha * x[i] + y[i].
// Small on purpose; it proves a WGSL file from shaders/ compiles and runs on the adapter.

struct Params {
  n: u32,       // number of elements
  alpha: f32,   // scale applied to x
}

@group(0) @binding(0) var<storage, read> x: array<f32>;          // [n]
@group(0) @binding(1) var<storage, read> y: array<f32>;          // [n]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // [n]
@group(0) @binding(3) var<uniform> params: Params;

override WORKGROUP_SIZE: u32 = 64u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.n) {
    return;
  }
  out[i] = params.alpha * x[i] + y[i];
}
