// The parameters of matmul_gemv_q4.wgsl and its input / epilogue libraries, declared once. Written by
// writeGemv4Params (src/gpu/gemv-params.ts), whose field list tests/unit/gemv-params.test.ts checks
// against this struct, name by name and type by type.
struct Gemv4Params {
  n: u32,              // tokens: rows of x and out (dispatch z = token)
  cols: u32,           // input features, a multiple of 32
  rows: u32,           // output rows computed (SWIGLU: the gate half)
  row_offset: u32,     // output feature of the part's first row (split weights)
  out_stride: u32,     // row width of out and residual
  has_bias: u32,       // 1: add bias
  has_residual: u32,   // 1: add residual_scale * residual
  residual_scale: f32,
  half: u32,           // SWIGLU: weight rows of the gate half (the up rows follow)
  norm_eps: f32,       // NORM: the RMSNorm epsilon
  // The RoPE epilogue's fields (lib/gemv_store_rope.wgsl; head_dim also the merge prologue's); zero otherwise.
  num_heads: u32,      // H: rows 0..H·D-1 are q
  num_kv_heads: u32,   // Hkv: then Hkv·D rows of k, then Hkv·D rows of v
  head_dim: u32,       // D, a multiple of 4
  rotary_dim: u32,     // rotated dims at the start of each head (even)
  slot: u32,           // KV-cache slot of the token
  position: i32,       // its RoPE position
  tiles: u32,          // the attention-merge prologue (lib/gemv_input_merge.wgsl): key tiles per head
}
