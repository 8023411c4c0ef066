// RoPE's cos and sin, shared by rope_kv_append.wgsl and the qkv GEMV's RoPE epilogue (lib/gemv_store_rope.wgsl).
// cos and sin are evaluated here rather than with the builtins: WGSL only bounds their error to 2^-11
// absolute inside [-π, π] (SwiftShader is that coarse), while RoPE needs ~1 ulp at angles up to the
// context length. Cody–Waite reduction by π/2 (PIO2_1..3 have 6 significant bits, so j·PIO2_i is exact
// for quadrant counts j < 2^18, i.e. angles up to ~4e5 rad; PIO2_4 carries the rest), then the Cephes
// sinf/cosf minimax polynomials on [-π/4, π/4].
const TWO_OVER_PI = 0.6366197466850281;
const PIO2_1 = 1.5625;
const PIO2_2 = 0.008056640625;
const PIO2_3 = 0.00023651123046875;
const PIO2_4 = 0.0000031749393656355096;

/** (cos, sin) of an angle of any size. */
fn cos_sin(angle: f32) -> vec2<f32> {
  let j = round(angle * TWO_OVER_PI);
  let r = (((angle - j * PIO2_1) - j * PIO2_2) - j * PIO2_3) - j * PIO2_4;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (i32(j) & 3) {
    case 0: { return vec2<f32>(c, s); }
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}
