// ropeKvAppend: splits qkv [n, (H + 2·Hkv)·D] into q, k, v; rotates q and k (RoPE); writes k and v into
// the layer's cache at slots start..start+n-1 and the rotated q to q_out. One invocation per element of
// qkv: it reads its own value and its rotation partner from the input, so nothing is updated in place.
// Mirrors applyRope in src/cpu/ops.ts:
//   style 0 'interleaved': pairs (2i, 2i+1) of the first rotary_dim dims of each head, angle pos·inv_freq[i].
//   style 1 'chatglm1-2d': half h of width D/2 uses position (h = 0) or block position (h = 1); inside a
//     half, pairs (i, i + D/4) rotate NeoX-style with angle p·inv_freq[i].
// inv_freq comes from ropeInvFreq() on the CPU (ChatGLM-6B's f16 rounding included); the angle is the
// same correctly rounded f32 product as the CPU's Math.fround(pos * invFreq[i]).

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

// cos and sin are evaluated here rather than with the builtins: WGSL only bounds their error to 2^-11
// absolute inside [-π, π] (SwiftShader is that coarse), while RoPE needs ~1 ulp at angles up to the
// context length. Cody–Waite reduction by π/2 (PIO2_1..3 have 6 significant bits, so j·PIO2_i is exact
// for quadrant counts j < 2^18, i.e. angles up to ~4e5 rad; PIO2_4 carries the rest), then the Cephes
// sinf/cosf minimax polynomials on [-π/4, π/4].
const TWO_OVER_PI = 0.6366197466850281;
const PIO2_1 = 1.5625;
const PIO2_2 = 0.008056640625;
const PIO2_3 = 0.00023651123046875;
const PIO2_4 = 0.0000031749393656355096;

/** (cos, sin) of an angle of any size. */
fn cos_sin(angle: f32) -> vec2<f32> {
  let j = round(angle * TWO_OVER_PI);
  let r = (((angle - j * PIO2_1) - j * PIO2_2) - j * PIO2_3) - j * PIO2_4;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (i32(j) & 3) {
    case 0: { return vec2<f32>(c, s); }
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}

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
