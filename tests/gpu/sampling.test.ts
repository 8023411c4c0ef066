// GPU argmax and sampling (src/gpu/sampling.ts) against the CPU sampler (src/runtime/sampler.ts).
// The CPU twin of a GPU draw at (seed, step) is sample(logits, params, () => uniformFor(seed, step)):
// the GPU derives the same u from the same hash, so the ids must be equal. The only tolerated
// differences are the ones floating point cannot avoid, each detected and reported by name:
//   - u within CDF_BOUNDARY_TOL of a boundary of the CPU's cumulative distribution;
//   - a top-p cut within CDF_BOUNDARY_TOL of the threshold (one more or one fewer id kept).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { seededRandom } from '../helpers/random';
import {
  GPU_TOP_K_CAP,
  GpuSampler,
  uniformFor,
  type GpuLogits,
  type GpuSampleParams,
} from '../../src/gpu/sampling';
import {
  TOP_P_EPSILON,
  applyRepetitionPenalty,
  argmax,
  sample,
  samplingDistribution,
  type SamplingParams,
} from '../../src/runtime/sampler';
import { InvalidArgumentError } from '../../src/errors';

// The GPU computes probabilities in f32 (f32 exp, f32 sums in a different order) where the CPU uses
// f64 weights: cumulative probabilities agree to a few 1e-7. A draw whose u falls closer than this to a
// boundary (or a nucleus whose cumulative mass is this close to topP - eps) may legitimately differ.
const CDF_BOUNDARY_TOL = 1e-6;

const VOCABS = [1, 7, 1000, 4099, 40000];

type LogitKind = 'spread' | 'ties' | 'flat';

/** Seeded logits: 'spread' ~ U(-4, 4); 'ties' on a 0.5 grid (many exact ties); 'flat' ~ U(-0.05, 0.05) (huge nuclei). */
function makeLogits(n: number, seed: number, kind: LogitKind): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => {
    const x = rand() * 2 - 1;
    if (kind === 'spread') return x * 4;
    if (kind === 'ties') return Math.round(x * 4) / 2;
    return x * 0.05;
  });
}

function recentIdsFor(n: number, seed: number, count: number): Int32Array {
  const rand = seededRandom(seed ^ 0x5bd1e995);
  const ids = Int32Array.from({ length: count }, () => Math.floor(rand() * n));
  // A repeated id is penalised once (HF semantics): make sure the list has repeats.
  if (count > 2) ids[count - 1] = ids[0]!;
  return ids;
}

function cpuParams(p: GpuSampleParams): SamplingParams {
  return {
    temperature: p.temperature,
    topK: p.topK,
    topP: p.topP,
    repetitionPenalty: p.repetitionPenalty,
    recentIds: Array.from(p.recentIds),
  };
}

function cpuSample(logits: Float32Array, p: GpuSampleParams): number {
  return sample(logits, cpuParams(p), () => uniformFor(p.seed, p.step));
}

/**
 * Why the GPU may differ from the CPU on this draw, or null when nothing explains it. Recomputes the
 * CPU's cumulative probabilities (before and after the top-p cut) in f64.
 */
