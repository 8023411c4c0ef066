// The attention-merge input of matmul_gemv_q4.wgsl (the output projection of one decode token): x is
// the attention output, which attention_split.wgsl leaves as per-tile softmax partials; each lane
// merges the 32 columns of its group itself, with the arithmetic of attention_combine.wgsl:
//   M = max_t m_t,  L = sum_t exp(m_t - M)·l_t,  x[d] = sum_t exp(m_t - M)·PV_t[d] / L.
// A group of 32 columns lies in one head (GpuOps takes this path when head_dim % 32 == 0), and GpuOps
// fuses only up to a few tiles (short contexts), since every lane re-reads its head's partials.

@group(0) @binding(1) var<storage, read> partials: array<f32>; // [H, tiles, head_dim + 2]: m, l, P·V

/** Columns 32g..32g+31 of the merged attention output (x_base, inv_rms: unused, one token, no norm). */
fn x_group(x_base: u32, g: u32, inv_rms: f32) -> array<vec4<f32>, 8> {
  let D = params.head_dim;
  let stride = D + 2u;
  let h = (g * 32u) / D;
  let d0 = (g * 32u) % D;
  let base = h * params.tiles * stride;
  var m = partials[base];
  for (var t = 1u; t < params.tiles; t++) {
    m = max(m, partials[base + t * stride]);
  }
  var l = 0.0;
  for (var t = 0u; t < params.tiles; t++) {
    l += exp(partials[base + t * stride] - m) * partials[base + t * stride + 1u];
  }
  var xg: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) {
    var acc = vec4<f32>(0.0);
    for (var t = 0u; t < params.tiles; t++) {
      let row = base + t * stride;
      let e = exp(partials[row] - m);
      let at = row + 2u + d0 + 4u * i;
      acc += e * vec4<f32>(partials[at], partials[at + 1u], partials[at + 2u], partials[at + 3u]);
    }
    xg[i] = vec4<f32>(vec4<act>(acc / l)); // rounded to the storage type, as attention_combine.wgsl stores it
  }
  return xg;
}

/** No norm in front of the output projection. */
fn inverse_rms(x_base: u32, cols: u32, lid: u32) -> f32 {
  return 1.0;
}
