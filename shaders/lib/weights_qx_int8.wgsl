// The int8 group dot of QX weights (GGUF K-quants, Q5) for lib/gemv_group_int8.wgsl (prepended after
// lib/weights_qx.wgsl, only in modules built with packed_4x8_integer_dot_product). Codes of 4..6 bits are
// non-negative int8 lanes: the low nibbles as in lib/weights_q4_int8.wgsl, the high bits (times 16) spread
// into the same byte order and ORed in. Per subgroup (16 or 32 elements), as the float twin does:
//   (d·sc) · xscale · (sum(code·q) - zero·sum(q))  [+ (dm·mi) · xscale · sum(q) with QX_MINS]
// with the integer parts exact in i32. CPU twin: matmulQxInt8 (src/cpu/gemv-int8.ts).

/** Bits 0, 2, 4, 6 of v to bit 0 of bytes 0..3. */
fn qx_spread1(v: u32) -> u32 {
  return (v & 1u) | ((v & 4u) << 6u) | ((v & 16u) << 12u) | ((v & 64u) << 18u);
}

/** Bit pairs at 0, 4, 8, 12 of v to bits 0..1 of bytes 0..3. */
fn qx_spread2(v: u32) -> u32 {
  return (v & 3u) | ((v & 0x30u) << 4u) | ((v & 0x300u) << 8u) | ((v & 0x3000u) << 12u);
}

/** Codes of low-code word k (elements 8k..8k+7) of group gi as int8 lanes: (even elements, odd elements). */
fn qx_lanes(w: u32, gi: u32, k: u32) -> vec2<u32> {
  let m = 0x0F0F0F0Fu;
  var lanes = vec2<u32>(w & m, (w >> 4u) & m);
  if (QX_BITS == 5u) {
    // One high bit per element, element e at bit e of the group's high word.
    let h = (qx_high_word(gi, 0u) >> (8u * k)) & 0xFFu;
    lanes |= vec2<u32>(qx_spread1(h & 0x55u), qx_spread1((h >> 1u) & 0x55u)) << vec2<u32>(4u);
  } else if (QX_BITS == 6u) {
    // Two high bits per element, element e at bits 2(e & 15) of high word e >> 4.
    let h = (qx_high_word(gi, k >> 1u) >> (16u * (k & 1u))) & 0xFFFFu;
    lanes |= vec2<u32>(qx_spread2(h & 0x3333u), qx_spread2((h >> 2u) & 0x3333u)) << vec2<u32>(4u);
  }
  return lanes;
}

/** sum(code · q) over low-code word k. */
fn qx_word_dot_int8(w: u32, gi: u32, k: u32, xq: array<u32, 8>) -> i32 {
  let lanes = qx_lanes(w, gi, k);
  return dot4I8Packed(lanes.x, xq[2u * k]) + dot4I8Packed(lanes.y, xq[2u * k + 1u]);
}

/** One subgroup's term from its integer dot and activation sum. */
fn qx_term_int8(sm: vec2<f32>, codes_dot: i32, qsum: i32, xscale: f32) -> f32 {
  var t = f32(codes_dot - i32(QX_ZERO) * qsum) * (sm.x * xscale);
  if (QX_MINS) {
    t += sm.y * (f32(qsum) * xscale);
  }
  return t;
}

fn weight_group_dot_int8(row: u32, g: u32, cols: u32, grp: GemvGroup) -> f32 {
  let gi = row * qx_groups_per_row(cols) + g;
  let q = w_packed[gi];
  let a = qx_word_dot_int8(q.x, gi, 0u, grp.xq) + qx_word_dot_int8(q.y, gi, 1u, grp.xq);
  let b = qx_word_dot_int8(q.z, gi, 2u, grp.xq) + qx_word_dot_int8(q.w, gi, 3u, grp.xq);
  if (QX_SUBGROUP == 16u) {
    return qx_term_int8(qx_scale_min(gi, 0u), a, grp.qsum_lo, grp.scale) + qx_term_int8(qx_scale_min(gi, 1u), b, grp.qsum - grp.qsum_lo, grp.scale);
  }
  return qx_term_int8(qx_scale_min(gi, 0u), a + b, grp.qsum, grp.scale);
}