function explainMismatch(logits: Float32Array, p: GpuSampleParams): string | null {
  const u = uniformFor(p.seed, p.step);
  const { probs } = samplingDistribution(logits, cpuParams(p));
  let cum = 0;
  for (let j = 0; j < probs.length; j++) {
    cum += probs[j]!;
    if (Math.abs(u - cum) < CDF_BOUNDARY_TOL) return `u=${u} is ${Math.abs(u - cum).toExponential(2)} from the CDF boundary after candidate ${j}`;
  }
  if (p.topP < 1) {
    const n = logits.length;
    const penalized =
      p.repetitionPenalty !== 1 && p.recentIds.length > 0 ? applyRepetitionPenalty(logits, Array.from(p.recentIds), p.repetitionPenalty) : logits;
    const scaled = Float32Array.from(penalized, (v) => (Number.isNaN(v) ? -Infinity : v / p.temperature));
    let order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scaled[b]! - scaled[a]! || a - b);
    if (p.topK > 0 && p.topK < n) order = order.slice(0, p.topK);
    const m = scaled[order[0]!]!;
    const weights = order.map((i) => Math.exp(scaled[i]! - m));
    const total = weights.reduce((a, b) => a + b, 0);
    let c = 0;
    for (let j = 0; j < weights.length; j++) {
      c += weights[j]! / total;
      if (Math.abs(c - (p.topP - TOP_P_EPSILON)) < CDF_BOUNDARY_TOL) return `top-p cut ambiguous: cumulative ${c} at candidate ${j} vs threshold ${p.topP - TOP_P_EPSILON}`;
    }
  }
  return null;
}

interface Tally {
  draws: number;
  exact: number;
  explained: string[];
  unexplained: string[];
}

const newTally = (): Tally => ({ draws: 0, exact: 0, explained: [], unexplained: [] });

let device: GPUDevice;
const samplers = new Map<number, GpuSampler>();
const buffers: GPUBuffer[] = [];

async function samplerFor(n: number): Promise<GpuSampler> {
  let s = samplers.get(n);
  if (!s) {
    s = await GpuSampler.create(device, n);
    samplers.set(n, s);
  }
  return s;
}

/** Uploads logits at `offset` bytes (a multiple of 256) into a fresh storage buffer. */
function upload(logits: Float32Array, offset = 0): GpuLogits {
  const buffer = device.createBuffer({ size: offset + Math.max(4, logits.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, offset, logits as Float32Array<ArrayBuffer>);
  buffers.push(buffer);
  return { buffer, offset };
}

async function compare(tally: Tally, logits: Float32Array, gpuLogits: GpuLogits, p: GpuSampleParams, label: string): Promise<number> {
  const sampler = await samplerFor(logits.length);
  const got = await sampler.sample(gpuLogits, p);
  const want = cpuSample(logits, p);
  tally.draws++;
  if (got === want) {
    tally.exact++;
  } else {
    const why = explainMismatch(logits, p);
    const line = `${label} seed=${p.seed} step=${p.step}: gpu ${got}, cpu ${want}`;
    if (why) tally.explained.push(`${line} (${why})`);
    else tally.unexplained.push(line);
  }
  return got;
}

function report(name: string, tally: Tally): void {
  console.log(
    `[sampling] ${name}: ${tally.draws} draws, ${tally.exact} equal to the CPU twin, ${tally.explained.length} explained by a CDF boundary, ` +
      `${tally.unexplained.length} unexplained`,
  );
  for (const line of tally.explained) console.log(`[sampling]   boundary case: ${line}`);
  expect(tally.unexplained, `draws that differ from the CPU with u away from every boundary:\n${tally.unexplained.join('\n')}`).toEqual([]);
  // Boundary cases need u within 1e-6 of a boundary: with these draw counts, more than a couple means a bug.
  expect(tally.explained.length).toBeLessThanOrEqual(Math.max(1, tally.draws / 200));
}

const base: Omit<GpuSampleParams, 'seed' | 'step'> = {
  temperature: 1,
  topK: 0,
  topP: 1,
  repetitionPenalty: 1,
  recentIds: new Int32Array(0),
};

beforeAll(async () => {
  device = (await testGpu()).device;
});

afterAll(() => {
  for (const s of samplers.values()) s.destroy();
  for (const b of buffers) b.destroy();
});

describe('uniformFor: the counter-based uniform shared with the GPU', () => {
  it('is a deterministic 24-bit value in [0, 1) that changes with seed and step', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      for (let step = 0; step < 50; step++) {
        const u = uniformFor(seed, step);
        expect(u).toBeGreaterThanOrEqual(0);
        expect(u).toBeLessThan(1);
        expect(Number.isInteger(u * 2 ** 24)).toBe(true);
        expect(uniformFor(seed, step)).toBe(u);
        seen.add(u);
      }
    }
    // 1000 draws of 24 bits: a collision is possible but more than a few would mean a broken hash.
    expect(seen.size).toBeGreaterThan(995);
    // Seeds and steps are taken as u32, the way they reach the GPU.
    expect(uniformFor(-1, 3)).toBe(uniformFor(0xffffffff, 3));
    expect(uniformFor(7.9, 2 ** 32 + 5)).toBe(uniformFor(7, 5));
  });

  it('is close to uniform (mean and a 10-bin histogram over 20000 steps)', () => {
    const bins = new Array<number>(10).fill(0);
    let sum = 0;
    const draws = 20000;
    for (let step = 0; step < draws; step++) {
      const u = uniformFor(12345, step);
      sum += u;
      bins[Math.floor(u * 10)]!++;
    }
    expect(Math.abs(sum / draws - 0.5)).toBeLessThan(0.01);
    for (const count of bins) expect(Math.abs(count - draws / 10)).toBeLessThan(draws / 10 * 0.06);
  });
});

