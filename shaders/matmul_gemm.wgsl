// matmul, prefill path (n > 1 tokens): out = x · Wᵀ + bias + residual_scale * residual, tiled.
// Same prepended libs as matmul_gemv.wgsl (weights_*.wgsl supplies weight_load8), so it serves
// matmulF32, matmulF16, matmulQ4 and matmulQ8.
//
// Tiles. A THREADS_X x THREADS_Y workgroup computes TILE_TOKENS = 4·TOKEN_VECS·THREADS_Y tokens x
// TILE_ROWS = 4·ROW_VECS·THREADS_X output rows; invocation (tx, ty) holds a register block of
// 4·TOKEN_VECS tokens x 4·ROW_VECS rows (up to 8 x 8 = 16 vec4 accumulators): token quads ty and
// ty + THREADS_Y, row quads tx and tx + THREADS_X of the tile (a "quad" is 4 consecutive tokens or
// rows). src/gpu/gemm-tiling.ts picks the shape: 64 tokens x 128 rows (4 x 8 blocks) or 128 x 128
// (8 x 8) for large prefills, 64 x 64 (4 x 4) when those leave too few workgroups, a shrunk thread grid
// for few tokens / rows.
//
// K is walked BK (16 or 32) columns per step. Both operands are staged in shared memory as vec4s,
// transposed so that one vec4 is a quad at one column:
//   x_tile[q * KPAD + k]  x of tokens 4q .. 4q+3 of the tile at column k0 + k
//   w_tile[q * KPAD + k]  dequantized weights of rows 4q .. 4q+3 of the tile at column k0 + k
// One k then costs TOKEN_VECS + ROW_VECS vec4 reads for 16·TOKEN_VECS·ROW_VECS FMAs (32 FMAs per 3
// reads at 4 x 8, 64 per 4 at 8 x 8). At a fixed k the invocations of a row of the workgroup read
// neighbouring quads; KPAD = BK + 1 (one vec4 of padding per quad) puts neighbouring quads in
// different banks, and all invocations of a column of the workgroup read the same vec4 (a broadcast).
// Storage: (TILE_TOKENS + TILE_ROWS) / 4 · (BK + 1) · 16 bytes (13 KiB for 64 x 128 at BK 16).
//
// Fill: a weight unit is 4 rows x 8 columns (4 weight_load8 calls, transposed into 8 vec4 stores), an
// x unit 4 tokens x 4 columns (16 loads, 4 vec4 stores); the column part of the unit index varies
// fastest across lanes, so neighbouring lanes read neighbouring words of a row. All units of a step
// are loaded and stored, then a barrier, then the FMAs, then a barrier. (Holding the next step's units
// in registers during the FMAs was measured slower on an H200: the extra registers cost occupancy.)
//
// Edges: x is zero past n tokens and past `cols` (so the zero-contributing padding of the last weight
// group meets zeros), weights are zero past `rows` and past `cols`, and the epilogue masks its stores.
// The row tiles may be folded over grid z (row tile = wid.z * nwg.x + wid.x) when they exceed
// maxComputeWorkgroupsPerDimension; surplus workgroups of the fold return at once.

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

// Set by GpuOps (src/gpu/gemm-tiling.ts); THREADS_X and THREADS_Y powers of two, the VECS 1 or 2.
override THREADS_X: u32 = 16u;          // invocations along output rows
override THREADS_Y: u32 = 16u;          // invocations along tokens
override ROW_VECS: u32 = 2u;            // row quads per invocation
override TOKEN_VECS: u32 = 2u;          // token quads per invocation
override BK: u32 = 16u;                 // columns per K step: 16 or 32
// Derived: never set from the host.
override THREADS: u32 = THREADS_X * THREADS_Y;
override ROW_QUADS: u32 = ROW_VECS * THREADS_X;       // row quads of the tile
override TOKEN_QUADS: u32 = TOKEN_VECS * THREADS_Y;   // token quads of the tile
override TILE_ROWS: u32 = 4u * ROW_QUADS;
override TILE_TOKENS: u32 = 4u * TOKEN_QUADS;
override W_UNITS: u32 = ROW_QUADS * (BK / 8u);        // weight fill units: 4 rows x 8 columns
override X_UNITS: u32 = TOKEN_QUADS * (BK / 4u);      // x fill units: 4 tokens x 4 columns
override KPAD: u32 = BK + 1u;                         // vec4s per quad in the tiles: BK + 1 padding

var<workgroup> x_tile: array<vec4<f32>, TOKEN_QUADS * KPAD>; // [token quad][k]
var<workgroup> w_tile: array<vec4<f32>, ROW_QUADS * KPAD>;   // [row quad][k]

