// Weight access for Q8 matrices (layout: src/quant/types.ts). One 32-element group is two vec4<u32>:
// element e in word e >> 2, byte e & 3, two's complement; value = q * scale (f16 pairs, unpack2x16float).
// Padding past `cols` is code 0. Same three functions as weights_f32.wgsl (constant array indices only).

@group(0) @binding(5) var<storage, read> w_packed: array<vec4<u32>>; // [rows * groupsPerRow * 2] group i = vec4s 2i, 2i+1
@group(0) @binding(6) var<storage, read> w_scales: array<u32>;       // [ceil(rows * groupsPerRow / 2)] f16 pairs: group i in word i >> 1, half i & 1

fn q8_groups_per_row(cols: u32) -> u32 {
  return (cols + 31u) / 32u;
}

fn q8_scale(gi: u32) -> f32 {
  return unpack2x16float(w_scales[gi >> 1u])[gi & 1u];
}

/** The four signed bytes of a word as floats (shift each byte to the top, arithmetic shift down). */
fn q8_unpack(w: u32) -> vec4<f32> {
  let v = bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
  return vec4<f32>(v);
}

fn weight_value(row: u32, col: u32, cols: u32) -> f32 {
  let gi = row * q8_groups_per_row(cols) + col / 32u;
  let e = col % 32u;
  let word = w_packed[2u * gi + (e >> 4u)][(e >> 2u) & 3u];
  return q8_unpack(word)[e & 3u] * q8_scale(gi);
}

fn weight_group_dot(row: u32, g: u32, cols: u32, xg: array<vec4<f32>, 8>) -> f32 {
  let gi = row * q8_groups_per_row(cols) + g;
  let a = w_packed[2u * gi];
  let b = w_packed[2u * gi + 1u];
  let codes_dot = dot(q8_unpack(a.x), xg[0]) + dot(q8_unpack(a.y), xg[1]) + dot(q8_unpack(a.z), xg[2]) + dot(q8_unpack(a.w), xg[3]) +
    dot(q8_unpack(b.x), xg[4]) + dot(q8_unpack(b.y), xg[5]) + dot(q8_unpack(b.z), xg[6]) + dot(q8_unpack(b.w), xg[7]);
  return codes_dot * q8_scale(gi);
}

fn weight_load8(row: u32, col8: u32, cols: u32) -> array<vec4<f32>, 2> {
  let gi = row * q8_groups_per_row(cols) + col8 / 32u;
  let e = col8 % 32u; // 0, 8, 16 or 24: words e/4 and e/4 + 1 of the group
  let words = w_packed[2u * gi + (e >> 4u)];
  let s = q8_scale(gi);
  if (((e >> 2u) & 3u) == 0u) {
    return array<vec4<f32>, 2>(q8_unpack(words.x) * s, q8_unpack(words.y) * s);
  }
  return array<vec4<f32>, 2>(q8_unpack(words.z) * s, q8_unpack(words.w) * s);
}
