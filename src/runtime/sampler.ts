// Token sampling on the CPU: the reference twin of the GPU sampler, and the path used when logits are
// read back anyway. Order and semantics follow Hugging Face generate():
//   repetition penalty -> temperature -> top-k -> top-p (nucleus) -> draw.
// Temperature <= GREEDY_TEMPERATURE is greedy argmax (ties -> lowest id), as do_sample=False.
import { InvalidArgumentError } from '../errors';

export interface SamplingParams {
  /** 0 (or anything <= 1e-5) is greedy. */
  temperature: number;
  /** Keep the k most likely ids; 0 or undefined keeps all. */
  topK?: number;
  /** Keep the smallest most-likely set whose probability reaches topP; 1 or undefined keeps all. */
  topP?: number;
  /** HF repetition penalty (> 1 discourages repeats); 1 or undefined is off. */
  repetitionPenalty?: number;
  /** Ids the penalty applies to (each once, however often it occurs). */
  recentIds?: readonly number[];
}

export const GREEDY_TEMPERATURE = 1e-5;
/**
 * Slack on the top-p threshold: softmax rounding must not pull in one more id when the kept mass hits
 * top_p exactly (probs 0.5 + 0.3 with top_p 0.8 keeps two ids, as exact arithmetic and HF do).
 * The GPU sampler uses the same constant.
 */
export const TOP_P_EPSILON = 1e-6;

// PCG-RXS-M-XS, as pcg_hash in shaders/lib/sampling_common.wgsl (u32 arithmetic through Math.imul / >>> 0).
function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function toU32(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new InvalidArgumentError(`${what} must be a finite number, got ${value}`);
  return Math.trunc(value) >>> 0;
}

/**
 * The uniform u in [0, 1) of the draw at (seed, step): 24 bits of pcg(pcg(seed) + step), exactly as
 * uniform_for() in the GPU sampler's WGSL. The engine draws with it on the CPU too (one random stream
 * for both devices: a seeded request gives the same reply wherever the head runs). Seed and step are
 * truncated to u32.
 */
export function uniformFor(seed: number, step: number): number {
  const h = pcgHash((pcgHash(toU32(seed, 'seed')) + toU32(step, 'step')) >>> 0);
  return (h >>> 8) / 16777216;
}

/** Deterministic uniform [0, 1) generator (mulberry32): a seeded run repeats exactly. */
export function createRng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new InvalidArgumentError(`rng seed must be a finite number, got ${seed}`);
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the largest logit, lowest index on ties; NaN counts as -Infinity. */
export function argmax(logits: ArrayLike<number>): number {
  if (logits.length === 0) throw new InvalidArgumentError('argmax of an empty array');
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** HF RepetitionPenaltyLogitsProcessor: positive logits divided by the penalty, negative ones multiplied. Returns a copy. */
export function applyRepetitionPenalty(logits: Float32Array, recentIds: readonly number[], penalty: number): Float32Array {
  if (!(penalty > 0) || !Number.isFinite(penalty)) {
    throw new InvalidArgumentError(`repetitionPenalty must be a positive finite number, got ${penalty}`);
  }
  const out = new Float32Array(logits);
  if (penalty === 1) return out;
  const seen = new Set<number>();
  for (const id of recentIds) {
    if (!Number.isInteger(id) || id < 0 || id >= logits.length) {
      throw new InvalidArgumentError(`recent id ${id} is outside the vocabulary [0, ${logits.length})`);
    }
    if (seen.has(id)) continue;
    seen.add(id);
    const l = out[id]!;
    out[id] = l > 0 ? l / penalty : l * penalty;
  }
  return out;
}

export interface SamplingDistribution {
  /** Candidate ids: most likely first (ties: lower id first) when top-k or top-p filtered, id order otherwise. */
  ids: Int32Array;
  /** Their probabilities after all filters, renormalised to sum to 1. */
  probs: Float64Array;
}

function validate(logits: Float32Array, params: SamplingParams): void {
  if (logits.length === 0) throw new InvalidArgumentError('cannot sample from empty logits');
  const { temperature, topK, topP } = params;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new InvalidArgumentError(`temperature must be a finite number >= 0, got ${temperature}`);
  }
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 0)) {
    throw new InvalidArgumentError(`topK must be an integer >= 0, got ${topK}`);
  }
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new InvalidArgumentError(`topP must be in (0, 1], got ${topP}`);
  const penalty = params.repetitionPenalty;
  if (penalty !== undefined && !(penalty > 0 && Number.isFinite(penalty))) {
    throw new InvalidArgumentError(`repetitionPenalty must be a positive finite number, got ${penalty}`);
  }
}

/** Indices of the k largest values, largest first, lower index first on ties. O(n log k) with a min-heap. */
function topKIndices(values: Float32Array, k: number): number[] {
  // Heap order: the worst kept candidate on top (smallest value; among equals, the highest index).
  const worse = (a: number, b: number): boolean => values[a]! < values[b]! || (values[a] === values[b] && a > b);
  const heap: number[] = [];
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < heap.length && worse(heap[l]!, heap[w]!)) w = l;
      if (r < heap.length && worse(heap[r]!, heap[w]!)) w = r;
      if (w === i) return;
      [heap[i], heap[w]] = [heap[w]!, heap[i]!];
      i = w;
    }
  };
  for (let i = 0; i < values.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      let c = heap.length - 1;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c]!, heap[p]!)) break;
        [heap[c], heap[p]] = [heap[p]!, heap[c]!];
        c = p;
      }
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => values[b]! - values[a]! || a - b);
}

