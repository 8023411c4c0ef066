// matmul, prefill path (n > 1 tokens): out = x · Wᵀ + bias + residual_scale * residual, tiled.
// Same prepended libs as matmul_gemv.wgsl (weights_*.wgsl supplies weight_load8), so it serves
// matmulF32, matmulF16, matmulQ4 and matmulQ8.
//
// A THREADS_X x THREADS_Y workgroup computes a tile of TILE_TOKENS = 2·THREADS_Y tokens x TILE_ROWS =
// 4·THREADS_X output rows. The input dimension is walked one 32-column group at a time: the x tile and
// the dequantized weight tile are staged in shared memory (stride 33 to spread banks), then invocation
// (tx, ty) accumulates tokens ty and ty + THREADS_Y against rows 4tx..4tx+3 in two vec4 registers.
// GpuOps shrinks THREADS_X / THREADS_Y for small problems (few tokens or rows), so a 3-token matmul
// does not run a 32-token tile of mostly idle invocations.

struct MatmulParams {
  n: u32,              // tokens: rows of x and out
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

// The register block (2 tokens x 4 rows per invocation) is written out by hand; the thread grid is
// tunable.
override THREADS_X: u32 = 16u;          // invocations along output rows
override THREADS_Y: u32 = 16u;          // invocations along tokens
override THREADS: u32 = THREADS_X * THREADS_Y;
override TILE_TOKENS: u32 = 2u * THREADS_Y;
override TILE_ROWS: u32 = 4u * THREADS_X;
const STRIDE = 33u;                     // shared row stride: 32 columns + 1 of padding

var<workgroup> x_tile: array<f32, TILE_TOKENS * STRIDE>; // [token][k]
var<workgroup> w_tile: array<f32, TILE_ROWS * STRIDE>;   // [row][k]

fn store(t: u32, row: u32, value: f32) {
  if (t < params.n && row < params.rows) {
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

@compute @workgroup_size(THREADS_X, THREADS_Y)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row0 = wid.x * TILE_ROWS;
  let t0 = wid.y * TILE_TOKENS;
  let tx = lid3.x;
  let ty = lid3.y;
  let cols = params.cols;
  let groups = (cols + 31u) / 32u;

  var acc0 = vec4<f32>(0.0); // token t0 + ty, rows row0 + 4tx .. +3
  var acc1 = vec4<f32>(0.0); // token t0 + ty + 16
  for (var g = 0u; g < groups; g++) {
    let c0 = g * 32u;
    // x tile: consecutive invocations read consecutive columns of one token.
    for (var u = lid; u < TILE_TOKENS * 32u; u += THREADS) {
      let tt = u / 32u;
      let k = u % 32u;
      var v = 0.0;
      if (t0 + tt < params.n && c0 + k < cols) {
        v = f32(x[(t0 + tt) * cols + c0 + k]);
      }
      x_tile[tt * STRIDE + k] = v;
    }
    // Weight tile: each unit is 8 consecutive columns of one row (one Q4 word).
    for (var u = lid; u < TILE_ROWS * 4u; u += THREADS) {
      let r = u / 4u;
      let k = 8u * (u % 4u);
      var v = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (row0 + r < params.rows) {
        v = weight_load8(row0 + r, c0 + k, cols);
      }
      let o = r * STRIDE + k;
      w_tile[o] = v[0].x;
      w_tile[o + 1u] = v[0].y;
      w_tile[o + 2u] = v[0].z;
      w_tile[o + 3u] = v[0].w;
      w_tile[o + 4u] = v[1].x;
      w_tile[o + 5u] = v[1].y;
      w_tile[o + 6u] = v[1].z;
      w_tile[o + 7u] = v[1].w;
    }
    workgroupBarrier();

    let xa = ty * STRIDE;
    let xb = (ty + THREADS_Y) * STRIDE;
    let wb = 4u * tx * STRIDE;
    for (var k = 0u; k < 32u; k++) {
      let b = vec4<f32>(w_tile[wb + k], w_tile[wb + STRIDE + k], w_tile[wb + 2u * STRIDE + k], w_tile[wb + 3u * STRIDE + k]);
      acc0 += x_tile[xa + k] * b;
      acc1 += x_tile[xb + k] * b;
    }
    workgroupBarrier();
  }

  let r = 4u * tx;
  let ta = t0 + ty;
  let tb = t0 + ty + THREADS_Y;
  store(ta, row0 + r, acc0.x);
  store(ta, row0 + r + 1u, acc0.y);
  store(ta, row0 + r + 2u, acc0.z);
  store(ta, row0 + r + 3u, acc0.w);
  store(tb, row0 + r, acc1.x);
  store(tb, row0 + r + 1u, acc1.y);
  store(tb, row0 + r + 2u, acc1.z);
  store(tb, row0 + r + 3u, acc1.w);
}
