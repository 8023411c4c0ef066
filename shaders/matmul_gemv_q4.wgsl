// matmul, decode path for Q4 weights whose rows are whole 32-column groups (every real GLM matrix):
//   out[row] = x · W[row]ᵀ + bias[row] + residual_scale * residual[row]
// optionally with the RMSNorm in front of the projection fused as a prologue (NORM: x -> RMSNorm(x)),
// and the MLP's up projection fused with its activation (ACTIVATION; no residual then):
//   swiglu: out[row] = silu(x · W[row]ᵀ + bias[row]) * (x · W[row + half]ᵀ + bias[row + half]),  row < half
//   gelu:   out[row] = gelu(x · W[row]ᵀ + bias[row])
// Prepended in TS: lib/act_*.wgsl, lib/dispatch.wgsl, lib/activations.wgsl, the epilogue (one of
// lib/gemv_store.wgsl: bias / residual / activation, or lib/gemv_store_rope.wgsl: the qkv projection's
// bias + RoPE + KV-cache append, which saves the ropeKvAppend dispatch) and lib/weights_q4.wgsl or
// lib/weights_qx.wgsl (weight_group_dot_prescaled: codes turned into floats without conversion instructions).
//
// Decode reads every weight byte once per token, so this kernel is about keeping enough loads in
// flight: THREADS_PER_ROW lanes share a set of 4 rows (8 with SWIGLU) and walk their 32-column groups
// with that stride, so a warp reads 16-byte words of neighbouring groups (coalesced). Each lane loads
// its group's 32 activations straight from global memory as 8 vec4 (they stay in L1: x is at most a
// few tens of KiB) and reuses them for all of its rows. There is no shared staging of x and no barrier
// inside the loop, unlike matmul_gemv.wgsl, which stays the general kernel (any width, every format).
// The lanes' partial sums meet in a shared-memory tree at the end.

struct MatmulParams {
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
  // The RoPE epilogue's fields (lib/gemv_store_rope.wgsl); zero otherwise.
  num_heads: u32,      // H: rows 0..H·D-1 are q
  num_kv_heads: u32,   // Hkv: then Hkv·D rows of k, then Hkv·D rows of v
  head_dim: u32,       // D, a multiple of 4
  rotary_dim: u32,     // rotated dims at the start of each head (even)
  slot: u32,           // KV-cache slot of the token
  position: i32,       // its RoPE position
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> x: array<vec4<act>>;        // [n, cols / 4]
@group(0) @binding(2) var<storage, read_write> out: array<act>;      // [n, out_stride]
// bindings 3, 4 (and 9, 10 for RoPE): the epilogue's, declared by lib/gemv_store*.wgsl
// bindings 5..7: the Q4 weight part, declared by lib/weights_q4.wgsl
@group(0) @binding(8) var<storage, read> norm_weight: array<vec4<f32>>; // [cols / 4] NORM's gain, or a dummy

override WORKGROUP_SIZE: u32 = 256u;   // power of two
override THREADS_PER_ROW: u32 = 32u;   // power of two, <= WORKGROUP_SIZE
override ACTIVATION: u32 = 0u;        // 0: none, 1: swiglu (gate/up halves), 2: gelu
override SWIGLU: bool = ACTIVATION == 1u;
override NORM: bool = false;           // RMSNorm prologue: x -> x / rms(x) * norm_weight
const ROWS_PER_THREAD = 4u;
override ROWS_PER_WORKGROUP: u32 = WORKGROUP_SIZE / THREADS_PER_ROW * ROWS_PER_THREAD;

var<workgroup> partial: array<vec4<f32>, WORKGROUP_SIZE>;
var<workgroup> partial_up: array<vec4<f32>, WORKGROUP_SIZE>;

/** The 32 activations of group g (x_base: the token's row, in vec4s), normalized when NORM (inv_rms). */
fn x_group(x_base: u32, g: u32, inv_rms: f32) -> array<vec4<f32>, 8> {
  let at = x_base + g * 8u;
  var xg = array<vec4<f32>, 8>(
    vec4<f32>(x[at]), vec4<f32>(x[at + 1u]), vec4<f32>(x[at + 2u]), vec4<f32>(x[at + 3u]),
    vec4<f32>(x[at + 4u]), vec4<f32>(x[at + 5u]), vec4<f32>(x[at + 6u]), vec4<f32>(x[at + 7u]),
  );
  if (NORM) {
    // Same products, in the same order, as rms_norm.wgsl: x * inv * weight.
    for (var i = 0u; i < 8u; i++) {
      xg[i] = xg[i] * inv_rms * norm_weight[g * 8u + i];
    }
  }
  return xg;
}

/**
 * NORM: 1 / sqrt(mean(x²) + eps) of the token's row, computed by every workgroup for itself (x is a
 * few KiB in L2; a separate norm kernel would cost a dispatch and a round trip through memory).
 */
fn inverse_rms(x_base: u32, cols: u32, lid: u32) -> f32 {
  var ss = 0.0;
  for (var c = lid; c < cols / 4u; c += WORKGROUP_SIZE) {
    let v = vec4<f32>(x[x_base + c]);
    ss += dot(v, v);
  }
  partial[lid] = vec4<f32>(ss, 0.0, 0.0, 0.0);
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partial[lid].x += partial[lid + stride].x;
    }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(partial[0].x / f32(cols) + params.norm_eps);
  workgroupBarrier(); // `partial` is reused for the row sums
  return inv;
}

