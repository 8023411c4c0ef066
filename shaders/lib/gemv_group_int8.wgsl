// The integer group dot of matmul_gemv_q4.wgsl (issue #17; needs the WGSL language feature
// packed_4x8_integer_dot_product, so only modules built with it include this file). Each lane
// quantizes the group it reads to int8 (scale = max|x| / 127, round to nearest even) right after the
// input's prologue (RMSNorm, attention merge), in registers: no workgroup memory and no barrier, and the
// cost (32 multiplies and roundings) is shared by all of the lane's rows (4, 8 with SWIGLU). The CPU twin
// doing the same integer arithmetic is src/cpu/gemv-int8.ts (quantizeActivationGroup, gemvQ4Int8).
//
// The int8 words are arranged to match the nibble order of a Q4 group word (lib/weights_q4.wgsl: element
// 8k + j at bits 4j of word k), so that a weight word needs only a mask and a shift to become two words of
// int8 lanes: w & 0x0F0F0F0F holds elements 8k + 0, 2, 4, 6 (byte i = nibble 2i) and (w >> 4) & 0x0F0F0F0F
// elements 8k + 1, 3, 5, 7. So xq[2k] packs the even elements of word k and xq[2k + 1] the odd ones.

struct GemvGroup {
  xq: array<u32, 8>, // int8 activations, 4 a word, in the order above
  scale: f32,        // x ≈ q * scale
  qsum: i32,         // sum of the 32 int8 values (the zero point / min term)
  qsum_lo: i32,      // sum of elements 0..15 (QX weights with 16-element sub-scales)
}

fn gemv_group(xg: array<vec4<f32>, 8>) -> GemvGroup {
  var m = vec4<f32>(0.0);
  for (var i = 0u; i < 8u; i++) {
    m = max(m, abs(xg[i]));
  }
  let amax = max(max(m.x, m.y), max(m.z, m.w));
  let scale = amax / 127.0;
  // An all-zero group (padding, or a zero input) quantizes to zeros with scale 0.
  let inv = select(0.0, 1.0 / scale, amax > 0.0);
  var grp: GemvGroup;
  grp.scale = scale;
  var qsum = vec4<i32>(0);
  for (var k = 0u; k < 4u; k++) {
    let a = vec4<i32>(round(xg[2u * k] * inv));      // elements 8k .. 8k+3
    let b = vec4<i32>(round(xg[2u * k + 1u] * inv)); // elements 8k+4 .. 8k+7
    grp.xq[2u * k] = pack4xI8(vec4<i32>(a.x, a.z, b.x, b.z));
    grp.xq[2u * k + 1u] = pack4xI8(vec4<i32>(a.y, a.w, b.y, b.w));
    qsum += a + b;
    if (k == 1u) {
      grp.qsum_lo = qsum.x + qsum.y + qsum.z + qsum.w;
    }
  }
  grp.qsum = qsum.x + qsum.y + qsum.z + qsum.w;
  return grp;
}

/** One row's dot product with the prepared group g (weight_group_dot_int8: lib/weights_q4_int8.wgsl or lib/weights_qx_int8.wgsl). */
fn group_dot(row: u32, g: u32, cols: u32, grp: GemvGroup) -> f32 {
  return weight_group_dot_int8(row, g, cols, grp);
}
