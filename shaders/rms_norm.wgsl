// rmsNorm: out[r, i] = x[r, i] / sqrt(mean(x[r, :]^2) + eps) * weight[i]. One workgroup per row.
// Prepended: lib/act_*.wgsl, lib/dispatch.wgsl, lib/workgroup_sum.wgsl.

struct NormParams {
  rows: u32,
  cols: u32,
  eps: f32,
  has_bias: u32,   // unused by rmsNorm; shared layout with layerNorm
}

@group(0) @binding(0) var<uniform> params: NormParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [rows, cols]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [rows, cols]
@group(0) @binding(3) var<storage, read> weight: array<f32>;       // [cols]

override WORKGROUP_SIZE: u32 = 256u; // power of two

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = linear_workgroup(wid, nwg);
  if (row >= params.rows) {
    return; // uniform per workgroup, so no barrier is skipped by part of it
  }
  let base = row * params.cols;
  var ss = 0.0;
  for (var i = lid; i < params.cols; i += WORKGROUP_SIZE) {
    let v = f32(x[base + i]);
    ss += v * v;
  }
  let inv = 1.0 / sqrt(workgroup_sum(ss, lid) / f32(params.cols) + params.eps);
  for (var i = lid; i < params.cols; i += WORKGROUP_SIZE) {
    out[base + i] = act(f32(x[base + i]) * inv * weight[i]);
  }
}
