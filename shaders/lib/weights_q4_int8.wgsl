// The int8 group dot of Q4 weights for lib/gemv_group_int8.wgsl (prepended after lib/weights_q4.wgsl,
// only in modules built with packed_4x8_integer_dot_product). Codes 0..15 are used as they are (non-negative
// int8 lanes); the zero point comes out once per group: sum((code - 8) q) = sum(code q) - 8 sum(q), exact in
// i32 (|sum| <= 32 * 15 * 127). Then one f32 product with the weight scale times the activation scale.

fn weight_group_dot_int8(row: u32, g: u32, cols: u32, grp: GemvGroup) -> f32 {
  let xq = grp.xq;
  let xscale = grp.scale;
  let qsum = grp.qsum;
  let gi = row * q4_groups_per_row(cols) + g;
  let q = w_packed[gi];
  let m = 0x0F0F0F0Fu;
  let codes_dot =
    dot4I8Packed(q.x & m, xq[0]) + dot4I8Packed((q.x >> 4u) & m, xq[1]) +
    dot4I8Packed(q.y & m, xq[2]) + dot4I8Packed((q.y >> 4u) & m, xq[3]) +
    dot4I8Packed(q.z & m, xq[4]) + dot4I8Packed((q.z >> 4u) & m, xq[5]) +
    dot4I8Packed(q.w & m, xq[6]) + dot4I8Packed((q.w >> 4u) & m, xq[7]);
  if (W_ASYMMETRIC) {
    // code * s + min: s * xscale * sum(code q) + min * (xscale * sum(q))
    return f32(codes_dot) * (q4_scale(gi) * xscale) + q4_min(gi) * (f32(qsum) * xscale);
  }
  return f32(codes_dot - 8 * qsum) * (q4_scale(gi) * xscale);
}
