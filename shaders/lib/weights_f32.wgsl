// Weight access for dense float32 matrices. Every weights_*.wgsl file defines the same three functions
// over its own bindings 5.. so matmul_gemv, matmul_gemm and embed are written once for all formats.
// `row` is the row within the bound weight part (a split matrix binds one part per dispatch).
// Group arrays are only ever indexed with constants: dynamic indexing of private arrays turns into
// gathers on SIMD-across-invocations implementations (SwiftShader) and into local memory elsewhere.

@group(0) @binding(5) var<storage, read> w_dense: array<f32>; // [rows, cols] row-major

fn weight_value(row: u32, col: u32, cols: u32) -> f32 {
  return w_dense[row * cols + col];
}

/** 4 values of `row` from column c; 0 past cols (the select also hides whatever the clamped read returned). */
fn dense4(base: u32, c: u32, cols: u32) -> vec4<f32> {
  let last = base + cols - 1u;
  return select(
    vec4<f32>(0.0),
    vec4<f32>(w_dense[min(base + c, last)], w_dense[min(base + c + 1u, last)], w_dense[min(base + c + 2u, last)], w_dense[min(base + c + 3u, last)]),
    vec4<u32>(c, c + 1u, c + 2u, c + 3u) < vec4<u32>(cols),
  );
}

/** Dot of group g of `row` (cols 32g..32g+31) with 32 activations (zero past cols). */
fn weight_group_dot(row: u32, g: u32, cols: u32, xg: array<vec4<f32>, 8>) -> f32 {
  let base = row * cols;
  let c = g * 32u;
  if (c + 32u <= cols) {
    // Whole group inside the row: plain loads.
    let o = base + c;
    return dot(vec4<f32>(w_dense[o], w_dense[o + 1u], w_dense[o + 2u], w_dense[o + 3u]), xg[0]) +
      dot(vec4<f32>(w_dense[o + 4u], w_dense[o + 5u], w_dense[o + 6u], w_dense[o + 7u]), xg[1]) +
      dot(vec4<f32>(w_dense[o + 8u], w_dense[o + 9u], w_dense[o + 10u], w_dense[o + 11u]), xg[2]) +
      dot(vec4<f32>(w_dense[o + 12u], w_dense[o + 13u], w_dense[o + 14u], w_dense[o + 15u]), xg[3]) +
      dot(vec4<f32>(w_dense[o + 16u], w_dense[o + 17u], w_dense[o + 18u], w_dense[o + 19u]), xg[4]) +
      dot(vec4<f32>(w_dense[o + 20u], w_dense[o + 21u], w_dense[o + 22u], w_dense[o + 23u]), xg[5]) +
      dot(vec4<f32>(w_dense[o + 24u], w_dense[o + 25u], w_dense[o + 26u], w_dense[o + 27u]), xg[6]) +
      dot(vec4<f32>(w_dense[o + 28u], w_dense[o + 29u], w_dense[o + 30u], w_dense[o + 31u]), xg[7]);
  }
  return dot(dense4(base, c, cols), xg[0]) + dot(dense4(base, c + 4u, cols), xg[1]) +
    dot(dense4(base, c + 8u, cols), xg[2]) + dot(dense4(base, c + 12u, cols), xg[3]) +
    dot(dense4(base, c + 16u, cols), xg[4]) + dot(dense4(base, c + 20u, cols), xg[5]) +
    dot(dense4(base, c + 24u, cols), xg[6]) + dot(dense4(base, c + 28u, cols), xg[7]);
}

/** Values of cols col8..col8+7 of `row` (col8 a multiple of 8) as two vec4s; 0 past cols. */
fn weight_load8(row: u32, col8: u32, cols: u32) -> array<vec4<f32>, 2> {
  let base = row * cols;
  return array<vec4<f32>, 2>(dense4(base, col8, cols), dense4(base, col8 + 4u, cols));
}
