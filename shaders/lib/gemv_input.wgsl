// The plain input of matmul_gemv_q4.wgsl: x as vec4s, with the optional RMSNorm prologue (NORM).
// (The other input, lib/gemv_input_merge.wgsl, defines the same two functions over attention partials.)

@group(0) @binding(1) var<storage, read> x: array<vec4<act>>;           // [n, cols / 4]
@group(0) @binding(8) var<storage, read> norm_weight: array<vec4<f32>>; // [cols / 4] NORM's gain, or a dummy

/** The 32 activations of group g (x_base: the token's row, in vec4s), normalized when NORM (inv_rms). */
fn x_group(x_base: u32, g: u32, inv_rms: f32) -> array<vec4<f32>, 8> {
  let at = x_base + g * 8u;
  var xg = array<vec4<f32>, 8>(
    vec4<f32>(x[at]), vec4<f32>(x[at + 1u]), vec4<f32>(x[at + 2u]), vec4<f32>(x[at + 3u]),
    vec4<f32>(x[at + 4u]), vec4<f32>(x[at + 5u]), vec4<f32>(x[at + 6u]), vec4<f32>(x[at + 7u]),
  );
  if (NORM) {
    // Same products, in the same order, as rms_norm.wgsl: x * inv * weight.
    for (var i = 0u; i < 8u; i++) {
      xg[i] = xg[i] * inv_rms * norm_weight[g * 8u + i];
    }
  }
  return xg;
}

/**
 * NORM: 1 / sqrt(mean(x²) + eps) of the token's row, computed by every workgroup for itself (x is a
 * few KiB in L2; a separate norm kernel would cost a dispatch and a round trip through memory).
 */
fn inverse_rms(x_base: u32, cols: u32, lid: u32) -> f32 {
  var ss = 0.0;
  for (var c = lid; c < cols / 4u; c += WORKGROUP_SIZE) {
    let v = vec4<f32>(x[x_base + c]);
    ss += dot(v, v);
  }
  partial[lid] = vec4<f32>(ss, 0.0, 0.0, 0.0);
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partial[lid].x += partial[lid + stride].x;
    }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(partial[0].x / f32(cols) + params.norm_eps);
  workgroupBarrier(); // `partial` is reused for the row sums
  return inv;
}
