// matmul, decode path for Q4 weights whose rows are whole 32-column groups (every real GLM matrix):
//   out[row] = x · W[row]ᵀ + bias[row] + residual_scale * residual[row]
// optionally with the RMSNorm in front of the projection fused as a prologue (NORM: x -> RMSNorm(x)),
// and the MLP's up projection fused with its activation (ACTIVATION; no residual then):
//   swiglu: out[row] = silu(x · W[row]ᵀ + bias[row]) * (x · W[row + half]ᵀ + bias[row + half]),  row < half
//   gelu:   out[row] = gelu(x · W[row]ᵀ + bias[row])
// Prepended in TS: lib/act_*.wgsl, lib/dispatch.wgsl, lib/activations.wgsl, the input (lib/gemv_input.wgsl:
// x, with the optional RMSNorm prologue, or lib/gemv_input_merge.wgsl: the decode attention's per-tile
// partials, merged on the fly, which saves the attentionCombine dispatch), the epilogue (one of
// lib/gemv_store.wgsl: bias / residual / activation, or lib/gemv_store_rope.wgsl: the qkv projection's
// bias + RoPE + KV-cache append, which saves the ropeKvAppend dispatch), lib/weights_q4.wgsl or
// lib/weights_qx.wgsl, and the group dot: lib/gemv_group_float.wgsl (weight_group_dot_prescaled: codes
// turned into floats without conversion instructions) or, for Q4 where WGSL has
// packed_4x8_integer_dot_product, lib/gemv_group_int8.wgsl + lib/weights_q4_int8.wgsl (activations
// quantized to int8 per group, dot4I8Packed; GpuOpsOptions.gemv).
//
// Decode reads every weight byte once per token, so this kernel is about keeping enough loads in
// flight: THREADS_PER_ROW lanes share a set of 4 rows (8 with SWIGLU) and walk their 32-column groups
// with that stride, so a warp reads 16-byte words of neighbouring groups (coalesced). Each lane loads
// its group's 32 activations straight from global memory as 8 vec4 (they stay in L1: x is at most a
// few tens of KiB) and reuses them for all of its rows. There is no shared staging of x and no barrier
// inside the loop, unlike matmul_gemv.wgsl, which stays the general kernel (any width, every format).
// The lanes' partial sums meet in a shared-memory tree at the end.

// The parameter struct Gemv4Params: lib/gemv_params.wgsl (written by src/gpu/gemv-params.ts).

@group(0) @binding(0) var<uniform> params: Gemv4Params;
// binding 1 (and 8): the input's, declared by lib/gemv_input*.wgsl with x_group and inverse_rms
@group(0) @binding(2) var<storage, read_write> out: array<act>;      // [n, out_stride]
// bindings 3, 4 (and 9, 10 for RoPE): the epilogue's, declared by lib/gemv_store*.wgsl
// bindings 5..7: the Q4 weight part, declared by lib/weights_q4.wgsl

override WORKGROUP_SIZE: u32 = 256u;   // power of two
override THREADS_PER_ROW: u32 = 32u;   // power of two, <= WORKGROUP_SIZE
override ACTIVATION: u32 = 0u;        // 0: none, 1: swiglu (gate/up halves), 2: gelu
override SWIGLU: bool = ACTIVATION == 1u;
override NORM: bool = false;           // RMSNorm prologue: x -> x / rms(x) * norm_weight
// Groups a lane takes per loop iteration (a power of two): their weight loads are independent of each
// other and unconditional, so the compiler can issue them together: more bytes in flight per lane.
override GROUPS_PER_ITERATION: u32 = 1u;
const ROWS_PER_THREAD = 4u;
override ROWS_PER_WORKGROUP: u32 = WORKGROUP_SIZE / THREADS_PER_ROW * ROWS_PER_THREAD;

var<workgroup> partial: array<vec4<f32>, WORKGROUP_SIZE>;
var<workgroup> partial_up: array<vec4<f32>, WORKGROUP_SIZE>;

/**
 * The four rows' dot products with one prepared group (rows past the end are clamped: computed, never
 * stored). GemvGroup, gemv_group and group_dot: lib/gemv_group_float.wgsl or lib/gemv_group_int8.wgsl.
 */
fn dot4(rows: vec4<u32>, g: u32, cols: u32, grp: GemvGroup) -> vec4<f32> {
  return vec4<f32>(
    group_dot(rows.x, g, cols, grp),
    group_dot(rows.y, g, cols, grp),
    group_dot(rows.z, g, cols, grp),
    group_dot(rows.w, g, cols, grp),
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
    for (var g0 = lane; g0 < groups; g0 += THREADS_PER_ROW * GROUPS_PER_ITERATION) {
      for (var u = 0u; u < GROUPS_PER_ITERATION; u++) {
        // Past the row's end a group is clamped to the last one (in bounds, no branch) and its sums dropped.
        let gu = g0 + u * THREADS_PER_ROW;
        let g = min(gu, groups - 1u);
        let valid = gu < groups;
        let grp = gemv_group(x_group(x_base, g, inv_rms));
        acc += select(vec4<f32>(0.0), dot4(rows, g, cols, grp), valid);
        if (SWIGLU) {
          acc_up += select(vec4<f32>(0.0), dot4(rows + vec4<u32>(params.half), g, cols, grp), valid);
        }
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