/** The distribution sample() draws from: penalty, temperature, top-k and top-p applied. Greedy gives one id with probability 1. */
export function samplingDistribution(logits: Float32Array, params: SamplingParams): SamplingDistribution {
  validate(logits, params);
  const penalty = params.repetitionPenalty ?? 1;
  const recent = params.recentIds ?? [];
  const penalized = penalty !== 1 && recent.length > 0 ? applyRepetitionPenalty(logits, recent, penalty) : logits;

  if (params.temperature <= GREEDY_TEMPERATURE) {
    return { ids: Int32Array.of(argmax(penalized)), probs: Float64Array.of(1) };
  }

  // NaN logits are treated as -Infinity (never chosen) so that one bad value cannot poison the softmax.
  const n = penalized.length;
  let scores = penalized;
  let maxLogit = -Infinity;
  let hasNaN = false;
  for (let i = 0; i < n; i++) {
    const v = penalized[i]!;
    if (v > maxLogit) maxLogit = v;
    else if (Number.isNaN(v)) hasNaN = true;
  }
  if (maxLogit === -Infinity) throw new InvalidArgumentError('every logit is -Infinity or NaN: nothing can be sampled');
  if (hasNaN) scores = penalized.map((v) => (Number.isNaN(v) ? -Infinity : v));

  // softmax(logits / T) with the max subtracted first: exp never overflows, the largest weight is 1.
  const invT = 1 / params.temperature;
  const weightOf = (i: number): number => Math.exp((scores[i]! - maxLogit) * invT);
  const topK = params.topK ?? 0;
  const topP = params.topP ?? 1;

  if (topK > 0 && topK < n) {
    // Dividing by T > 0 keeps the order, so top-k can rank the raw scores.
    const ids = topKIndices(scores, topK);
    return nucleus(ids, Float64Array.from(ids, weightOf), topP);
  }

  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i] = weightOf(i);

  if (topP < 1) {
    // Once the ids above some weight threshold reach top_p on their own, the nucleus lies among them (they
    // are the most likely ones), so only they need sorting: lower the threshold step by step (each step one
    // O(n) pass) until their mass is enough. Weights below 1e-30 of the largest go in with the final step.
    for (let threshold = 0.25; ; threshold *= 0.25) {
      const floor = threshold < 1e-30 ? 0 : threshold;
      let mass = 0;
      let count = 0;
      for (let i = 0; i < n; i++) {
        if (weights[i]! >= floor) {
          mass += weights[i]!;
          count++;
        }
      }
      if (mass / total >= topP - TOP_P_EPSILON || floor === 0) {
        const ids = new Array<number>(count);
        for (let i = 0, j = 0; i < n; i++) if (weights[i]! >= floor) ids[j++] = i;
        ids.sort((a, b) => weights[b]! - weights[a]! || a - b);
        return nucleus(ids, Float64Array.from(ids, (i) => weights[i]!), topP, total);
      }
    }
  }

  // No filter: every id in id order; the draw's distribution does not depend on the order.
  const ids = new Int32Array(n);
  const probs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = i;
    probs[i] = weights[i]! / total;
  }
  return { ids, probs };
}

/**
 * Keeps the shortest prefix of `ids` (sorted by descending weight) whose share of `total` reaches topP,
 * at least one id, and renormalises. `total` defaults to the sum of `weights` (the top-k case, where top-p
 * works on the top-k renormalised distribution as in HF).
 */
function nucleus(ids: ArrayLike<number>, weights: Float64Array, topP: number, total?: number): SamplingDistribution {
  let sum = total ?? 0;
  if (total === undefined) for (const w of weights) sum += w;
  let kept = ids.length;
  if (topP < 1) {
    let cumulative = 0;
    for (let j = 0; j < ids.length; j++) {
      cumulative += weights[j]! / sum;
      if (cumulative >= topP - TOP_P_EPSILON) {
        kept = j + 1;
        break;
      }
    }
  }
  let keptTotal = 0;
  for (let j = 0; j < kept; j++) keptTotal += weights[j]!;
  const outIds = new Int32Array(kept);
  const probs = new Float64Array(kept);
  for (let j = 0; j < kept; j++) {
    outIds[j] = ids[j]!;
    probs[j] = weights[j]! / keptTotal;
  }
  return { ids: outIds, probs };
}

/** Draws one token id. `rng` returns uniform numbers in [0, 1) (createRng for reproducible runs). */
export function sample(logits: Float32Array, params: SamplingParams, rng: () => number): number {
  const { ids, probs } = samplingDistribution(logits, params);
  if (ids.length === 1) return ids[0]!;
  const u = rng();
  let cumulative = 0;
  for (let j = 0; j < ids.length; j++) {
    cumulative += probs[j]!;
    if (u < cumulative) return ids[j]!;
  }
  // u is within rounding of 1 and the probabilities summed to a hair less: the last candidate it is.
  // Zero-probability tails (underflowed exp) are skipped so that an id with probability 0 is never returned.
  for (let j = ids.length - 1; j > 0; j--) if (probs[j]! > 0) return ids[j]!;
  return ids[0]!;
}
