// 4-bit code helpers shared by lib/weights_q4.wgsl and lib/weights_qx.wgsl (both keep 32-element
// groups of nibbles in one vec4<u32>, element e in word e >> 3 at bits 4*(e & 7)).

/** Codes of elements 0..3 of a word (low nibbles first) as floats. */
fn q4_lo(w: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(w) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u));
}

/** Codes of elements 4..7 of a word. */
fn q4_hi(w: u32) -> vec4<f32> {
  return q4_lo(w >> 16u);
}

// The decode GEMV's group dot (matmul_gemv_q4.wgsl).
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
