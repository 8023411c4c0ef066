// The adjusted logit of the id the sampler just chose (its logprob is this minus log-sum-exp, which the
// engine gets from the logprob pass's chunk sums): one value read back instead of the logits.

struct GatherParams {
  count: u32, // vocabulary size
  neg_inf_bits: u32, // 0xff800000 (a constant -inf does not compile)
}

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;      // [count] adjusted logits
@group(0) @binding(2) var<storage, read_write> out: array<f32>;   // [1] logits[chosen] (-inf for an invalid id)
@group(0) @binding(3) var<storage, read> chosen: array<u32>;      // [1] the sampler's result

@compute @workgroup_size(1)
fn main() {
  let id = chosen[0];
  out[0] = select(bitcast<f32>(params.neg_inf_bits), logits[min(id, params.count - 1u)], id < params.count);
}
