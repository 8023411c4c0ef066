// ropeKvAppend: splits qkv [n, (H + 2·Hkv)·D] into q, k, v; rotates q and k (RoPE); writes k and v into
// the layer's cache at slots start..start+n-1 and the rotated q to q_out. One invocation per element of
// qkv: it reads its own value and its rotation partner from the input, so nothing is updated in place.
// Mirrors applyRope in src/cpu/ops.ts:
//   style 0 'interleaved': pairs (2i, 2i+1) of the first rotary_dim dims of each head, angle pos·inv_freq[i].
//   style 1 'chatglm1-2d': half h of width D/2 uses position (h = 0) or block position (h = 1); inside a
//     half, pairs (i, i + D/4) rotate NeoX-style with angle p·inv_freq[i].
// inv_freq comes from ropeInvFreq() on the CPU (ChatGLM-6B's f16 rounding included); the angle is the
// same correctly rounded f32 product as the CPU's Math.fround(pos * invFreq[i]). cos_sin: lib/rope.wgsl.

struct RopeParams {
  n: u32,             // tokens
  num_heads: u32,     // H
  num_kv_heads: u32,  // Hkv
  head_dim: u32,      // D
  rotary_dim: u32,    // interleaved: rotated dims per head
  style: u32,         // 0 interleaved, 1 chatglm1-2d
  start: u32,         // cache slot of the first token
  has_block: u32,     // 1: block_positions is bound (chatglm1-2d)
}

@group(0) @binding(0) var<uniform> params: RopeParams;
@group(0) @binding(1) var<storage, read> qkv: array<act>;                 // [n, (H + 2·Hkv)·D]: all q heads, all k heads, all v heads
@group(0) @binding(2) var<storage, read_write> q_out: array<act>;         // [n, H·D]
@group(0) @binding(3) var<storage, read_write> k_cache: array<act>;       // [capacity, Hkv·D]
@group(0) @binding(4) var<storage, read_write> v_cache: array<act>;       // [capacity, Hkv·D]
@group(0) @binding(5) var<storage, read> inv_freq: array<f32>;            // [rotary_dim / 2] (2-D: [D / 4])
@group(0) @binding(6) var<storage, read> positions: array<i32>;           // [n]
@group(0) @binding(7) var<storage, read> block_positions: array<i32>;     // [n], or a dummy when has_block == 0

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let D = params.head_dim;
  let H = params.num_heads;
  let kv_width = params.num_kv_heads * D;
  let width = H * D + 2u * kv_width;
  let i = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (i >= params.n * width) {
    return;
  }
  let t = i / width;
  let c = i % width;
  let head = c / D;
  let d = c % D;
  let v = f32(qkv[i]);
  var r = v;

  if (head < H + params.num_kv_heads) {
    // q or k: rotate. r = a·cos - b·sin for the first of a pair, b·cos + a·sin for the second.
    if (params.style == 0u) {
      if (d < params.rotary_dim) {
        let cs = cos_sin(f32(positions[t]) * inv_freq[d / 2u]);
        if ((d & 1u) == 0u) {
          r = v * cs.x - f32(qkv[i + 1u]) * cs.y;
        } else {
          r = v * cs.x + f32(qkv[i - 1u]) * cs.y;
        }
      }
    } else {
      let half = D / 2u;
      let quarter = D / 4u;
      let w = d % half;
      var p = positions[t];
      if (d >= half) {
        p = select(0, block_positions[t], params.has_block != 0u);
      }
      let cs = cos_sin(f32(p) * inv_freq[w % quarter]);
      if (w < quarter) {
        r = v * cs.x - f32(qkv[i + quarter]) * cs.y;
      } else {
        r = v * cs.x + f32(qkv[i - quarter]) * cs.y;
      }
    }
  }

  let slot = params.start + t;
  if (head < H) {
    q_out[t * H * D + c] = act(r);
  } else if (head < H + params.num_kv_heads) {
    k_cache[slot * kv_width + (c - H * D)] = act(r);
  } else {
    v_cache[slot * kv_width + (c - H * D - kv_width)] = act(r);
  }
}
