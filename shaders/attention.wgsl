// attention: softmax(q·Kᵀ / sqrt(D)) · V of every query token over the layer's cache, prefill (n > 1)
// and decode (n = 1) alike. One workgroup per (token, query head); query head h reads KV head
// h / (H / Hkv), so GQA and MQA need no K/V copies.
// Mask (ops.ts): query t (sequence index start + t) sees key j when j <= start + t or j < prefix. The
// visible keys are therefore exactly 0..last with last = max(start + t, prefix - 1).
// Keys are walked in tiles of WORKGROUP_SIZE with an online softmax (lib/online_softmax.wgsl), so any
// context length works in fixed shared memory.

struct AttentionParams {
  n: u32,             // query tokens
  start: u32,         // sequence index of the first query = keys already cached before this call
  prefix: u32,        // bidirectional prefix (keys < prefix are visible to every query)
  num_heads: u32,     // H
  num_kv_heads: u32,  // Hkv
  head_dim: u32,      // D, at most MAX_D_PER_INVOCATION * WORKGROUP_SIZE
  scale: f32,         // 1 / sqrt(D)
  pad: u32,
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> q: array<act>;              // [n, H·D]
@group(0) @binding(2) var<storage, read_write> out: array<act>;      // [n, H·D]
@group(0) @binding(3) var<storage, read> k_cache: array<act>;        // [capacity, Hkv·D]
@group(0) @binding(4) var<storage, read> v_cache: array<act>;        // [capacity, Hkv·D]

override WORKGROUP_SIZE: u32 = 64u;    // = keys per tile
// Output dims per invocation: d = lid + i * WORKGROUP_SIZE for i < 4, kept in one vec4 register
// (components, not a dynamically indexed array), so D <= 4 * WORKGROUP_SIZE.
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
  let item = linear_workgroup(wid, nwg);
  if (item >= params.n * H) {
    return; // uniform per workgroup
  }
  let t = item / H;
  let h = item % H;
  let kvh = h / (H / params.num_kv_heads);
  let kv_width = params.num_kv_heads * D;
  let q_base = t * H * D + h * D;

  for (var d = lid; d < D; d += WORKGROUP_SIZE) {
    q_shared[d] = f32(q[q_base + d]);
  }
  workgroupBarrier();

  // Last visible key: the query itself, or the end of the bidirectional prefix, never past the cache's
  // filled part (start + n keys).
  var last = params.start + t;
  if (params.prefix > last + 1u) {
    last = params.prefix - 1u;
  }
  last = min(last, params.start + params.n - 1u);
  var st = online_softmax_start(); // dims lid, lid + WG, lid + 2 WG, lid + 3 WG
  let dims = vec4<u32>(lid, lid + WORKGROUP_SIZE, lid + 2u * WORKGROUP_SIZE, lid + 3u * WORKGROUP_SIZE);
  let live = dims < vec4<u32>(D);
  let v_cols = min(dims, vec4<u32>(D - 1u)) + vec4<u32>(kvh * D); // clamped: dims >= D are masked by `live`

  for (var tile = 0u; tile <= last; tile += WORKGROUP_SIZE) {
    let j = tile + lid;
    var s = MASKED;
    if (j <= last) {
      let k_base = j * kv_width + kvh * D;
      var dot_qk = 0.0;
      for (var d = 0u; d < D; d++) {
        dot_qk += q_shared[d] * f32(k_cache[k_base + d]);
      }
      s = dot_qk * params.scale;
    }
    let m_new = online_softmax_probs(lid, s, j <= last, st.m);

    let count = min(WORKGROUP_SIZE, last + 1u - tile);
    var tile_sum = 0.0;
    var pv = vec4<f32>(0.0);
    if (D <= WORKGROUP_SIZE) {
      // One dim per invocation (the common case): skip the three dead loads per key.
      for (var u = 0u; u < count; u++) {
        let p = probs[u];
        tile_sum += p;
        pv.x += p * f32(v_cache[(tile + u) * kv_width + v_cols.x]);
      }
    } else {
      for (var u = 0u; u < count; u++) {
        let p = probs[u];
        let row = (tile + u) * kv_width;
        tile_sum += p;
        pv += p * vec4<f32>(f32(v_cache[row + v_cols.x]), f32(v_cache[row + v_cols.y]), f32(v_cache[row + v_cols.z]), f32(v_cache[row + v_cols.w]));
      }
    }
    st = online_softmax_fold(st, m_new, tile_sum, pv, live);
  }

  online_softmax_store(st, q_base, dims, live);
}