describe('GpuSampler greedy: argmax on the GPU equals the CPU argmax exactly', () => {
  it.each(VOCABS)('random logits, planted ties, -inf/NaN and huge values, n=%i', async (n) => {
    const cases: [string, Float32Array][] = [];
    const random = makeLogits(n, n * 7 + 1, 'spread');
    cases.push(['random', random]);
    // The maximum at several ids, in different chunks: the lowest id must win.
    const ties = random.slice();
    for (const i of [n - 1, Math.floor(n / 2), Math.floor(n / 3), 5].filter((i) => i < n)) ties[i] = 9;
    cases.push(['planted ties', ties]);
    // NaN counts as -inf; the lowest id among equal -inf/NaN logits.
    const specials = random.slice();
    for (let i = 0; i < n; i += 3) specials[i] = -Infinity;
    for (let i = 1; i < n; i += 5) specials[i] = NaN;
    if (n > 4) {
      specials[n - 2] = 3.4e38;
      specials[n - 4] = 3.4e38;
      specials[1] = -3.4e38;
    }
    cases.push(['-inf/NaN/huge', specials]);
    const withInf = random.slice();
    withInf[n - 1] = Infinity;
    if (n > 3) withInf[2] = Infinity;
    cases.push(['+inf', withInf]);
    cases.push(['all -inf', new Float32Array(n).fill(-Infinity)]);
    cases.push(['all NaN', new Float32Array(n).fill(NaN)]);
    const zeros = new Float32Array(n);
    if (n > 2) zeros[n - 1] = -0;
    cases.push(['zeros (ties everywhere, -0 == +0)', zeros]);

    const sampler = await samplerFor(n);
    for (const [name, logits] of cases) {
      const p: GpuSampleParams = { ...base, temperature: 0, seed: 1, step: 0 };
      const got = await sampler.sample(upload(logits), p);
      expect(got, `${name}, n=${n}`).toBe(argmax(logits));
      expect(got, `${name}, n=${n}`).toBe(cpuSample(logits, p));
    }
  });

  it.each(VOCABS)('with a repetition penalty that demotes the leaders, n=%i', async (n) => {
    const logits = makeLogits(n, n + 99, 'spread');
    // Penalise the 3 best ids (and a negative one): the argmax moves to the next id, as on the CPU.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
    const recent = Int32Array.from([order[0]!, order[1 % n]!, order[0]!, order[2 % n]!, order[n - 1]!]);
    for (const penalty of [1.25, 2, 0.5]) {
      const p: GpuSampleParams = { ...base, temperature: 0, repetitionPenalty: penalty, recentIds: recent, seed: 3, step: 1 };
      const got = await (await samplerFor(n)).sample(upload(logits), p);
      expect(got, `penalty ${penalty}, n=${n}`).toBe(cpuSample(logits, p));
    }
  });
});

