// The qkv projection's epilogue of matmul_gemv_q4.wgsl (one token): bias, then what rope_kv_append.wgsl
// does with style 0 'interleaved' (pairs (2i, 2i+1) of the first rotary_dim dims of every q and k head),
// so the projection's output never goes through memory: q rows go to `out` ([1, H·D]), k and v rows
// straight into the layer's KV cache at `slot`. A thread's four rows start at a multiple of 4 and D is a
// multiple of 4, so both members of every rotated pair are in the same thread. Same arithmetic as
// rope_kv_append.wgsl and the CPU twin (applyRope in src/cpu/ops.ts).
// Prepended after lib/rope.wgsl (cos_sin).

@group(0) @binding(3) var<storage, read> bias: array<f32>;            // [(H + 2·Hkv)·D] or a dummy when has_bias == 0
@group(0) @binding(4) var<storage, read_write> k_cache: array<act>;   // [capacity, Hkv·D]
@group(0) @binding(9) var<storage, read_write> v_cache: array<act>;   // [capacity, Hkv·D]
@group(0) @binding(10) var<storage, read> inv_freq: array<f32>;       // [rotary_dim / 2]

fn with_bias(o: u32, v: f32) -> f32 {
  if (params.has_bias != 0u) {
    return v + bias[o];
  }
  return v;
}

/** (a, b) of dims (d, d + 1) rotated by the token's angle for pair d / 2 (r = a·cos - b·sin, b·cos + a·sin). */
fn rotate_pair(a: f32, b: f32, d: u32) -> vec2<f32> {
  let cs = cos_sin(f32(params.position) * inv_freq[d / 2u]);
  return vec2<f32>(a * cs.x - b * cs.y, b * cs.x + a * cs.y);
}

fn store4(t: u32, row: u32, value: vec4<f32>, up: vec4<f32>) {
  if (row >= params.rows) {
    return;
  }
  let D = params.head_dim;
  let q_width = params.num_heads * D;
  let kv_width = params.num_kv_heads * D;
  let o = params.row_offset + row;
  var v = vec4<f32>(with_bias(o, value.x), with_bias(o + 1u, value.y), with_bias(o + 2u, value.z), with_bias(o + 3u, value.w));
  let d = o % D;
  if (o < q_width + kv_width) {
    if (d < params.rotary_dim) {
      v = vec4<f32>(rotate_pair(v.x, v.y, d), v.zw);
    }
    if (d + 2u < params.rotary_dim) {
      v = vec4<f32>(v.xy, rotate_pair(v.z, v.w, d + 2u));
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let c = o + i;
    if (c < q_width) {
      out[t * q_width + c] = act(v[i]);
    } else if (c < q_width + kv_width) {
      k_cache[params.slot * kv_width + (c - q_width)] = act(v[i]);
    } else {
      v_cache[params.slot * kv_width + (c - q_width - kv_width)] = act(v[i]);
    }
  }
}
