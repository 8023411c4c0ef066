// attention, decode path, second half: merges the per-tile softmax partials of attention_split.wgsl.
// With M = max over tiles of m_t:  out = sum_t exp(m_t - M) · PV_t / sum_t exp(m_t - M) · l_t.
// One workgroup per query head; invocations walk the head's dims.

struct AttentionParams {
  n: u32,
  start: u32,
  prefix: u32,
  num_heads: u32,
  num_kv_heads: u32,
  head_dim: u32,      // D
  scale: f32,
  tiles: u32,         // tiles per head
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> partials: array<f32>;       // [H, tiles, D + 2]
@group(0) @binding(2) var<storage, read_write> out: array<act>;      // [H·D]

override WORKGROUP_SIZE: u32 = 128u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let h = linear_workgroup(wid, nwg);
  if (h >= params.num_heads) {
    return;
  }
  let D = params.head_dim;
  let stride = D + 2u;
  let base = h * params.tiles * stride;
  var m = partials[base];
  for (var t = 1u; t < params.tiles; t++) {
    m = max(m, partials[base + t * stride]);
  }
  var l = 0.0;
  for (var t = 0u; t < params.tiles; t++) {
    l += exp(partials[base + t * stride] - m) * partials[base + t * stride + 1u];
  }
  for (var d = lid; d < D; d += WORKGROUP_SIZE) {
    var acc = 0.0;
    for (var t = 0u; t < params.tiles; t++) {
      let row = base + t * stride;
      acc += exp(partials[row] - m) * partials[row + 2u + d];
    }
    out[h * D + d] = act(acc / l);
  }
}
