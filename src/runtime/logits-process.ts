// What a request does to the logits before the sampler (src/runtime/sampler.ts) draws, and the
// log-probabilities it reports. One description (LogitAdjustments), two appliers: this file on the CPU
// and shaders/logits_adjust.wgsl on the GPU (src/gpu/logit-adjust.ts), so the head's device never
// matters for the reply.
//
// Order: logits + logit_bias - frequency_penalty * count - presence_penalty * [count > 0], then the JSON
// mask (disallowed ids -> -inf). The repetition penalty, temperature, top-k and top-p follow in the sampler.
// logprobs are the log-softmax of these adjusted logits (before temperature and top-k/top-p, as OpenAI's
// are of the model's distribution).

export interface LogitAdjustments {
  /** Distinct ids and what to add to each (logit_bias and the OpenAI penalties, summed). */
  biasIds: Int32Array;
  biasValues: Float32Array;
  /** Bit i set: id i allowed (json-constraint.ts's mask); null: all allowed. */
  mask: Uint32Array | null;
}

export interface AdjustmentInputs {
  logitBias: ReadonlyMap<number, number>;
  frequencyPenalty: number;
  presencePenalty: number;
  /** Ids generated so far in this reply (the penalties count them). */
  generated: readonly number[];
  mask: Uint32Array | null;
}

/** The adjustments for one step, or null when there are none (the plain sampler path). */
export function buildAdjustments(inp: AdjustmentInputs): LogitAdjustments | null {
  const delta = new Map<number, number>(inp.logitBias);
  if (inp.frequencyPenalty !== 0 || inp.presencePenalty !== 0) {
    const counts = new Map<number, number>();
    for (const id of inp.generated) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, count] of counts) {
      delta.set(id, (delta.get(id) ?? 0) - inp.frequencyPenalty * count - inp.presencePenalty);
    }
  }
  if (delta.size === 0 && inp.mask === null) return null;
  const ids = [...delta.keys()].sort((a, b) => a - b);
  return { biasIds: Int32Array.from(ids), biasValues: Float32Array.from(ids, (id) => delta.get(id)!), mask: inp.mask };
}

export function isAllowed(mask: Uint32Array | null, id: number): boolean {
  return mask === null || ((mask[id >>> 5]! >>> (id & 31)) & 1) === 1;
}

/** The CPU twin of shaders/logits_adjust.wgsl: a copy of `logits` with the adjustments applied (f32 sums, as the GPU). */
export function applyAdjustments(logits: Float32Array, adj: LogitAdjustments): Float32Array {
  const out = new Float32Array(logits);
  for (let j = 0; j < adj.biasIds.length; j++) {
    const id = adj.biasIds[j]!;
    if (id < out.length) out[id] = Math.fround(out[id]! + adj.biasValues[j]!);
  }
  if (adj.mask) for (let i = 0; i < out.length; i++) if (!isAllowed(adj.mask, i)) out[i] = -Infinity;
  return out;
}

export interface TokenLogprobs {
  /** Log-probability of the chosen id. */
  logprob: number;
  /** The most likely ids, most likely first (ties: lower id first). */
  top: Array<{ id: number; logprob: number }>;
}

/** log-softmax at `chosen` and the `topN` most likely ids, from adjusted logits (NaN counts as -inf). */
export function logprobsOf(logits: Float32Array, chosen: number, topN: number): TokenLogprobs {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > -Infinity) sum += Math.exp(v - max);
  }
  const logZ = max + Math.log(sum);
  const top: Array<{ id: number; logprob: number }> = [];
  if (topN > 0) {
    // Keep the topN best in a small sorted list (topN <= 20).
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i]!;
      if (!(v > -Infinity)) continue;
      if (top.length === topN && v <= top[top.length - 1]!.logprob) continue;
      let j = top.length;
      while (j > 0 && top[j - 1]!.logprob < v) j--;
      top.splice(j, 0, { id: i, logprob: v });
      if (top.length > topN) top.pop();
    }
    for (const t of top) t.logprob -= logZ;
  }
  const c = logits[chosen]!;
  return { logprob: c > -Infinity ? c - logZ : -Infinity, top };
}