describe('GpuSampler draws equal the CPU twin for the same (seed, step)', () => {
  interface Combo {
    name: string;
    params: Omit<GpuSampleParams, 'seed' | 'step' | 'recentIds'>;
    penalised?: boolean;
  }
  const combos: Combo[] = [
    { name: 'no filter', params: { ...base, temperature: 1 } },
    { name: 'no filter, T=0.75, penalty', params: { ...base, temperature: 0.75, repetitionPenalty: 1.25 }, penalised: true },
    { name: 'top-k 1', params: { ...base, temperature: 1, topK: 1 } },
    { name: 'top-k 40, T=0.75', params: { ...base, temperature: 0.75, topK: 40 } },
    { name: `top-k ${GPU_TOP_K_CAP} (the cap)`, params: { ...base, temperature: 1.5, topK: GPU_TOP_K_CAP } },
    { name: 'top-k 5 + top-p 0.9, T=1.5, penalty', params: { ...base, temperature: 1.5, topK: 5, topP: 0.9, repetitionPenalty: 2 }, penalised: true },
    { name: 'top-p 0.9, T=0.5', params: { ...base, temperature: 0.5, topP: 0.9 } },
    { name: 'top-p 0.5, penalty', params: { ...base, temperature: 1, topP: 0.5, repetitionPenalty: 1.25 }, penalised: true },
    { name: 'top-p 0.95, T=2', params: { ...base, temperature: 2, topP: 0.95 } },
  ];
  const kinds: LogitKind[] = ['spread', 'ties', 'flat'];

  it.each(VOCABS)('every combination of filters and logit shapes, n=%i', async (n) => {
    const tally = newTally();
    for (const kind of kinds) {
      const logits = makeLogits(n, n * 31 + kind.length, kind);
      const gpuLogits = upload(logits, 256);
      for (const [c, combo] of combos.entries()) {
        const recentIds = combo.penalised ? recentIdsFor(n, n + kind.length, Math.min(24, 2 * n)) : new Int32Array(0);
        const p: GpuSampleParams = { ...combo.params, recentIds, seed: 1000 + n + c, step: c * 17 + kind.length };
        await compare(tally, logits, gpuLogits, p, `${combo.name} ${kind} n=${n}`);
      }
    }
    report(`n=${n}`, tally);
  });

  it('nuclei larger than the 256 candidates (the full-vocabulary nucleus pass), with ties inside the cut', async () => {
    const tally = newTally();
    let beyondCandidates = 0;
    for (const n of [1000, 4099, 40000]) {
      // 'flat': thousands of ids in the nucleus. 'three levels': ties decide both the cut and the draw.
      const shapes: [string, Float32Array][] = [
        ['flat', makeLogits(n, n + 5, 'flat')],
        ['three levels', Float32Array.from(makeLogits(n, n + 6, 'spread'), (x) => (x > 1.5 ? 1 : x > -1 ? 0.5 : 0))],
      ];
      for (const [shape, logits] of shapes) {
        const gpuLogits = upload(logits);
        for (const topP of [0.3, 0.8, 0.99]) {
          const nucleus = samplingDistribution(logits, cpuParams({ ...base, topP, seed: 0, step: 0 })).ids.length;
          if (nucleus > GPU_TOP_K_CAP) beyondCandidates++;
          for (let d = 0; d < 2; d++) {
            const p: GpuSampleParams = { ...base, temperature: 1, topP, seed: 77 + d, step: n + d };
            await compare(tally, logits, gpuLogits, p, `top-p ${topP} ${shape} n=${n} (nucleus ${nucleus})`);
          }
        }
      }
    }
    report('large nuclei', tally);
    // The point of this test: most of these nuclei are beyond sample_topk's candidates.
    console.log(`[sampling] large nuclei: ${beyondCandidates} of 18 cases hold more than ${GPU_TOP_K_CAP} ids`);
    expect(beyondCandidates).toBeGreaterThanOrEqual(12);
  });

  it('GLM-4 vocabulary size (151552): one draw per mode, logits at an offset', async () => {
    const n = 151552;
    const tally = newTally();
    const logits = makeLogits(n, 42, 'spread');
    const gpuLogits = upload(logits, 512);
    const modes: Omit<GpuSampleParams, 'seed' | 'step'>[] = [
      { ...base, temperature: 0 },
      { ...base, temperature: 0.8, topK: 50 },
      { ...base, temperature: 0.8, topP: 0.8 },
      { ...base, temperature: 1.5, topP: 0.8 }, // the nucleus holds thousands of ids here
      { ...base, temperature: 1 },
    ];
    for (const [i, m] of modes.entries()) {
      await compare(tally, logits, gpuLogits, { ...m, seed: 9, step: i }, `mode ${i} n=${n}`);
    }
    report(`n=${n}`, tally);
  });
});

