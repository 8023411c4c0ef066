// Weight access for Q4 matrices (layout: src/quant/types.ts). One 32-element group is one vec4<u32>:
// element e in word e >> 3, bits 4*(e & 7)..+4, low nibble first. Symmetric: (code - 8) * scale;
// asymmetric (W_ASYMMETRIC): code * scale + min. Scales and mins are f16 pairs read with unpack2x16float.
// Groups hold padding past `cols` (code 8, or code 0 = min when asymmetric): callers multiply it by
// zero activations, so it never needs masking here.
// Same three functions as weights_f32.wgsl (and the same rule: constant array indices only).
// Prepended after lib/q4_nibbles.wgsl (q4_lo, q4_hi, q4_prescale, q4_word_dot; shared with weights_qx.wgsl).

@group(0) @binding(5) var<storage, read> w_packed: array<vec4<u32>>; // [rows * groupsPerRow] one group each
@group(0) @binding(6) var<storage, read> w_scales: array<u32>;       // [ceil(rows * groupsPerRow / 2)] f16 pairs: group i in word i >> 1, half i & 1
@group(0) @binding(7) var<storage, read> w_mins: array<u32>;         // like w_scales; a dummy unless W_ASYMMETRIC

override W_ASYMMETRIC: bool = false;

fn q4_groups_per_row(cols: u32) -> u32 {
  return (cols + 31u) / 32u;
}

fn q4_scale(gi: u32) -> f32 {
  return unpack2x16float(w_scales[gi >> 1u])[gi & 1u];
}

fn q4_min(gi: u32) -> f32 {
  return unpack2x16float(w_mins[gi >> 1u])[gi & 1u];
}

fn weight_value(row: u32, col: u32, cols: u32) -> f32 {
  let gi = row * q4_groups_per_row(cols) + col / 32u;
  let e = col % 32u;
  let code = f32((w_packed[gi][e >> 3u] >> (4u * (e & 7u))) & 15u);
  if (W_ASYMMETRIC) {
    return code * q4_scale(gi) + q4_min(gi);
  }
  return (code - 8.0) * q4_scale(gi);
}

/**
 * Same order as the CPU twin (src/cpu/quant-matmul.ts): the group's codes dotted with 32 activations,
 * times the scale once; asymmetric adds min * sum(activations).
 */
fn weight_group_dot(row: u32, g: u32, cols: u32, xg: array<vec4<f32>, 8>) -> f32 {
  let gi = row * q4_groups_per_row(cols) + g;
  let q = w_packed[gi];
  let z = vec4<f32>(select(8.0, 0.0, W_ASYMMETRIC));
  let codes_dot = dot(q4_lo(q.x) - z, xg[0]) + dot(q4_hi(q.x) - z, xg[1]) +
    dot(q4_lo(q.y) - z, xg[2]) + dot(q4_hi(q.y) - z, xg[3]) +
    dot(q4_lo(q.z) - z, xg[4]) + dot(q4_hi(q.z) - z, xg[5]) +
    dot(q4_lo(q.w) - z, xg[6]) + dot(q4_hi(q.w) - z, xg[7]);
  var result = codes_dot * q4_scale(gi);
  if (W_ASYMMETRIC) {
    let ones = vec4<f32>(1.0);
    let xsum = dot(xg[0] + xg[1] + xg[2] + xg[3] + xg[4] + xg[5] + xg[6] + xg[7], ones);
    result += q4_min(gi) * xsum;
  }
  return result;
}

fn weight_load8(row: u32, col8: u32, cols: u32) -> array<vec4<f32>, 2> {
  let gi = row * q4_groups_per_row(cols) + col8 / 32u;
  let word = w_packed[gi][(col8 % 32u) / 8u];
  let s = q4_scale(gi);
  if (W_ASYMMETRIC) {
    let m = q4_min(gi);
    return array<vec4<f32>, 2>(q4_lo(word) * s + m, q4_hi(word) * s + m);
  }
  return array<vec4<f32>, 2>((q4_lo(word) - 8.0) * s, (q4_hi(word) - 8.0) * s);
}

// ---- The decode GEMV's group dot (matmul_gemv_q4.wgsl); the trick is explained in lib/q4_nibbles.wgsl ----

/** weight_group_dot for pre-scaled activations `xs` whose plain sum is `xsum`. */
fn weight_group_dot_prescaled(row: u32, g: u32, cols: u32, xs: array<vec4<f32>, 8>, xsum: f32) -> f32 {
  let gi = row * q4_groups_per_row(cols) + g;
  let q = w_packed[gi];
  let codes_dot = q4_word_dot(q.x, xs[0], xs[1]) + q4_word_dot(q.y, xs[2], xs[3]) +
    q4_word_dot(q.z, xs[4], xs[5]) + q4_word_dot(q.w, xs[6], xs[7]);
  if (W_ASYMMETRIC) {
    return codes_dot * q4_scale(gi) + q4_min(gi) * xsum;
  }
  return (codes_dot - 8.0 * xsum) * q4_scale(gi);
}
