// The logprobs of a GPU-sampled step from a few numbers read back (src/gpu/ops.ts sampleNextDetailed):
// the logprob sampler's per-chunk (max, sum exp(x - max)) give log-sum-exp over the vocabulary, its
// per-chunk top-k candidates give the k most likely ids, and the chosen id's adjusted logit comes from
// shaders/logprob_gather.wgsl. The CPU twin is logprobsOf() in src/runtime/logits-process.ts.
import type { TokenLogprobs } from '../runtime/logits-process';

/** NEG_INF_KEY of shaders/lib/sampling_common.wgsl: keys above it are real values. */
const NEG_INF_KEY = 0x007fffff;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Inverse of key_of in shaders/lib/sampling_common.wgsl (order-preserving u32 of an f32). */
export function valueOfKey(key: number): number {
  u32[0] = (key & 0x80000000) !== 0 ? key & 0x7fffffff : ~key >>> 0;
  return f32[0]!;
}

/**
 * partials: [chunks] x (max key, id, bits of f32 sum, 0); candidates: [chunks * k] x (key, id), key 0 =
 * empty; chosenLogit: the chosen id's adjusted logit. topN of the k candidates are reported.
 */
export function mergeLogprobs(partials: Uint32Array, candidates: Uint32Array, k: number, topN: number, chosenLogit: number): TokenLogprobs {
  const chunks = partials.length / 4;
  let max = -Infinity;
  for (let c = 0; c < chunks; c++) if (partials[c * 4]! > NEG_INF_KEY) max = Math.max(max, valueOfKey(partials[c * 4]!));
  let sum = 0;
  for (let c = 0; c < chunks; c++) {
    const key = partials[c * 4]!;
    if (key <= NEG_INF_KEY) continue;
    u32[0] = partials[c * 4 + 2]!;
    sum += f32[0]! * Math.exp(valueOfKey(key) - max);
  }
  const logZ = max + Math.log(sum);
  const all: Array<{ key: number; id: number }> = [];
  for (let s = 0; s < chunks * k; s++) {
    const key = candidates[s * 2]!;
    if (key > NEG_INF_KEY) all.push({ key, id: candidates[s * 2 + 1]! });
  }
  all.sort((a, b) => b.key - a.key || a.id - b.id);
  return {
    logprob: chosenLogit > -Infinity ? chosenLogit - logZ : -Infinity,
    top: all.slice(0, topN).map((c) => ({ id: c.id, logprob: valueOfKey(c.key) - logZ })),
  };
}
