import { describe, expect, it } from 'vitest';
import { isGlmError } from '../../src/errors';
import {
  applyRepetitionPenalty,
  argmax,
  createRng,
  sample,
  samplingDistribution,
  type SamplingParams,
} from '../../src/runtime/sampler';
import { randomArray, seededRandom } from '../helpers/random';

const noRng = (): number => {
  throw new Error('greedy decoding must not draw a random number');
};

function logitsOf(probs: number[]): Float32Array {
  return Float32Array.from(probs, (p) => Math.log(p));
}

function counts(logits: Float32Array, params: SamplingParams, draws: number, seed: number): number[] {
  const rng = createRng(seed);
  const c = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) c[sample(logits, params, rng)]!++;
  return c;
}

/** Pearson chi-square of observed counts against expected probabilities (ids with probability 0 must never occur). */
function chiSquare(observed: number[], probs: number[]): number {
  const n = observed.reduce((a, b) => a + b, 0);
  let chi = 0;
  probs.forEach((p, i) => {
    if (p === 0) {
      expect(observed[i], `id ${i} has probability 0`).toBe(0);
      return;
    }
    chi += (observed[i]! - n * p) ** 2 / (n * p);
  });
  return chi;
}

/** Each count within 4 standard deviations of its binomial expectation. */
function expectWithinFourSigma(observed: number[], probs: number[]): void {
  const n = observed.reduce((a, b) => a + b, 0);
  probs.forEach((p, i) => {
    const sigma = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(observed[i]! - n * p), `id ${i}: ${observed[i]} draws, expected ${n * p} +- 4*${sigma.toFixed(1)}`).toBeLessThanOrEqual(
      4 * sigma + 1e-9,
    );
  });
}

function expectThrowsNamed(fn: () => unknown, name: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isGlmError(err, name), `expected a ${name}, got ${String(err)}`).toBe(true);
}

describe('greedy', () => {
  it('temperature 0 (or <= 1e-5) is argmax, lowest id on ties, and draws no random number', () => {
    const logits = Float32Array.of(1, 3, 3, 2);
    expect(sample(logits, { temperature: 0 }, noRng)).toBe(1);
    expect(sample(logits, { temperature: 1e-5 }, noRng)).toBe(1);
    expect(sample(logits, { temperature: 0, topK: 1, topP: 0.1 }, noRng)).toBe(1);
    expect(argmax(Float32Array.of(-Infinity, NaN, -5))).toBe(2);
  });

  it('picks the largest logit of a large random vector', () => {
    const logits = randomArray(151552, 3, 10);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    expect(sample(logits, { temperature: 0 }, noRng)).toBe(best);
  });
});

