// matmul, decode path (one token per dispatch z): out[row] = x · W[row]ᵀ + bias[row] + residual_scale * residual[row].
// Prepended in TS: lib/act_*.wgsl (storage type `act`), lib/dispatch.wgsl and one lib/weights_*.wgsl
// (weight_group_dot for f32, f16-pair, Q4 or Q8 weights), so this file serves matmulF32, matmulF16,
// matmulQ4 and matmulQ8.
//
// The activations are staged in shared memory X_CHUNK columns at a time (coalesced global reads, then
// conflict-free shared reads: each 32-column group is padded by one float so that lanes reading
// different groups hit different banks). THREADS_PER_ROW lanes share a set of 4 consecutive output
// rows: each lane walks the rows' 32-column groups with that stride (neighbouring lanes read
// neighbouring groups: coalesced 16-byte loads for Q4), builds the group's 32 activations once and uses
// them for all 4 rows, keeping the 4 sums in one vec4. The lanes' vec4 partials are then added with a
// shared-memory tree over THREADS_PER_ROW. A workgroup holds WORKGROUP_SIZE / THREADS_PER_ROW lane
// sets, i.e. ROWS_PER_WORKGROUP rows. GpuOps picks THREADS_PER_ROW = the row's group count rounded up
// to a power of two, capped at 32, so short rows (the tiny test models) do not idle most lanes.

struct MatmulParams {
  n: u32,              // tokens: rows of x and out (dispatch z = token)
  cols: u32,           // input features (K)
  rows: u32,           // output features held by the bound weight part
  row_offset: u32,     // output feature of the part's first row (split weights)
  out_stride: u32,     // output features of the whole weight = row width of out and residual
  has_bias: u32,       // 1: add bias
  has_residual: u32,   // 1: add residual_scale * residual
  residual_scale: f32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> x: array<act>;              // [n, cols]
@group(0) @binding(2) var<storage, read_write> out: array<act>;      // [n, out_stride]
@group(0) @binding(3) var<storage, read> bias: array<f32>;           // [out_stride], or a dummy when has_bias == 0
@group(0) @binding(4) var<storage, read> residual: array<act>;       // [n, out_stride], or a dummy when has_residual == 0
// bindings 5.. : the weight part, declared by lib/weights_*.wgsl

override WORKGROUP_SIZE: u32 = 128u;   // power of two
override THREADS_PER_ROW: u32 = 32u;   // power of two, <= WORKGROUP_SIZE
const ROWS_PER_THREAD = 4u;            // the components of one vec4 accumulator
override ROWS_PER_WORKGROUP: u32 = WORKGROUP_SIZE / THREADS_PER_ROW * ROWS_PER_THREAD;

const X_CHUNK = 2048u;                 // activation columns staged per pass (64 groups)
const X_GROUP_STRIDE = 33u;            // shared floats per group: 32 + 1 of skew

var<workgroup> partial: array<vec4<f32>, WORKGROUP_SIZE>;
var<workgroup> x_shared: array<f32, X_CHUNK / 32u * X_GROUP_STRIDE>; // [group of the chunk][32 + 1]

fn xs4(i: u32) -> vec4<f32> {
  return vec4<f32>(x_shared[i], x_shared[i + 1u], x_shared[i + 2u], x_shared[i + 3u]);
}

fn store(t: u32, row: u32, value: f32) {
  if (row < params.rows) {
    let o = params.row_offset + row;
    var v = value;
    if (params.has_bias != 0u) {
      v += bias[o];
    }
    if (params.has_residual != 0u) {
      v += params.residual_scale * f32(residual[t * params.out_stride + o]);
    }
    out[t * params.out_stride + o] = act(v);
  }
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
  let rows = params.rows;
  let groups = (params.cols + 31u) / 32u;
  let x_base = t * params.cols;

  var acc = vec4<f32>(0.0); // rows row .. row + 3
  for (var c0 = 0u; c0 < params.cols; c0 += X_CHUNK) {
    let chunk = min(X_CHUNK, params.cols - c0);
    // Whole groups are staged (zeros past cols), so every group read below is complete.
    for (var i = lid; i < (chunk + 31u) / 32u * 32u; i += WORKGROUP_SIZE) {
      var v = 0.0;
      if (c0 + i < params.cols) {
        v = f32(x[x_base + c0 + i]);
      }
      x_shared[i / 32u * X_GROUP_STRIDE + i % 32u] = v;
    }
    workgroupBarrier();
    if (row < rows) {
      let g0 = c0 / 32u;
      let g_end = min(groups, g0 + X_CHUNK / 32u);
      for (var g = g0 + lane; g < g_end; g += THREADS_PER_ROW) {
        let s = (g - g0) * X_GROUP_STRIDE;
        let xg = array<vec4<f32>, 8>(
          xs4(s), xs4(s + 4u), xs4(s + 8u), xs4(s + 12u), xs4(s + 16u), xs4(s + 20u), xs4(s + 24u), xs4(s + 28u),
        );
        acc.x += weight_group_dot(row, g, params.cols, xg);
        if (row + 1u < rows) {
          acc.y += weight_group_dot(row + 1u, g, params.cols, xg);
        }
        if (row + 2u < rows) {
          acc.z += weight_group_dot(row + 2u, g, params.cols, xg);
        }
        if (row + 3u < rows) {
          acc.w += weight_group_dot(row + 3u, g, params.cols, xg);
        }
      }
    }
    // The next chunk overwrites x_shared only after every lane is done with this one.
    workgroupBarrier();
  }

  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = THREADS_PER_ROW / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) {
      partial[lid] = partial[lid] + partial[lid + stride];
    }
    workgroupBarrier();
  }

  if (lane == 0u) {
    let total = partial[lid];
    store(t, row, total.x);
    store(t, row + 1u, total.y);
    store(t, row + 2u, total.z);
    store(t, row + 3u, total.w);
  }
}
