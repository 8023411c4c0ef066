// A request's logit adjustments before the GPU sampler (src/runtime/logits-process.ts is the CPU twin,
// applyAdjustments): out = f32(x) + bias[i] (logit_bias and the OpenAI penalties, summed per id), then
// -inf where the JSON mask disallows the id. Out of place: the model's logits stay as they were, and
// f16 logits are widened to the sampler's f32 on the way.

struct AdjustParams {
  count: u32,     // vocabulary size
  num_bias: u32,  // entries in `bias`
  has_mask: u32,  // 1: apply `mask`
  neg_inf_bits: u32, // 0xff800000: -inf comes in at run time (a constant -inf does not compile)
}

@group(0) @binding(0) var<uniform> params: AdjustParams;
@group(0) @binding(1) var<storage, read> x: array<act>;                 // [count] the logits
@group(0) @binding(2) var<storage, read_write> out: array<f32>;         // [count] adjusted logits
@group(0) @binding(3) var<storage, read> bias: array<vec2<u32>>;        // [num_bias] (id, bits of f32 delta), ids ascending and distinct
@group(0) @binding(4) var<storage, read> mask: array<u32>;              // [ceil(count / 32)] bit i: id i allowed

override WORKGROUP_SIZE: u32 = 256u;

// The delta of id i: binary search over the sorted ids (a few dozen entries at most in practice).
fn bias_of(i: u32) -> f32 {
  var lo = 0u;
  var hi = params.num_bias;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    let id = bias[mid].x;
    if (id == i) {
      return bitcast<f32>(bias[mid].y);
    }
    if (id < i) {
      lo = mid + 1u;
    } else {
      hi = mid;
    }
  }
  return 0.0;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (i >= params.count) {
    return;
  }
  if (params.has_mask != 0u && ((mask[i / 32u] >> (i % 32u)) & 1u) == 0u) {
    out[i] = bitcast<f32>(params.neg_inf_bits);
    return;
  }
  var v = f32(x[i]);
  if (params.num_bias > 0u) {
    v = v + bias_of(i);
  }
  out[i] = v;
}
