// attention, decode path, first half: one query token, its keys cut into tiles of WORKGROUP_SIZE keys,
// one workgroup per (query head, tile), all tiles at once. The single-token case of attention.wgsl
// walks the tiles one after another in 32-ish workgroups (one per head), which leaves most of a large
// GPU idle and serializes the context; here every tile is its own workgroup, and
// attention_combine.wgsl merges the tiles' softmax partials (max m, sum l, unnormalized P·V) per head.
//
// Mask: a single query (sequence index start) sees keys 0..start: the bidirectional prefix of
// attention.wgsl never reaches past the cache's filled part. Tile t < ceil((start + 1) / WORKGROUP_SIZE)
// therefore always holds at least one key.
// Layout: HEAD_DIM is an override constant (loops of fixed length unroll and keep loads in flight);
// K and V rows are read as vec4 (GpuOps takes this path only when HEAD_DIM % 4 == 0).

struct AttentionParams {
  n: u32,             // query tokens: 1
  start: u32,         // sequence index of the query = keys cached before it
  prefix: u32,        // bidirectional prefix
  num_heads: u32,     // H
  num_kv_heads: u32,  // Hkv
  head_dim: u32,      // D = HEAD_DIM
  scale: f32,         // 1 / sqrt(D)
  tiles: u32,         // workgroups per head
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> q: array<vec4<act>>;        // [H·D / 4]
@group(0) @binding(2) var<storage, read_write> partials: array<f32>; // [H, tiles, D + 2]: m, l, P·V
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<act>>;  // [capacity, Hkv·D / 4]
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<act>>;  // [capacity, Hkv·D / 4]

override WORKGROUP_SIZE: u32 = 128u;  // keys per tile; a power of two
override HEAD_DIM: u32 = 128u;        // multiple of 4, HEAD_DIM / 4 <= WORKGROUP_SIZE
override D4: u32 = HEAD_DIM / 4u;
// P·V: D4 lanes cover the dims (one vec4 each), KEY_GROUPS sets of them split the tile's keys.
override KEY_GROUPS: u32 = WORKGROUP_SIZE / D4;
const MASKED = -3.0e38;

var<workgroup> q_shared: array<vec4<f32>, D4>;
var<workgroup> probs: array<f32, WORKGROUP_SIZE>;
var<workgroup> reduce: array<f32, WORKGROUP_SIZE>;
var<workgroup> pv_shared: array<vec4<f32>, WORKGROUP_SIZE>;

/** Max (is_max) or sum of `value` over the workgroup, through `reduce`; every invocation gets it. */
fn workgroup_reduce(lid: u32, value: f32, is_max: bool) -> f32 {
  reduce[lid] = value;
  workgroupBarrier();
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let other = reduce[lid + stride];
      reduce[lid] = select(reduce[lid] + other, max(reduce[lid], other), is_max);
    }
    workgroupBarrier();
  }
  let total = reduce[0];
  workgroupBarrier(); // `reduce` is reused by the next call
  return total;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let item = linear_workgroup(wid, nwg);
  if (item >= params.num_heads * params.tiles) {
    return; // uniform per workgroup
  }
  let h = item / params.tiles;
  let tile = item % params.tiles;
  let kvh = h / (params.num_heads / params.num_kv_heads);
  let row4 = params.num_kv_heads * D4; // vec4s per cache row
  let head4 = kvh * D4;

  for (var c = lid; c < D4; c += WORKGROUP_SIZE) {
    q_shared[c] = vec4<f32>(q[h * D4 + c]) * params.scale;
  }
  workgroupBarrier();

  let last = params.start;
  let first = tile * WORKGROUP_SIZE;
  let j = first + lid;
  var s = MASKED;
  if (j <= last) {
    let base = j * row4 + head4;
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < D4; c++) {
      acc += q_shared[c] * vec4<f32>(k_cache[base + c]);
    }
    s = acc.x + acc.y + acc.z + acc.w;
  }
  let m = workgroup_reduce(lid, s, true);
  let p = select(0.0, exp(s - m), j <= last);
  probs[lid] = p;
  let l = workgroup_reduce(lid, p, false); // its barriers also publish `probs`

  // P·V: lane (group g, dims 4c..4c+3) sums keys g, g + KEY_GROUPS, ... of the tile.
  let c = lid % D4;
  let g = lid / D4;
  let count = min(WORKGROUP_SIZE, last + 1u - first);
  var pv = vec4<f32>(0.0);
  if (g < KEY_GROUPS) {
    for (var u = g; u < count; u += KEY_GROUPS) {
      pv += probs[u] * vec4<f32>(v_cache[(first + u) * row4 + head4 + c]);
    }
  }
  pv_shared[lid] = pv;
  workgroupBarrier();
  if (g == 0u) {
    var total = pv;
    for (var k = 1u; k < KEY_GROUPS; k++) {
      total += pv_shared[k * D4 + c];
    }
    let out = (h * params.tiles + tile) * (HEAD_DIM + 2u);
    partials[out + 2u + 4u * c] = total.x;
    partials[out + 3u + 4u * c] = total.y;
    partials[out + 4u + 4u * c] = total.z;
    partials[out + 5u + 4u * c] = total.w;
    if (c == 0u) {
      partials[out] = m;
      partials[out + 1u] = l;
    }
  }
}
