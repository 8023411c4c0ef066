// Weight access for QX matrices: GGUF K-quants and Q5 blocks (layout: src/quant/qx.ts). Per 32-element
// group: the low 4 bits of each code as in Q4 (one vec4<u32>), QX_BITS - 4 more bits per code stored
// beside the super-block's scale pair, and the value
//   (d * sc) * (code - zero) + dm * mi
// with d, dm the f16 pair of the group's super-block (QX_SUPER_GROUPS groups) and sc, mi the int8 pair
// of its QX_SUBGROUP-element subgroup (both 1 without QX_SUBS). zero = 2^(QX_BITS-1), or 0 with QX_MINS.
// Rows are whole groups (GGUF rows are whole blocks), so there is no padding to mask.
// Prepended after lib/q4_nibbles.wgsl. Same functions as weights_q4.wgsl (constant array indices only).

@group(0) @binding(5) var<storage, read> w_packed: array<vec4<u32>>; // [groups] low 4 bits of the 32 codes
@group(0) @binding(6) var<storage, read> w_supers: array<u32>;       // per super-block: f16 d (low half) / dm (high half), then QX_SUPER_GROUPS * (QX_BITS - 4) high-bit words
@group(0) @binding(7) var<storage, read> w_subs: array<u32>;         // int8 (sc, mi) per subgroup: subgroup k in word k >> 1, half k & 1; a dummy unless QX_SUBS

override QX_BITS: u32 = 4u;          // 4, 5 or 6
override QX_SUBGROUP: u32 = 32u;     // 16 or 32 elements per (sc, mi)
override QX_SUPER_GROUPS: u32 = 8u;  // groups per (d, dm): 8 (K-quants) or 1 (Q5_0/Q5_1)
override QX_MINS: bool = false;
override QX_SUBS: bool = true;
override QX_ZERO: f32 = select(f32(1u << (QX_BITS - 1u)), 0.0, QX_MINS);

fn qx_groups_per_row(cols: u32) -> u32 {
  return cols / 32u;
}

override QX_SUPER_STRIDE: u32 = 1u + QX_SUPER_GROUPS * (QX_BITS - 4u); // words per super-block in w_supers

/** High-bit word j of group gi. */
fn qx_high_word(gi: u32, j: u32) -> u32 {
  return w_supers[(gi / QX_SUPER_GROUPS) * QX_SUPER_STRIDE + 1u + (gi % QX_SUPER_GROUPS) * (QX_BITS - 4u) + j];
}

/** (d * sc, dm * mi) of subgroup j (0, or 1 with 16-element subgroups) of group gi. */
fn qx_scale_min(gi: u32, j: u32) -> vec2<f32> {
  let sup = unpack2x16float(w_supers[(gi / QX_SUPER_GROUPS) * QX_SUPER_STRIDE]);
  if (!QX_SUBS) {
    return sup;
  }
  let k = gi * (32u / QX_SUBGROUP) + j;
  let pair = w_subs[k >> 1u] >> (16u * (k & 1u));
  let sub = vec2<i32>(bitcast<i32>(pair << 24u) >> 24u, bitcast<i32>(pair << 16u) >> 24u);
  return sup * vec2<f32>(sub);
}