describe('seeded randomness', () => {
  it('createRng is mulberry32: the same stream as the tests helper', () => {
    const a = createRng(1234);
    const b = seededRandom(1234);
    for (let i = 0; i < 100; i++) expect(a()).toBe(b());
  });

  it('a seeded run repeats exactly; another seed gives another run', () => {
    const logits = randomArray(2000, 11, 4);
    const params: SamplingParams = { temperature: 0.8, topK: 50, topP: 0.9, repetitionPenalty: 1.1, recentIds: [1, 2, 3] };
    const run = (seed: number): number[] => {
      const rng = createRng(seed);
      return Array.from({ length: 500 }, () => sample(logits, params, rng));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });
});

describe('top-k', () => {
  it('never returns an id outside the k best, and returns each of them', () => {
    const logits = randomArray(1000, 5, 3);
    const k = 5;
    const best = Array.from(logits.keys())
      .sort((a, b) => logits[b]! - logits[a]!)
      .slice(0, k);
    const c = counts(logits, { temperature: 1, topK: k }, 20000, 99);
    const seen = new Set(c.flatMap((n, id) => (n > 0 ? [id] : [])));
    expect([...seen].sort((a, b) => a - b)).toEqual([...best].sort((a, b) => a - b));
  });

  it('matches the renormalised top-k probabilities (chi-square, 4 sigma)', () => {
    const probs = [0.4, 0.25, 0.2, 0.1, 0.05];
    const logits = logitsOf(probs);
    const kept = [0.4, 0.25, 0.2].map((p) => p / 0.85);
    const expectedProbs = [...kept, 0, 0];
    const c = counts(logits, { temperature: 1, topK: 3 }, 20000, 2024);
    expectWithinFourSigma(c, expectedProbs);
    expect(chiSquare(c, expectedProbs)).toBeLessThan(18.4); // 2 dof, p = 1e-4
  });

  it('ties at the boundary keep the lower ids', () => {
    const d = samplingDistribution(Float32Array.of(1, 1, 1, 0), { temperature: 1, topK: 2 });
    expect([...d.ids]).toEqual([0, 1]);
  });
});

describe('top-p (nucleus)', () => {
  const probs = [0.5, 0.3, 0.15, 0.05];
  const logits = logitsOf(probs);

  it('probs [0.5, 0.3, 0.15, 0.05] with top_p 0.8 keep exactly ids 0 and 1, renormalised', () => {
    const d = samplingDistribution(logits, { temperature: 1, topP: 0.8 });
    expect([...d.ids]).toEqual([0, 1]);
    expect(d.probs[0]).toBeCloseTo(0.625, 6);
    expect(d.probs[1]).toBeCloseTo(0.375, 6);
  });

  it('20k seeded draws only ever return ids 0 and 1, at 0.625 / 0.375 (chi-square, 4 sigma)', () => {
    const c = counts(logits, { temperature: 1, topP: 0.8 }, 20000, 12345);
    expect(c[2]).toBe(0);
    expect(c[3]).toBe(0);
    const expectedProbs = [0.625, 0.375, 0, 0];
    expectWithinFourSigma(c, expectedProbs);
    expect(chiSquare(c, expectedProbs)).toBeLessThan(15.1); // 1 dof, p = 1e-4
  });

  it('always keeps at least one id, and top_p 1 keeps all', () => {
    expect([...samplingDistribution(logits, { temperature: 1, topP: 0.01 }).ids]).toEqual([0]);
    expect(samplingDistribution(logits, { temperature: 1, topP: 1 }).ids.length).toBe(4);
  });

  it('top-k then top-p: top-p works on the top-k renormalised distribution', () => {
    // After top-k 3: 0.5/0.95, 0.3/0.95, 0.15/0.95 = 0.526, 0.316, 0.158; top_p 0.85 needs all three.
    expect([...samplingDistribution(logits, { temperature: 1, topK: 3, topP: 0.85 }).ids]).toEqual([0, 1, 2]);
    // Without top-k the first three hold 0.95 >= 0.85 but the first two only 0.8: also three.
    expect([...samplingDistribution(logits, { temperature: 1, topP: 0.85 }).ids]).toEqual([0, 1, 2]);
    // top_p 0.8 after top-k 3: 0.526 + 0.316 = 0.842 >= 0.8, two ids.
    expect([...samplingDistribution(logits, { temperature: 1, topK: 3, topP: 0.8 }).ids]).toEqual([0, 1]);
  });
});

describe('temperature', () => {
  const probs4 = [0.5, 0.3, 0.15, 0.05];

  it('the full distribution at temperature 1 matches the probabilities (chi-square, 4 sigma)', () => {
    const c = counts(logitsOf(probs4), { temperature: 1 }, 20000, 777);
    expectWithinFourSigma(c, probs4);
    expect(chiSquare(c, probs4)).toBeLessThan(21.1); // 3 dof, p = 1e-4
  });

  it('temperature T samples softmax(logits / T)', () => {
    const logits = Float32Array.of(2, 1, 0, -1);
    for (const t of [0.5, 2]) {
      const d = samplingDistribution(logits, { temperature: t });
      const w = Array.from(logits, (l) => Math.exp(l / t));
      const z = w.reduce((a, b) => a + b, 0);
      Array.from(d.ids).forEach((id, j) => expect(d.probs[j]).toBeCloseTo(w[id]! / z, 6));
    }
  });

  it('is numerically safe with huge logits, and never picks -Infinity or NaN', () => {
    const logits = Float32Array.of(1e30, 1e30 - 1e24, -Infinity, NaN);
    const c = counts(logits, { temperature: 1 }, 2000, 5);
    expect(c[2]).toBe(0);
    expect(c[3]).toBe(0);
    expect(c[0]! + c[1]!).toBe(2000);
  });
});

describe('repetition penalty', () => {
  it('divides positive and multiplies negative logits of recent ids, each id once', () => {
    const out = applyRepetitionPenalty(Float32Array.of(2, 1, -1, 0.5), [0, 2, 0, 2], 1.5);
    expect(out[0]).toBeCloseTo(2 / 1.5, 6);
    expect(out[1]).toBe(1);
    expect(out[2]).toBeCloseTo(-1.5, 6);
    expect(out[3]).toBe(0.5);
  });

  it('lowers a repeated id probability, for positive and negative logits alike', () => {
    const logits = Float32Array.of(2, 1, -1, 0.5);
    const plain = samplingDistribution(logits, { temperature: 1 });
    const penal = samplingDistribution(logits, { temperature: 1, repetitionPenalty: 1.3, recentIds: [0, 2] });
    const p = (d: typeof plain, id: number): number => d.probs[Array.from(d.ids).indexOf(id)]!;
    expect(p(penal, 0)).toBeLessThan(p(plain, 0));
    expect(p(penal, 2)).toBeLessThan(p(plain, 2));
    expect(p(penal, 1)).toBeGreaterThan(p(plain, 1));
    // Empirically too: fewer draws of id 0 with the penalty, same seed.
    const before = counts(logits, { temperature: 1 }, 5000, 8)[0]!;
    const after = counts(logits, { temperature: 1, repetitionPenalty: 1.3, recentIds: [0] }, 5000, 8)[0]!;
    expect(after).toBeLessThan(before);
  });

  it('applies before greedy selection and before temperature', () => {
    expect(sample(Float32Array.of(2, 1.9), { temperature: 0, repetitionPenalty: 1.2, recentIds: [0] }, noRng)).toBe(1);
    const d = samplingDistribution(Float32Array.of(2, 0), { temperature: 2, repetitionPenalty: 2, recentIds: [0] });
    // (2 / 2) / 2 = 0.5 vs 0: p0 = e^0.5 / (e^0.5 + 1).
    expect(d.probs[Array.from(d.ids).indexOf(0)]).toBeCloseTo(Math.exp(0.5) / (Math.exp(0.5) + 1), 6);
  });
});

describe('argument checks', () => {
  it('bad parameters are InvalidArgumentError', () => {
    const l = Float32Array.of(1, 2);
    const rng = createRng(1);
    expectThrowsNamed(() => sample(new Float32Array(0), { temperature: 1 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: -1 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: NaN }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: 1, topK: -1 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: 1, topK: 1.5 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: 1, topP: 0 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: 1, topP: 1.5 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: 1, repetitionPenalty: 0 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(l, { temperature: 1, repetitionPenalty: 1.2, recentIds: [2] }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => sample(Float32Array.of(-Infinity, NaN), { temperature: 1 }, rng), 'InvalidArgumentError');
    expectThrowsNamed(() => createRng(NaN), 'InvalidArgumentError');
  });
});