describe('GpuSampler cuts and reproducibility', () => {
  const n = 1000;
  const DRAWS = 25;

  it('never returns an id outside the top-k set or the nucleus, and matches the CPU twin draw by draw', async () => {
    const logits = makeLogits(n, 2024, 'spread');
    const gpuLogits = upload(logits);
    const cases: Omit<GpuSampleParams, 'seed' | 'step'>[] = [
      { ...base, temperature: 1.5, topK: 5 },
      { ...base, temperature: 1.5, topP: 0.5 },
      { ...base, temperature: 3, topK: 20, topP: 0.6 },
    ];
    for (const params of cases) {
      const allowed = new Set(samplingDistribution(logits, cpuParams({ ...params, seed: 0, step: 0 })).ids);
      const hits = new Map<number, number>();
      const tally = newTally();
      for (let step = 0; step < DRAWS; step++) {
        const id = await compare(tally, logits, gpuLogits, { ...params, seed: 5, step }, `topK ${params.topK} topP ${params.topP}`);
        expect(allowed.has(id), `id ${id} outside the ${allowed.size} allowed ids (topK ${params.topK}, topP ${params.topP})`).toBe(true);
        hits.set(id, (hits.get(id) ?? 0) + 1);
      }
      report(`cut topK ${params.topK} topP ${params.topP}`, tally);
      // A sampler stuck on one id would pass the set test: with these temperatures several ids must come up.
      expect(hits.size, `distinct ids in ${DRAWS} draws`).toBeGreaterThan(Math.min(3, allowed.size - 1));
    }
  });

  it('repeats a seeded run exactly, and another seed gives another run', async () => {
    const logits = makeLogits(n, 7, 'spread');
    const gpuLogits = upload(logits);
    const sampler = await samplerFor(n);
    const params = { ...base, temperature: 1.2, topK: 40, topP: 0.95 };
    const run = async (seed: number): Promise<number[]> => {
      const ids: number[] = [];
      for (let step = 0; step < 12; step++) ids.push(await sampler.sample(gpuLogits, { ...params, seed, step }));
      return ids;
    };
    const a = await run(11);
    expect(await run(11)).toEqual(a);
    expect(await run(12)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(3);
  });

  it('encodes into a caller-owned compute pass, the result copied by the caller', async () => {
    const logits = makeLogits(n, 31337, 'spread');
    const gpuLogits = upload(logits, 1024);
    const sampler = await samplerFor(n);
    const staging = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    buffers.push(staging);
    for (const [step, params] of [{ ...base, temperature: 0 }, { ...base, temperature: 0.9, topK: 30, topP: 0.9 }].entries()) {
      const p: GpuSampleParams = { ...params, seed: 1, step };
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      const mode = sampler.encode(pass, gpuLogits, p);
      pass.end();
      encoder.copyBufferToBuffer(sampler.result, 0, staging, 0, 4);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const id = new Uint32Array(staging.getMappedRange().slice(0))[0];
      staging.unmap();
      expect(mode).toBe(step === 0 ? 'greedy' : 'top-k');
      expect(id).toBe(cpuSample(logits, p));
    }
  });
});

describe('GpuSampler parameter checks', () => {
  it('enforces the top-k cap with a RangeError, and treats topK >= vocab as off like the CPU', async () => {
    const n = 1000;
    const sampler = await samplerFor(n);
    const logits = makeLogits(n, 1, 'spread');
    const gpuLogits = upload(logits);
    const over = { ...base, topK: GPU_TOP_K_CAP + 1, seed: 1, step: 0 };
    expect(() => sampler.writeParams(over)).toThrow(RangeError);
    expect(() => sampler.writeParams(over)).toThrow(/cap of 256/);
    const off = { ...base, topK: n, seed: 1, step: 0 };
    expect(sampler.writeParams(off)).toBe('full');
    expect(await sampler.sample(gpuLogits, off)).toBe(cpuSample(logits, off));
    // Past the vocabulary the cap does not apply either (small vocabularies).
    const tiny = await samplerFor(7);
    expect(tiny.writeParams({ ...base, topK: 1000, seed: 1, step: 0 })).toBe('full');
  });

  it('rejects what the CPU sampler rejects, with InvalidArgumentError', async () => {
    const n = 7;
    const sampler = await samplerFor(n);
    const ok: GpuSampleParams = { ...base, seed: 1, step: 0 };
    const bad: Partial<GpuSampleParams>[] = [
      { temperature: -1 },
      { temperature: NaN },
      { topK: 1.5 },
      { topK: -1 },
      { topP: 0 },
      { topP: 1.5 },
      { repetitionPenalty: 0 },
      { repetitionPenalty: 1.5, recentIds: Int32Array.of(7) },
      { repetitionPenalty: 1.5, recentIds: Int32Array.of(-1) },
      { seed: Infinity },
    ];
    for (const change of bad) {
      expect(() => sampler.writeParams({ ...ok, ...change }), JSON.stringify(change)).toThrow(InvalidArgumentError);
    }
    // Out-of-range ids are only an error when the penalty is on, as on the CPU.
    expect(sampler.writeParams({ ...ok, recentIds: Int32Array.of(99) })).toBe('full');
  });

  it('reports all -inf / NaN logits as the CPU does: an error when sampling, id 0 when greedy', async () => {
    const n = 1000;
    const sampler = await samplerFor(n);
    const logits = new Float32Array(n).fill(-Infinity);
    logits[3] = NaN;
    const gpuLogits = upload(logits);
    for (const params of [{ ...base }, { ...base, topK: 3 }, { ...base, topP: 0.9 }]) {
      const p = { ...params, seed: 1, step: 0 };
      expect(() => cpuSample(logits, p)).toThrow(InvalidArgumentError);
      await expect(sampler.sample(gpuLogits, p)).rejects.toThrow(InvalidArgumentError);
    }
    expect(await sampler.sample(gpuLogits, { ...base, temperature: 0, seed: 1, step: 0 })).toBe(0);
  });

  it('grows its buffer of recent ids past the initial 64', async () => {
    const n = 4099;
    const logits = makeLogits(n, 3, 'spread');
    const gpuLogits = upload(logits);
    const recentIds = recentIdsFor(n, 9, 500);
    const tally = newTally();
    for (const params of [{ ...base, temperature: 0 }, { ...base, temperature: 1, topK: 10 }]) {
      for (let step = 0; step < 3; step++) {
        await compare(tally, logits, gpuLogits, { ...params, repetitionPenalty: 1.5, recentIds, seed: 4, step }, 'recent 500');
      }
    }
    report('500 recent ids', tally);
  });
});
