// The float group dot of matmul_gemv_q4.wgsl (the default where WGSL lacks packed_4x8_integer_dot_product,
// and `gemv: 'float'`): a lane prepares its group's 32 activations once (pre-scaled for the nibble trick
// of lib/q4_nibbles.wgsl, plus their plain sum) and dots them with each of its rows.
// (The other one, lib/gemv_group_int8.wgsl, defines the same struct name and two functions.)

struct GemvGroup {
  xs: array<vec4<f32>, 8>, // the activations pre-scaled by q4_prescale
  xsum: f32,               // their plain sum (the zero point / min term)
}

fn gemv_group(xg: array<vec4<f32>, 8>) -> GemvGroup {
  let xsum = dot(xg[0] + xg[1] + xg[2] + xg[3] + xg[4] + xg[5] + xg[6] + xg[7], vec4<f32>(1.0));
  return GemvGroup(q4_prescale(xg), xsum);
}

/** One row's dot product with the prepared group g. */
fn group_dot(row: u32, g: u32, cols: u32, grp: GemvGroup) -> f32 {
  return weight_group_dot_prescaled(row, g, cols, grp.xs, grp.xsum);
}