/** The high bits (times 16) of elements 4i .. 4i+3 of group gi, i < 8. */
fn qx_high4(gi: u32, i: u32) -> vec4<f32> {
  if (QX_BITS == 5u) {
    let h = qx_high_word(gi, 0u) >> (4u * i);
    return vec4<f32>((vec4<u32>(h) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) * 16.0;
  }
  let h = qx_high_word(gi, i >> 2u) >> (8u * (i & 3u));
  return vec4<f32>((vec4<u32>(h) >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u)) * 16.0;
}

/** Codes minus zero of elements 4i .. 4i+3 of group gi, whose low words are q. */
fn qx_codes4(q: vec4<u32>, gi: u32, i: u32) -> vec4<f32> {
  let word = q[i >> 1u];
  var c = select(q4_lo(word), q4_hi(word), (i & 1u) == 1u);
  if (QX_BITS > 4u) {
    c += qx_high4(gi, i);
  }
  return c - vec4<f32>(QX_ZERO);
}

fn weight_value(row: u32, col: u32, cols: u32) -> f32 {
  let gi = row * qx_groups_per_row(cols) + col / 32u;
  let e = col % 32u;
  let codes = qx_codes4(w_packed[gi], gi, e / 4u);
  let sm = qx_scale_min(gi, e / QX_SUBGROUP);
  var v = sm.x * codes[e & 3u];
  if (QX_MINS) {
    v += sm.y;
  }
  return v;
}

/** One subgroup's term: scale * dot(codes - zero, x) + min * sum(x). */
fn qx_term(sm: vec2<f32>, codes_dot: f32, xsum: f32) -> f32 {
  var t = sm.x * codes_dot;
  if (QX_MINS) {
    t += sm.y * xsum;
  }
  return t;
}

/** Same order as the CPU twin (src/cpu/qx-matmul.ts): per subgroup, codes · x times the scale once. */
fn weight_group_dot(row: u32, g: u32, cols: u32, xg: array<vec4<f32>, 8>) -> f32 {
  let gi = row * qx_groups_per_row(cols) + g;
  let q = w_packed[gi];
  let ones = vec4<f32>(1.0);
  let a = dot(qx_codes4(q, gi, 0u), xg[0]) + dot(qx_codes4(q, gi, 1u), xg[1]) + dot(qx_codes4(q, gi, 2u), xg[2]) + dot(qx_codes4(q, gi, 3u), xg[3]);
  let b = dot(qx_codes4(q, gi, 4u), xg[4]) + dot(qx_codes4(q, gi, 5u), xg[5]) + dot(qx_codes4(q, gi, 6u), xg[6]) + dot(qx_codes4(q, gi, 7u), xg[7]);
  let sum_a = dot(xg[0] + xg[1] + xg[2] + xg[3], ones);
  let sum_b = dot(xg[4] + xg[5] + xg[6] + xg[7], ones);
  if (QX_SUBGROUP == 16u) {
    return qx_term(qx_scale_min(gi, 0u), a, sum_a) + qx_term(qx_scale_min(gi, 1u), b, sum_b);
  }
  return qx_term(qx_scale_min(gi, 0u), a + b, sum_a + sum_b);
}

fn weight_load8(row: u32, col8: u32, cols: u32) -> array<vec4<f32>, 2> {
  let gi = row * qx_groups_per_row(cols) + col8 / 32u;
  let i = (col8 % 32u) / 4u; // even: elements 4i .. 4i+7
  let q = w_packed[gi];
  let sm = qx_scale_min(gi, (col8 % 32u) / QX_SUBGROUP);
  var m = 0.0;
  if (QX_MINS) {
    m = sm.y;
  }
  return array<vec4<f32>, 2>(qx_codes4(q, gi, i) * sm.x + m, qx_codes4(q, gi, i + 1u) * sm.x + m);
}

// ---- The decode GEMV's group dot (matmul_gemv_q4.wgsl), activations pre-scaled by q4_prescale ----
// The low nibbles go through q4_word_dot as in Q4. A high bit is masked in place and ORed into 2^23's
// mantissa like a nibble (no integer-to-float conversion); it comes out as high·2^j (j = its position
// among the 4 elements), so the constants below undo 2^j and the nibble prescale and multiply by 16:
// C = 16 / (2^j · prescale) for the even (q4 "lo") and odd ("hi") vec4s of q4_prescale.
const QX5_C_LO = vec4<f32>(16.0, 128.0, 1024.0, 8192.0);        // 16 / (2^j · (1, 1/16, 1/256, 1/4096))
const QX5_C_HI = vec4<f32>(1048576.0, 2048.0, 16384.0, 131072.0); // 16 / (2^j · (16^-4, 16^-2, 16^-3, 16^-4))
const QX6_C_LO = vec4<f32>(16.0, 64.0, 256.0, 1024.0);          // 16 / (4^j · ...)
const QX6_C_HI = vec4<f32>(1048576.0, 1024.0, 4096.0, 16384.0);
/** The inverse prescale: x = xs * X_* (exact, powers of two). */
const QX_X_LO = vec4<f32>(1.0, 16.0, 256.0, 4096.0);
const QX_X_HI = vec4<f32>(65536.0, 256.0, 4096.0, 65536.0);

/** sum(16 · high_e · x_e) over elements 4i .. 4i+3 with prescaled x. */
fn qx_high_dot_prescaled(gi: u32, i: u32, xs: vec4<f32>) -> f32 {
  let magic = vec4<u32>(Q4_MAGIC);
  let odd = (i & 1u) == 1u;
  if (QX_BITS == 5u) {
    let h = qx_high_word(gi, 0u) >> (4u * i);
    let bits = bitcast<vec4<f32>>((vec4<u32>(h) & vec4<u32>(1u, 2u, 4u, 8u)) | magic) - vec4<f32>(Q4_TWO_23);
    return dot(bits * select(QX5_C_LO, QX5_C_HI, odd), xs);
  }
  let h = qx_high_word(gi, i >> 2u) >> (8u * (i & 3u));
  let bits = bitcast<vec4<f32>>((vec4<u32>(h) & vec4<u32>(3u, 12u, 48u, 192u)) | magic) - vec4<f32>(Q4_TWO_23);
  return dot(bits * select(QX6_C_LO, QX6_C_HI, odd), xs);
}

/** weight_group_dot for pre-scaled activations `xs` whose plain sum is `xsum`. */
fn weight_group_dot_prescaled(row: u32, g: u32, cols: u32, xs: array<vec4<f32>, 8>, xsum: f32) -> f32 {
  let gi = row * qx_groups_per_row(cols) + g;
  let q = w_packed[gi];
  var a = q4_word_dot(q.x, xs[0], xs[1]) + q4_word_dot(q.y, xs[2], xs[3]);
  var b = q4_word_dot(q.z, xs[4], xs[5]) + q4_word_dot(q.w, xs[6], xs[7]);
  if (QX_BITS > 4u) {
    a += qx_high_dot_prescaled(gi, 0u, xs[0]) + qx_high_dot_prescaled(gi, 1u, xs[1]) + qx_high_dot_prescaled(gi, 2u, xs[2]) + qx_high_dot_prescaled(gi, 3u, xs[3]);
    b += qx_high_dot_prescaled(gi, 4u, xs[4]) + qx_high_dot_prescaled(gi, 5u, xs[5]) + qx_high_dot_prescaled(gi, 6u, xs[6]) + qx_high_dot_prescaled(gi, 7u, xs[7]);
  }
  if (QX_SUBGROUP == 16u) {
    let sum_a = dot(xs[0], QX_X_LO) + dot(xs[1], QX_X_HI) + dot(xs[2], QX_X_LO) + dot(xs[3], QX_X_HI);
    let sum_b = xsum - sum_a;
    return qx_term(qx_scale_min(gi, 0u), a - QX_ZERO * sum_a, sum_a) + qx_term(qx_scale_min(gi, 1u), b - QX_ZERO * sum_b, sum_b);
  }
  return qx_term(qx_scale_min(gi, 0u), a + b - QX_ZERO * xsum, xsum);
}