/** 4 activations of token t from column c; 0 past n tokens or past cols. */
fn x_masked4(t: u32, c: u32) -> vec4<f32> {
  let n = params.n;
  let cols = params.cols;
  let last = n * cols - 1u;
  let o = min(t, n - 1u) * cols + c;
  let inside = vec4<u32>(c, c + 1u, c + 2u, c + 3u) < vec4<u32>(cols);
  return select(
    vec4<f32>(0.0),
    vec4<f32>(f32(x[min(o, last)]), f32(x[min(o + 1u, last)]), f32(x[min(o + 2u, last)]), f32(x[min(o + 3u, last)])),
    inside & vec4<bool>(t < n),
  );
}

/** x unit u: tokens t0 + 4q .. +3, columns k0 + 4kq .. +3, stored as 4 vec4s (one per column). */
fn fill_x(u: u32, t0: u32, k0: u32) {
  let kq = u % (BK / 4u);
  let q = u / (BK / 4u);
  let t = t0 + 4u * q;
  let c = k0 + 4u * kq;
  let cols = params.cols;
  var r0: vec4<f32>;
  var r1: vec4<f32>;
  var r2: vec4<f32>;
  var r3: vec4<f32>;
  if (t + 3u < params.n && c + 3u < cols) {
    let o0 = t * cols + c;
    let o1 = o0 + cols;
    let o2 = o1 + cols;
    let o3 = o2 + cols;
    r0 = vec4<f32>(f32(x[o0]), f32(x[o0 + 1u]), f32(x[o0 + 2u]), f32(x[o0 + 3u]));
    r1 = vec4<f32>(f32(x[o1]), f32(x[o1 + 1u]), f32(x[o1 + 2u]), f32(x[o1 + 3u]));
    r2 = vec4<f32>(f32(x[o2]), f32(x[o2 + 1u]), f32(x[o2 + 2u]), f32(x[o2 + 3u]));
    r3 = vec4<f32>(f32(x[o3]), f32(x[o3 + 1u]), f32(x[o3 + 2u]), f32(x[o3 + 3u]));
  } else {
    r0 = x_masked4(t, c);
    r1 = x_masked4(t + 1u, c);
    r2 = x_masked4(t + 2u, c);
    r3 = x_masked4(t + 3u, c);
  }
  let k = 4u * kq;
  x_tile[q * KPAD + k] = vec4<f32>(r0.x, r1.x, r2.x, r3.x);
  x_tile[q * KPAD + k + 1u] = vec4<f32>(r0.y, r1.y, r2.y, r3.y);
  x_tile[q * KPAD + k + 2u] = vec4<f32>(r0.z, r1.z, r2.z, r3.z);
  x_tile[q * KPAD + k + 3u] = vec4<f32>(r0.w, r1.w, r2.w, r3.w);
}

/** 8 weights of `row` from column col8, or zeros past rows / cols. */
fn w_masked8(row: u32, col8: u32) -> array<vec4<f32>, 2> {
  if (row < params.rows && col8 < params.cols) {
    return weight_load8(row, col8, params.cols);
  }
  return array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
}

/** Weight unit u: rows row0 + 4q .. +3, columns k0 + 8h .. +7, stored as 8 vec4s (one per column). */
fn fill_w(u: u32, row0: u32, k0: u32) {
  let h = u % (BK / 8u);
  let q = u / (BK / 8u);
  let r = row0 + 4u * q;
  let col8 = k0 + 8u * h;
  var w0: array<vec4<f32>, 2>;
  var w1: array<vec4<f32>, 2>;
  var w2: array<vec4<f32>, 2>;
  var w3: array<vec4<f32>, 2>;
  let cols = params.cols;
  if (r + 3u < params.rows && col8 < cols) {
    w0 = weight_load8(r, col8, cols);
    w1 = weight_load8(r + 1u, col8, cols);
    w2 = weight_load8(r + 2u, col8, cols);
    w3 = weight_load8(r + 3u, col8, cols);
  } else {
    w0 = w_masked8(r, col8);
    w1 = w_masked8(r + 1u, col8);
    w2 = w_masked8(r + 2u, col8);
    w3 = w_masked8(r + 3u, col8);
  }
  let k = 8u * h;
  w_tile[q * KPAD + k] = vec4<f32>(w0[0].x, w1[0].x, w2[0].x, w3[0].x);
  w_tile[q * KPAD + k + 1u] = vec4<f32>(w0[0].y, w1[0].y, w2[0].y, w3[0].y);
  w_tile[q * KPAD + k + 2u] = vec4<f32>(w0[0].z, w1[0].z, w2[0].z, w3[0].z);
  w_tile[q * KPAD + k + 3u] = vec4<f32>(w0[0].w, w1[0].w, w2[0].w, w3[0].w);
  w_tile[q * KPAD + k + 4u] = vec4<f32>(w0[1].x, w1[1].x, w2[1].x, w3[1].x);
  w_tile[q * KPAD + k + 5u] = vec4<f32>(w0[1].y, w1[1].y, w2[1].y, w3[1].y);
  w_tile[q * KPAD + k + 6u] = vec4<f32>(w0[1].z, w1[1].z, w2[1].z, w3[1].z);
  w_tile[q * KPAD + k + 7u] = vec4<f32>(w0[1].w, w1[1].w, w2[1].w, w3[1].w);
}

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

