// Weight access for Q4 matrices (layout: src/quant/types.ts). One 32-element group is one vec4<u32>:
// element e in word e >> 3, bits 4*(e & 7)..+4, low nibble first. Symmetric: (code - 8) * scale;
// asymmetric (W_ASYMMETRIC): code * scale + min. Scales and mins are f16 pairs read with unpack2x16float.
// Groups hold padding past `cols` (code 8, or code 0 = min when asymmetric): callers multiply it by
// zero activations, so it never needs masking here.
// Same three functions as weights_f32.wgsl (and the same rule: constant array indices only).

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

/** Codes of elements 0..3 of a word (low nibbles first) as floats. */
fn q4_lo(w: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u));
}

/** Codes of elements 4..7 of a word. */
fn q4_hi(w: u32) -> vec4<f32> {
  return q4_lo(w >> 16u);
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

// ---- The decode GEMV's group dot (matmul_gemv_q4.wgsl) -------------------------------------------
// Converting each 4-bit code to float with an integer-to-float instruction made that kernel ALU-bound
// (conversions run at a fraction of the FMA rate on NVIDIA). Instead a code is masked in place and ORed
// into the mantissa of 2^23: bitcast gives exactly 2^23 + code·16^k (k = the nibble's position in its
// 20-bit window), and one subtraction leaves code·16^k. The activations are pre-multiplied by 16^-k
// (exact: powers of two), once per group and shared by all rows of a lane, so the products are code·x.
// The zero point is taken out once per group: sum((code - 8)·x) = sum(code·x) - 8·sum(x).

const Q4_MAGIC = 0x4B000000u; // 2^23 as f32 bits
const Q4_TWO_23 = 8388608.0;

/** The group's activations times 16^-k for each element's nibble position (see q4_word_dot). */
fn q4_prescale(xg: array<vec4<f32>, 8>) -> array<vec4<f32>, 8> {
  // Elements 0..4 of a word sit at nibble positions 0..4; 5..7 are read from the word >> 12 at positions 2..4.
  let lo = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);
  let hi = vec4<f32>(0.0000152587890625, 0.00390625, 0.000244140625, 0.0000152587890625);
  return array<vec4<f32>, 8>(xg[0] * lo, xg[1] * hi, xg[2] * lo, xg[3] * hi, xg[4] * lo, xg[5] * hi, xg[6] * lo, xg[7] * hi);
}

/** sum(code_e · x_e) over the 8 elements of one word, with x pre-scaled by q4_prescale. */
fn q4_word_dot(w: u32, x_lo: vec4<f32>, x_hi: vec4<f32>) -> f32 {
  let magic = vec4<u32>(Q4_MAGIC);
  let w12 = w >> 12u;
  let lo = bitcast<vec4<f32>>((vec4<u32>(w) & vec4<u32>(0xFu, 0xF0u, 0xF00u, 0xF000u)) | magic) - vec4<f32>(Q4_TWO_23);
  let hi = bitcast<vec4<f32>>((vec4<u32>(w, w12, w12, w12) & vec4<u32>(0xF0000u, 0xF00u, 0xF000u, 0xF0000u)) | magic) - vec4<f32>(Q4_TWO_23);
  return dot(lo, x_lo) + dot(hi, x_hi);
}

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
