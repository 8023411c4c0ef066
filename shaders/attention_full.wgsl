// attentionFull: bidirectional attention within one image (GLM-4V's vision tower): every query sees every
// key. Reads q, k and v straight from the fused qkv projection, row t = [q heads | k heads | v heads]
// (the reference reshapes each row as (3, heads, headDim)). One workgroup per (query, head); keys are
// walked in tiles of WORKGROUP_SIZE with an online softmax (lib/online_softmax.wgsl), so thousands of
// patches need only fixed workgroup memory.

struct AttentionFullParams {
  n: u32,          // tokens (patches + the class token)
  num_heads: u32,  // H
  head_dim: u32,   // D, at most MAX_D_PER_INVOCATION * WORKGROUP_SIZE
  scale: f32,      // 1 / sqrt(D)
}

@group(0) @binding(0) var<uniform> params: AttentionFullParams;
@group(0) @binding(1) var<storage, read> qkv: array<act>;            // [n, 3·H·D]
@group(0) @binding(2) var<storage, read_write> out: array<act>;      // [n, H·D]

override WORKGROUP_SIZE: u32 = 64u;    // = keys per tile
// Output dims per invocation: d = lid + i * WORKGROUP_SIZE for i < 4, in one vec4 register.
const MAX_D_PER_INVOCATION = 4u;

var<workgroup> q_shared: array<f32, MAX_D_PER_INVOCATION * WORKGROUP_SIZE>; // [D]

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let H = params.num_heads;
  let D = params.head_dim;
  let n = params.n;
  let item = linear_workgroup(wid, nwg);
  if (item >= n * H) {
    return; // uniform per workgroup
  }
  let t = item / H;
  let h = item % H;
  let width = H * D;
  let stride = 3u * width;
  let q_base = t * stride + h * D;
  let k_col = width + h * D;
  let v_col = 2u * width + h * D;

  for (var d = lid; d < D; d += WORKGROUP_SIZE) {
    q_shared[d] = f32(qkv[q_base + d]);
  }
  workgroupBarrier();

  var st = online_softmax_start();
  let dims = vec4<u32>(lid, lid + WORKGROUP_SIZE, lid + 2u * WORKGROUP_SIZE, lid + 3u * WORKGROUP_SIZE);
  let live = dims < vec4<u32>(D);
  let v_cols = min(dims, vec4<u32>(D - 1u)) + vec4<u32>(v_col); // clamped: dims >= D are masked by `live`

  for (var tile = 0u; tile < n; tile += WORKGROUP_SIZE) {
    let j = tile + lid;
    var s = MASKED;
    if (j < n) {
      let k_base = j * stride + k_col;
      var dot_qk = 0.0;
      for (var d = 0u; d < D; d++) {
        dot_qk += q_shared[d] * f32(qkv[k_base + d]);
      }
      s = dot_qk * params.scale;
    }
    let m_new = online_softmax_probs(lid, s, j < n, st.m);

    let count = min(WORKGROUP_SIZE, n - tile);
    var tile_sum = 0.0;
    var pv = vec4<f32>(0.0);
    for (var u = 0u; u < count; u++) {
      let p = probs[u];
      let row = (tile + u) * stride;
      tile_sum += p;
      pv += p * vec4<f32>(f32(qkv[row + v_cols.x]), f32(qkv[row + v_cols.y]), f32(qkv[row + v_cols.z]), f32(qkv[row + v_cols.w]));
    }
    st = online_softmax_fold(st, m_new, tile_sum, pv, live);
  }

  online_softmax_store(st, t * width + h * D, dims, live);
}