/** Tokens t .. t+3 (one per component of the accumulators) x rows row .. row+3. */
fn store_block(t: u32, row: u32, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>) {
  if (t >= params.n || row >= params.rows) {
    return;
  }
  store(t, row, a0.x);
  store(t, row + 1u, a0.y);
  store(t, row + 2u, a0.z);
  store(t, row + 3u, a0.w);
  store(t + 1u, row, a1.x);
  store(t + 1u, row + 1u, a1.y);
  store(t + 1u, row + 2u, a1.z);
  store(t + 1u, row + 3u, a1.w);
  store(t + 2u, row, a2.x);
  store(t + 2u, row + 1u, a2.y);
  store(t + 2u, row + 2u, a2.z);
  store(t + 2u, row + 3u, a2.w);
  store(t + 3u, row, a3.x);
  store(t + 3u, row + 1u, a3.y);
  store(t + 3u, row + 2u, a3.z);
  store(t + 3u, row + 3u, a3.w);
}

@compute @workgroup_size(THREADS_X, THREADS_Y)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row0 = (wid.z * nwg.x + wid.x) * TILE_ROWS;
  if (row0 >= params.rows) {
    return; // past the last row tile of a folded grid: the whole workgroup leaves
  }
  let t0 = wid.y * TILE_TOKENS;
  let tx = lid3.x;
  let ty = lid3.y;
  let steps = (params.cols + BK - 1u) / BK;

  // a*: token quad ty, row quad tx; b*: token quad ty, row quad tx + THREADS_X;
  // c*: token quad ty + THREADS_Y, row quad tx; d*: both second quads. Index = token within the quad.
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var d0 = vec4<f32>(0.0);
  var d1 = vec4<f32>(0.0);
  var d2 = vec4<f32>(0.0);
  var d3 = vec4<f32>(0.0);

  for (var s = 0u; s < steps; s++) {
    let k0 = s * BK;
    for (var u = lid; u < W_UNITS + X_UNITS; u += THREADS) {
      if (u < W_UNITS) {
        fill_w(u, row0, k0);
      } else {
        fill_x(u - W_UNITS, t0, k0);
      }
    }
    workgroupBarrier();

    for (var k = 0u; k < BK; k++) {
      let xa = x_tile[ty * KPAD + k];
      let wa = w_tile[tx * KPAD + k];
      a0 += xa.x * wa;
      a1 += xa.y * wa;
      a2 += xa.z * wa;
      a3 += xa.w * wa;
      if (ROW_VECS > 1u) {
        let wb = w_tile[(tx + THREADS_X) * KPAD + k];
        b0 += xa.x * wb;
        b1 += xa.y * wb;
        b2 += xa.z * wb;
        b3 += xa.w * wb;
        if (TOKEN_VECS > 1u) {
          let xb = x_tile[(ty + THREADS_Y) * KPAD + k];
          c0 += xb.x * wa;
          c1 += xb.y * wa;
          c2 += xb.z * wa;
          c3 += xb.w * wa;
          d0 += xb.x * wb;
          d1 += xb.y * wb;
          d2 += xb.z * wb;
          d3 += xb.w * wb;
        }
      } else if (TOKEN_VECS > 1u) {
        let xb = x_tile[(ty + THREADS_Y) * KPAD + k];
        c0 += xb.x * wa;
        c1 += xb.y * wa;
        c2 += xb.z * wa;
        c3 += xb.w * wa;
      }
    }
    workgroupBarrier();
  }

  let ta = t0 + 4u * ty;
  let ra = row0 + 4u * tx;
  store_block(ta, ra, a0, a1, a2, a3);
  if (ROW_VECS > 1u) {
    store_block(ta, ra + 4u * THREADS_X, b0, b1, b2, b3);
  }
  if (TOKEN_VECS > 1u) {
    let tb = ta + 4u * THREADS_Y;
    store_block(tb, ra, c0, c1, c2, c3);
    if (ROW_VECS > 1u) {
      store_block(tb, ra + 4u * THREADS_X, d0, d1, d2, d3);
    }
  }
}
