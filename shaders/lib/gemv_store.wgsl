// The plain epilogue of matmul_gemv_q4.wgsl: bias, then the MLP activation or residual_scale · residual.
// (The other epilogue, lib/gemv_store_rope.wgsl, defines the same store4 for the qkv projection.)

@group(0) @binding(3) var<storage, read> bias: array<f32>;           // or a dummy when has_bias == 0
@group(0) @binding(4) var<storage, read> residual: array<act>;       // or a dummy when has_residual == 0

fn with_bias(o: u32, v: f32) -> f32 {
  if (params.has_bias != 0u) {
    return v + bias[o];
  }
  return v;
}

fn store(t: u32, row: u32, value: f32, up: f32) {
  if (row >= params.rows) {
    return;
  }
  let o = params.row_offset + row;
  var v = with_bias(o, value);
  if (SWIGLU) {
    v = silu(v) * with_bias(o + params.half, up);
  } else if (ACTIVATION == 2u) {
    v = gelu_tanh(v);
  }
  if (params.has_residual != 0u) {
    v += params.residual_scale * f32(residual[t * params.out_stride + o]);
  }
  out[t * params.out_stride + o] = act(v);
}

/** Rows row..row+3 of token t (the GEMV's four accumulators; `up`: SWIGLU's up halves). */
fn store4(t: u32, row: u32, value: vec4<f32>, up: vec4<f32>) {
  store(t, row, value.x, up.x);
  store(t, row + 1u, value.y, up.y);
  store(t, row + 2u, value.z, up.z);
  store(t, row + 3u, value.w, up.w);
}
