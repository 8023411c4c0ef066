// layerNorm: out = (x - mean) / sqrt(var + eps) * weight + bias, per row; two passes (mean, then the
// variance around it) like the CPU twin, which is more accurate than E[x^2] - mean^2.
// One workgroup per row. Prepended: lib/act_*.wgsl, lib/dispatch.wgsl, lib/workgroup_sum.wgsl.

struct NormParams {
  rows: u32,
  cols: u32,
  eps: f32,
  has_bias: u32,   // 1: add bias
}

@group(0) @binding(0) var<uniform> params: NormParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [rows, cols]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [rows, cols]
@group(0) @binding(3) var<storage, read> weight: array<f32>;       // [cols]
@group(0) @binding(4) var<storage, read> bias: array<f32>;         // [cols], or a dummy when has_bias == 0

override WORKGROUP_SIZE: u32 = 256u; // power of two

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = linear_workgroup(wid, nwg);
  if (row >= params.rows) {
    return;
  }
  let base = row * params.cols;
  let n = f32(params.cols);
  var s = 0.0;
  for (var i = lid; i < params.cols; i += WORKGROUP_SIZE) {
    s += f32(x[base + i]);
  }
  let mean = workgroup_sum(s, lid) / n;
  var sq = 0.0;
  for (var i = lid; i < params.cols; i += WORKGROUP_SIZE) {
    let d = f32(x[base + i]) - mean;
    sq += d * d;
  }
  let inv = 1.0 / sqrt(workgroup_sum(sq, lid) / n + params.eps);
  for (var i = lid; i < params.cols; i += WORKGROUP_SIZE) {
    var v = (f32(x[base + i]) - mean) * inv * weight[i];
    if (params.has_bias != 0u) {
      v += bias[i];
    }
    out[base + i] = act(v);
  }
}
