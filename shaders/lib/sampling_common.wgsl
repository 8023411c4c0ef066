// Shared by the sampling kernels (argmax.wgsl, sample_*.wgsl): the step's parameters, the
// order-preserving u32 key of a scaled logit, and the counter-based uniform draw.
// src/gpu/sampling.ts mirrors SampleParams (writeParams) and uniform_for (uniformFor) bit for bit.

// The step's parameters, written with queue.writeBuffer before the submit. 48 bytes.
struct SampleParams {
  vocab: u32,            // n: ids 0..n-1; logits is f32 [n]
  num_chunks: u32,       // workgroups of sample_partial = ceil(n / chunk_size)
  chunk_size: u32,       // ids per sample_partial workgroup (WORKGROUP_SIZE * ITEMS_PER_THREAD there)
  mode: u32,             // MODE_GREEDY | MODE_TOP_K | MODE_TOP_P | MODE_FULL
  k_sel: u32,            // candidates kept per chunk and overall (top-k: k; top-p: min(cap, n); else 0)
  num_recent: u32,       // ids in `recent` to penalise (0 when the penalty is off)
  penalty: f32,          // HF repetition penalty (> 0); 1 = off
  temperature: f32,      // divides the penalised logits; unused in greedy mode
  top_p_threshold: f32,  // topP - TOP_P_EPSILON: the cumulative probability that ends the nucleus
  top_p_active: u32,     // 1 when topP < 1
  seed: u32,             // with step: the counter that uniform_for hashes
  step: u32,
}

const MODE_GREEDY: u32 = 0u;  // argmax of the penalised logits, no temperature
const MODE_TOP_K: u32 = 1u;   // 0 < topK < n: draw among the k best (then top-p inside them)
const MODE_TOP_P: u32 = 2u;   // topK off, topP < 1: nucleus over the whole vocabulary in sorted order
const MODE_FULL: u32 = 3u;    // no filter: draw over the whole vocabulary in id order (as the CPU does)

// Written to `result` when every logit is -inf or NaN outside greedy mode (the CPU sampler throws there).
const INVALID_ID: u32 = 0xffffffffu;

const NEG_INF_BITS: u32 = 0xff800000u;
// key_of(-inf). Every real value maps to a key >= this one, so key 0 can mark an empty slot.
const NEG_INF_KEY: u32 = 0x007fffffu;

fn is_nan_bits(bits: u32) -> bool {
  return (bits & 0x7fffffffu) > 0x7f800000u;
}

// True for finite values. Infinities are handled on their bit patterns: WGSL lets an implementation
// assume that arithmetic never sees them.
fn is_finite_bits(bits: u32) -> bool {
  return (bits & 0x7f800000u) != 0x7f800000u;
}

// Order-preserving key: a > b as floats <=> key(a) > key(b) as u32. NaN counts as -inf (as in the CPU
// sampler) and -0 as +0 (they compare equal on the CPU, so ties between them go by id).
fn key_of_bits(raw: u32) -> u32 {
  var bits = raw;
  if (is_nan_bits(bits)) {
    bits = NEG_INF_BITS;
  }
  if (bits == 0x80000000u) {
    bits = 0u;
  }
  if ((bits & 0x80000000u) != 0u) {
    return ~bits;
  }
  return bits | 0x80000000u;
}

fn key_of(v: f32) -> u32 {
  return key_of_bits(bitcast<u32>(v));
}

// Inverse of key_of (for keys of real values).
fn value_of(key: u32) -> f32 {
  if ((key & 0x80000000u) != 0u) {
    return bitcast<f32>(key & 0x7fffffffu);
  }
  return bitcast<f32>(~key);
}

// Unnormalised softmax weight exp(z - m) of the value with key `key`, m the largest value. -inf weighs 0
// (tested on the key, not left to exp(-inf)).
fn weight_of(key: u32, m: f32) -> f32 {
  if (key <= NEG_INF_KEY) {
    return 0.0;
  }
  return exp(value_of(key) - m);
}

// First round of the selections (lib/sampling_select.wgsl, sample_nucleus.wgsl): 256 bins by distance
// from the largest value, 1/BIN0_SCALE logit wide, the last bin taking everything further down (and
// -inf). Logits cluster within a few units of each other, where the top bits of their keys are all
// equal: binning those bits would send nearly every id to one or two bins and serialise the
// shared-memory atomics; distance from the top spreads them. The bin is non-increasing in the key, so
// each bin is an interval of keys and lower bins hold larger values.
const BIN0_BINS: u32 = 256u;
const BIN0_SCALE: f32 = 8.0;

fn bin0_of(key: u32, top: f32) -> u32 {
  if (!is_finite_bits(bitcast<u32>(top))) {
    return 0u; // the largest value is +-inf: one bin, and the radix rounds do all the work
  }
  if (key <= NEG_INF_KEY) {
    return BIN0_BINS - 1u;
  }
  let d = (top - value_of(key)) * BIN0_SCALE;
  if (d < f32(BIN0_BINS - 1u)) {
    return u32(max(d, 0.0));
  }
  return BIN0_BINS - 1u;
}

// Key bits above bit p (none for p = 31).
fn bits_above(p: u32) -> u32 {
  return ~(0xffffffffu >> (31u - p));
}

// PCG-RXS-M-XS 32-bit hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg_hash(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// The step's uniform u in [0, 1): 24 hashed bits, so u is exact in f32 and equal to uniformFor() in TS.
fn uniform_for(seed: u32, step: u32) -> f32 {
  let h = pcg_hash(pcg_hash(seed) + step);
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// Hand-over from sample_topk to sample_nucleus in top-p mode (a storage buffer of 16 bytes).
struct NucleusState {
  pending: u32,    // 1: the nucleus is larger than the candidates, sample_nucleus must draw
  max_value: f32,  // m, the largest scaled logit
  total: f32,      // S = sum over the vocabulary of exp(z - m)
  unused: u32,
}