/**
 * The four rows' dot products with one group (rows past the end are clamped: computed, never stored),
 * from the group's pre-scaled activations (lib/weights_q4.wgsl, weight_group_dot_prescaled).
 */
fn dot4(rows: vec4<u32>, g: u32, cols: u32, xs: array<vec4<f32>, 8>, xsum: f32) -> vec4<f32> {
  return vec4<f32>(
    weight_group_dot_prescaled(rows.x, g, cols, xs, xsum),
    weight_group_dot_prescaled(rows.y, g, cols, xs, xsum),
    weight_group_dot_prescaled(rows.z, g, cols, xs, xsum),
    weight_group_dot_prescaled(rows.w, g, cols, xs, xsum),
  );
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = wid.z;
  let lane = lid % THREADS_PER_ROW;
  let row = linear_workgroup(wid, nwg) * ROWS_PER_WORKGROUP + (lid / THREADS_PER_ROW) * ROWS_PER_THREAD;
  let cols = params.cols;
  let groups = cols / 32u;
  let last = max(params.rows, 1u) - 1u;
  let rows = min(vec4<u32>(row) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
  let x_base = t * (cols / 4u);

  var inv_rms = 1.0;
  if (NORM) {
    inv_rms = inverse_rms(x_base, cols, lid);
  }
  var acc = vec4<f32>(0.0);
  var acc_up = vec4<f32>(0.0);
  if (row < params.rows) {
    for (var g = lane; g < groups; g += THREADS_PER_ROW) {
      let xg = x_group(x_base, g, inv_rms);
      let xs = q4_prescale(xg);
      let xsum = dot(xg[0] + xg[1] + xg[2] + xg[3] + xg[4] + xg[5] + xg[6] + xg[7], vec4<f32>(1.0));
      acc += dot4(rows, g, cols, xs, xsum);
      if (SWIGLU) {
        acc_up += dot4(rows + vec4<u32>(params.half), g, cols, xs, xsum);
      }
    }
  }

  partial[lid] = acc;
  if (SWIGLU) {
    partial_up[lid] = acc_up;
  }
  workgroupBarrier();
  for (var stride = THREADS_PER_ROW / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) {
      partial[lid] = partial[lid] + partial[lid + stride];
      if (SWIGLU) {
        partial_up[lid] = partial_up[lid] + partial_up[lid + stride];
      }
    }
    workgroupBarrier();
  }

  if (lane == 0u) {
    let total = partial[lid];
    var up = vec4<f32>(0.0);
    if (SWIGLU) {
      up = partial_up[lid];
    }
    store4(t, row, total, up);
  }
}
