// Weight access for dense matrices stored as IEEE f16 pairs in u32 words, decoded with
// unpack2x16float (core WGSL): half the bytes of f32 without needing the `shader-f16` feature.
// Same three functions as weights_f32.wgsl (and the same rule: constant array indices only).

@group(0) @binding(5) var<storage, read> w_half: array<u32>; // [ceil(rows * cols / 2)] element e = row * cols + col in word e >> 1, low half when e is even

fn half_at(e: u32) -> f32 {
  return unpack2x16float(w_half[e >> 1u])[e & 1u];
}

fn weight_value(row: u32, col: u32, cols: u32) -> f32 {
  return half_at(row * cols + col);
}

/** 4 values of `row` from column c, element by element; 0 past cols. */
fn half4_masked(base: u32, c: u32, cols: u32) -> vec4<f32> {
  let e = base + c;
  let last = base + cols - 1u;
  return select(
    vec4<f32>(0.0),
    vec4<f32>(half_at(min(e, last)), half_at(min(e + 1u, last)), half_at(min(e + 2u, last)), half_at(min(e + 3u, last))),
    vec4<u32>(c, c + 1u, c + 2u, c + 3u) < vec4<u32>(cols),
  );
}

/** 4 values from an even element index (two whole words). */
fn half4_aligned(e: u32) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(w_half[e >> 1u]), unpack2x16float(w_half[(e >> 1u) + 1u]));
}

fn weight_group_dot(row: u32, g: u32, cols: u32, xg: array<vec4<f32>, 8>) -> f32 {
  let base = row * cols;
  let c = g * 32u;
  let e = base + c;
  if (c + 32u <= cols && (e & 1u) == 0u) {
    // Whole group on a word boundary (even cols): 16 words, no masking.
    return dot(half4_aligned(e), xg[0]) + dot(half4_aligned(e + 4u), xg[1]) +
      dot(half4_aligned(e + 8u), xg[2]) + dot(half4_aligned(e + 12u), xg[3]) +
      dot(half4_aligned(e + 16u), xg[4]) + dot(half4_aligned(e + 20u), xg[5]) +
      dot(half4_aligned(e + 24u), xg[6]) + dot(half4_aligned(e + 28u), xg[7]);
  }
  return dot(half4_masked(base, c, cols), xg[0]) + dot(half4_masked(base, c + 4u, cols), xg[1]) +
    dot(half4_masked(base, c + 8u, cols), xg[2]) + dot(half4_masked(base, c + 12u, cols), xg[3]) +
    dot(half4_masked(base, c + 16u, cols), xg[4]) + dot(half4_masked(base, c + 20u, cols), xg[5]) +
    dot(half4_masked(base, c + 24u, cols), xg[6]) + dot(half4_masked(base, c + 28u, cols), xg[7]);
}

fn weight_load8(row: u32, col8: u32, cols: u32) -> array<vec4<f32>, 2> {
  let base = row * cols;
  let e = base + col8;
  if (col8 + 8u <= cols && (e & 1u) == 0u) {
    return array<vec4<f32>, 2>(half4_aligned(e), half4_aligned(e + 4u));
  }
  return array<vec4<f32>, 2>(half4_masked(base, col8, cols), half4_masked(base, col8 + 4u, cols));
}
