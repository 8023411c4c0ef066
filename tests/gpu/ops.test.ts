// Every GpuOps method against its CPU twin (src/cpu/ops.ts; src/cpu/quant-matmul.ts and dequantize for
// Q4/Q8), over shape sweeps with sizes that divide neither the workgroup sizes nor the group size 32.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import {
  CpuOps,
  add,
  attention,
  cpuTensor,
  embed,
  gelu,
  layerNorm,
  matmulF32,
  rmsNorm,
  ropeKvAppend,
  swiglu,
  type CpuKvCache,
  type CpuTensor,
} from '../../src/cpu/ops';
import { roundToF16 } from '../../src/formats/dtype';
import type { GlmConfig, RopeSpec } from '../../src/model/config';
import type { ForwardBatch } from '../../src/model/ops';
import { hostTensor } from '../../src/model/tensor';
import type { HostWeight } from '../../src/model/weights';
import { dequantize, quantizeQ4, quantizeQ8 } from '../../src/quant/index';
import type { GpuContext } from '../../src/gpu/device';
import { GpuFeatureUnavailableError, GpuOps } from '../../src/gpu/ops';
import type { GpuTensor } from '../../src/gpu/tensor';
import { expectAllClose } from '../helpers/compare';
import { randomArray } from '../helpers/random';

// ---- tolerances ----
/**
 * matmul: the GPU accumulates in f32 in a different order than the CPU's double sums (or the CPU
 * twin's per-group f32 sums), so errors grow like sqrt(K) roundings of O(1) partial sums.
 */
const MATMUL_ATOL_PER_SQRT_K = 2e-6;
const MATMUL_RTOL = 1e-5;
/** Norms: one f32 reduction over the row vs a double one, then a product of three O(1) factors. */
const NORM_ATOL = 1e-5;
const NORM_RTOL = 1e-5;
/** exp / tanh: WGSL allows a few ulps (SwiftShader and GPUs differ from V8's libm). */
const ACTIVATION_ATOL = 1e-6;
const ACTIVATION_RTOL = 1e-5;
/**
 * RoPE: the angle is the identical f32 product; cos/sin of it differ by the range reduction's
 * rounding (~ulp of the reduced angle) and WGSL's cos/sin accuracy, times values O(1).
 */
const ROPE_ATOL = 2e-6;
/** Attention: f32 dot products and an online softmax (rescaled sums) vs the CPU's double two-pass softmax. */
const ATTENTION_ATOL = 1e-5;
const ATTENTION_RTOL = 1e-5;
/** Gathers, copies and additions of two f32 values: the GPU does the same single rounding as the CPU. */
const EXACT = { atol: 0 };

let ctx: GpuContext;
let ops: GpuOps;
const cpu = new CpuOps();

beforeAll(async () => {
  ctx = await testGpu();
  ops = new GpuOps(ctx);
});

afterAll(() => ops?.dispose());

function randomTensor(rows: number, cols: number, seed: number, scale = 1): CpuTensor {
  return cpuTensor(rows, cols, randomArray(rows * cols, seed, scale));
}

const up = (t: CpuTensor, o: GpuOps = ops): GpuTensor => o.upload(t.data, t.rows, t.cols);

// ---- weight formats and their CPU twins ----

type Format = 'f32' | 'f16' | 'q4' | 'q4-mins' | 'q8';
const FORMATS: Format[] = ['f32', 'f16', 'q4', 'q4-mins', 'q8'];

interface TestWeight {
  host: HostWeight;
  /** The values the GPU should see, row-major [rows, cols] (dequantized / f16-rounded). */
  values: Float32Array;
  upload: { denseMatrices?: 'f16' };
}

function makeWeight(format: Format, rows: number, cols: number, seed: number): TestWeight {
  const data = randomArray(rows * cols, seed);
  switch (format) {
    case 'f32':
      return { host: hostTensor(data, [rows, cols]), values: data, upload: {} };
    case 'f16':
      return { host: hostTensor(data, [rows, cols]), values: data.map(roundToF16), upload: { denseMatrices: 'f16' } };
    case 'q4':
    case 'q4-mins': {
      const q = quantizeQ4(data, rows, cols, { asymmetric: format === 'q4-mins' });
      return { host: q, values: dequantize(q), upload: {} };
    }
    case 'q8': {
      const q = quantizeQ8(data, rows, cols);
      return { host: q, values: dequantize(q), upload: {} };
    }
  }
}

/** Bytes of one row of the largest buffer of a weight: what maxBindingBytes is compared with. */
function rowBytes(format: Format, cols: number): number {
  const groups = Math.ceil(cols / 32);
  return { f32: cols * 4, f16: cols * 2, q4: groups * 16, 'q4-mins': groups * 16, q8: groups * 32 }[format];
}

/** A GpuOps whose binding limit holds `rows` rows of a `cols`-wide weight, to force splitting. */
function splittingOps(format: Format, cols: number, rows: number): GpuOps {
  return new GpuOps(ctx, { maxBindingBytes: rows * rowBytes(format, cols) + 4 });
}

interface Epilogue {
  name: string;
  bias: boolean;
  residual: boolean;
  residualScale?: number;
}
const EPILOGUES: Epilogue[] = [
  { name: 'plain', bias: false, residual: false },
  { name: 'bias', bias: true, residual: false },
  { name: 'residual', bias: false, residual: true },
  // ChatGLM-6B's alpha = sqrt(56) scales the residual.
  { name: 'bias+alpha*residual', bias: true, residual: true, residualScale: Math.sqrt(56) },
];

/**
 * The CPU twin of a matmul: CpuOps.matmul on the same weight (matmulQ4/Q8 -> matmulQuant, same
 * per-group order; f16 storage -> matmulF32 on the f16-rounded values).
 */
function cpuMatmul(x: CpuTensor, w: TestWeight, rows: number, bias?: Float32Array, residual?: CpuTensor, residualScale?: number): CpuTensor {
  const weight: HostWeight = w.host.dtype === 'f32' ? hostTensor(w.values, [rows, x.cols]) : w.host;
  return cpu.matmul(x, weight, { bias: bias && hostTensor(bias, [rows]), residual, residualScale });
}

async function checkMatmul(o: GpuOps, format: Format, n: number, rows: number, cols: number, seed: number, epilogues = EPILOGUES): Promise<void> {
  const w = makeWeight(format, rows, cols, seed);
  const gw = await o.uploadWeight(w.host, `w${format}`, w.upload);
  const bias = randomArray(rows, seed + 1);
  const gBias = await o.uploadWeight(hostTensor(bias, [rows]), 'bias');
  const x = randomTensor(n, cols, seed + 2);
  const residual = randomTensor(n, rows, seed + 3);
  for (const e of epilogues) {
    const got = await o.read(
      o.matmul(up(x, o), gw, {
        bias: e.bias ? gBias : undefined,
        residual: e.residual ? up(residual, o) : undefined,
        residualScale: e.residualScale,
      }),
    );
    const want = cpuMatmul(x, w, rows, e.bias ? bias : undefined, e.residual ? residual : undefined, e.residualScale);
    expectAllClose(got, want.data, {
      atol: MATMUL_ATOL_PER_SQRT_K * Math.sqrt(cols) * (e.residualScale ?? 1),
      rtol: MATMUL_RTOL,
      label: `matmul ${format} n=${n} rows=${rows} cols=${cols} ${e.name}`,
    });
  }
}

const COLS = [1, 31, 33, 100, 130];
const ROWS = [1, 7, 65];
const NS = [1, 3, 5];
const SHAPES = COLS.flatMap((cols) => ROWS.flatMap((rows) => NS.map((n) => [n, rows, cols] as const)));

describe('matmul (GEMV for n=1, GEMM for n>1) vs the CPU twin', () => {
  describe.each(FORMATS)('%s weights', (format) => {
    it('covers every shape of the sweep with and without bias / residual / residualScale', async () => {
      let seed = 100;
      for (const [n, rows, cols] of SHAPES) await checkMatmul(ops, format, n, rows, cols, seed++);
    });

    it('crosses GEMM tile edges (37 tokens x 130 rows) and long K (cols 4200 > 128 groups)', async () => {
      await checkMatmul(ops, format, 37, 130, 100, 7);
      await checkMatmul(ops, format, 1, 5, 4200, 8, [EPILOGUES[3]!]);
      await checkMatmul(ops, format, 2, 5, 4200, 9, [EPILOGUES[3]!]);
    });

    it('splits a weight over maxBindingBytes by rows and loops the dispatch over the parts', async () => {
      // 3 rows per part: at 130 cols (5 groups per row) Q4/Q8 parts start at odd groups, so the f16
      // scale pairs must be re-packed per part.
      const split = splittingOps(format, 130, 3);
      try {
        const probe = makeWeight(format, 65, 130, 3);
        const w = await split.uploadWeight(probe.host, 'probe', probe.upload);
        expect(w.parts.length).toBeGreaterThan(1);
        await checkMatmul(split, format, 1, 65, 130, 11);
        await checkMatmul(split, format, 5, 65, 130, 12);
        await checkMatmul(split, format, 3, 7, 33, 13);
      } finally {
        split.dispose();
      }
    });
  });

  it('refuses mismatched shapes with RangeErrors before encoding', async () => {
    const w = await ops.uploadWeight(hostTensor(randomArray(6, 1), [2, 3]), 'w');
    expect(() => ops.matmul(ops.upload(new Float32Array(4), 1, 4), w)).toThrow(RangeError);
    const x = ops.upload(new Float32Array(3), 1, 3);
    expect(() => ops.matmul(x, w, { residual: ops.upload(new Float32Array(3), 1, 3) })).toThrow(/residual is \[1, 3\], expected \[1, 2\]/);
    const bias = await ops.uploadWeight(hostTensor(new Float32Array(3), [3]), 'bias');
    expect(() => ops.matmul(x, w, { bias })).toThrow(RangeError);
    await ops.flush();
  });
});

describe('embed vs the CPU gather', () => {
  describe.each(FORMATS)('%s table', (format) => {
    it.each([1, 31, 33, 100])('hidden %i, ids at both ends and repeated', async (hidden) => {
      const vocab = 37;
      const w = makeWeight(format, vocab, hidden, hidden);
      const table = await ops.uploadWeight(w.host, 'table', w.upload);
      const ids = Int32Array.from([0, 36, 5, 5, 17]);
      const got = await ops.read(ops.embed(table, ids));
      const twin: HostWeight = w.host.dtype === 'f32' ? hostTensor(w.values, [vocab, hidden]) : w.host;
      expectAllClose(got, cpu.embed(twin, ids).data, { ...EXACT, label: `embed ${format} hidden=${hidden}` });
    });

    it('gathers from a table split over maxBindingBytes', async () => {
      const split = splittingOps(format, 65, 3);
      try {
        const w = makeWeight(format, 40, 65, 5);
        const table = await split.uploadWeight(w.host, 'table', w.upload);
        expect(table.parts.length).toBeGreaterThan(1);
        const ids = Int32Array.from([39, 0, 20, 3, 39, 12]);
        const got = await split.read(split.embed(table, ids));
        expectAllClose(got, embed(w.values, 65, ids).data, { ...EXACT, label: `split embed ${format}` });
      } finally {
        split.dispose();
      }
    });
  });

  it('refuses ids outside the vocabulary', async () => {
    const table = await ops.uploadWeight(hostTensor(new Float32Array(12), [4, 3]), 'table');
    expect(() => ops.embed(table, Int32Array.from([4]))).toThrow(/outside the vocabulary/);
    expect(() => ops.embed(table, Int32Array.from([-1]))).toThrow(RangeError);
  });
});

describe('norms vs the CPU', () => {
  const shapes = [1, 7, 65].flatMap((rows) => [1, 31, 33, 100, 130, 300].map((cols) => [rows, cols] as const));
  it.each(shapes)('rmsNorm [%i, %i]', async (rows, cols) => {
    const x = randomTensor(rows, cols, rows * 1000 + cols, 3);
    const weight = randomArray(cols, cols + 1);
    const gw = await ops.uploadWeight(hostTensor(weight, [cols]), 'norm');
    const got = await ops.read(ops.rmsNorm(up(x), gw, 1e-5));
    expectAllClose(got, rmsNorm(x, weight, 1e-5).data, { atol: NORM_ATOL, rtol: NORM_RTOL, label: `rmsNorm [${rows}, ${cols}]` });
  });

  it.each(shapes)('layerNorm [%i, %i] with and without bias', async (rows, cols) => {
    // An offset mean checks that the variance is taken around it (two passes).
    const x = cpuTensor(rows, cols, randomArray(rows * cols, rows * 77 + cols, 2).map((v) => v + 5));
    const weight = randomArray(cols, cols + 2);
    const bias = randomArray(cols, cols + 3);
    const gw = await ops.uploadWeight(hostTensor(weight, [cols]), 'ln.weight');
    const gb = await ops.uploadWeight(hostTensor(bias, [cols]), 'ln.bias');
    const withBias = await ops.read(ops.layerNorm(up(x), gw, gb, 1e-5));
    expectAllClose(withBias, layerNorm(x, weight, bias, 1e-5).data, { atol: NORM_ATOL, rtol: NORM_RTOL, label: `layerNorm+bias [${rows}, ${cols}]` });
    const noBias = await ops.read(ops.layerNorm(up(x), gw, undefined, 1e-5));
    expectAllClose(noBias, layerNorm(x, weight, undefined, 1e-5).data, { atol: NORM_ATOL, rtol: NORM_RTOL, label: `layerNorm [${rows}, ${cols}]` });
  });

  it('refuses a weight of the wrong length', async () => {
    const gw = await ops.uploadWeight(hostTensor(new Float32Array(4), [4]), 'norm');
    expect(() => ops.rmsNorm(ops.upload(new Float32Array(5), 1, 5), gw, 1e-5)).toThrow(/rmsNorm weight: expected 5 values/);
    await ops.flush();
  });
});

describe('element-wise ops vs the CPU', () => {
  const shapes = [
    [1, 2],
    [3, 62],
    [5, 260],
    [65, 130],
  ] as const;
  it.each(shapes)('swiglu [%i, %i]', async (rows, cols) => {
    const x = randomTensor(rows, cols, rows + cols, 6);
    const got = await ops.read(ops.swiglu(up(x)));
    expectAllClose(got, swiglu(x).data, { atol: ACTIVATION_ATOL, rtol: ACTIVATION_RTOL, label: `swiglu [${rows}, ${cols}]` });
  });

  it.each(shapes)('gelu [%i, %i]', async (rows, cols) => {
    // Scale 12 reaches the saturated tails of tanh on both sides.
    const x = randomTensor(rows, cols, rows * 3 + cols, 12);
    const got = await ops.read(ops.gelu(up(x)));
    expectAllClose(got, gelu(x).data, { atol: ACTIVATION_ATOL, rtol: ACTIVATION_RTOL, label: `gelu [${rows}, ${cols}]` });
  });

  it.each(shapes)('add [%i, %i]', async (rows, cols) => {
    const a = randomTensor(rows, cols, 1);
    const b = randomTensor(rows, cols, 2);
    const got = await ops.read(ops.add(up(a), up(b)));
    expectAllClose(got, add(a, b).data, { ...EXACT, label: `add [${rows}, ${cols}]` });
  });

  it.each([
    [7, 0, 1],
    [7, 6, 1],
    [7, 2, 4],
    [65, 64, 1],
  ] as const)('sliceRows of %i rows from %i, %i rows', async (rows, start, count) => {
    const x = randomTensor(rows, 33, rows + start);
    const got = await ops.read(ops.sliceRows(up(x), start, count));
    expectAllClose(got, cpu.sliceRows(x, start, count).data, { ...EXACT, label: 'sliceRows' });
  });

  it('refuses bad shapes', async () => {
    expect(() => ops.swiglu(ops.upload(new Float32Array(3), 1, 3))).toThrow(/odd/);
    expect(() => ops.add(ops.upload(new Float32Array(3), 1, 3), ops.upload(new Float32Array(4), 2, 2))).toThrow(RangeError);
    expect(() => ops.sliceRows(ops.upload(new Float32Array(6), 2, 3), 1, 2)).toThrow(RangeError);
    await ops.flush();
  });
});

// ---- RoPE + KV append, attention ----

function attnConfig(numHeads: number, numKvHeads: number, headDim: number, rope: RopeSpec): GlmConfig {
  return {
    family: rope.style === 'chatglm1-2d' ? 'chatglm1' : 'chatglm2',
    vocabSize: 16,
    hiddenSize: numHeads * headDim,
    numLayers: 2,
    numHeads,
    numKvHeads,
    headDim,
    ffnHiddenSize: 8,
    norm: 'rmsnorm',
    normEps: 1e-5,
    mlp: 'swiglu',
    rope,
    qkvBias: false,
    attnOutBias: false,
    mlpBias: false,
    residualAlpha: null,
    sandwichNorms: false,
    tieWordEmbeddings: false,
    maxSequenceLength: 512,
    storedQuantBits: 0,
    tokens: { eos: [] },
  };
}

interface RopeCase {
  name: string;
  H: number;
  Hkv: number;
  D: number;
  rope: RopeSpec;
}
const ROPE_CASES: RopeCase[] = [
  { name: 'interleaved, rotaryDim < headDim, GQA 4/2', H: 4, Hkv: 2, D: 16, rope: { style: 'interleaved', rotaryDim: 8, base: 10000, f16InvFreq: false } },
  { name: 'interleaved, rotaryDim == headDim, MQA 4/1', H: 4, Hkv: 1, D: 16, rope: { style: 'interleaved', rotaryDim: 16, base: 10000, f16InvFreq: false } },
  { name: 'interleaved, base 5e6 (GLM-4), MHA 2/2, D 20', H: 2, Hkv: 2, D: 20, rope: { style: 'interleaved', rotaryDim: 10, base: 5e6, f16InvFreq: false } },
  { name: 'chatglm1-2d, f16 inv_freq, MHA 4/4', H: 4, Hkv: 4, D: 16, rope: { style: 'chatglm1-2d', rotaryDim: 8, base: 10000, f16InvFreq: true } },
];

function batchOf(n: number, start: number, opts: { posOffset?: number; twoD?: boolean; prefix?: number; zeroPositions?: boolean } = {}): ForwardBatch {
  const positions = Int32Array.from({ length: n }, (_, i) => (opts.zeroPositions ? 0 : start + i + (opts.posOffset ?? 0)));
  const batch: ForwardBatch = { ids: new Int32Array(n), positions, start, bidirectionalPrefix: opts.prefix ?? 0 };
  if (opts.twoD) batch.blockPositions = Int32Array.from({ length: n }, (_, i) => (opts.zeroPositions ? 0 : 1 + start + i));
  return batch;
}

describe('ropeKvAppend vs the CPU', () => {
  it.each(ROPE_CASES)('$name: prefill, then decode, then a 3-token append', async ({ H, Hkv, D, rope }) => {
    const config = attnConfig(H, Hkv, D, rope);
    const capacity = 12;
    const cpuCache = cpu.createKvCache(config, capacity);
    const gpuCache = ops.createKvCache(config, capacity);
    const width = (H + 2 * Hkv) * D;
    // Positions far from 0 exercise the range reduction of large angles.
    const steps = [batchOf(5, 0, { posOffset: 3000, twoD: rope.style === 'chatglm1-2d' }), batchOf(1, 5, { posOffset: 3000 }), batchOf(3, 6, { posOffset: 100000 })];
    for (const [s, batch] of steps.entries()) {
      if (rope.style === 'chatglm1-2d' && !batch.blockPositions) batch.blockPositions = Int32Array.from(batch.positions, (p) => p % 7);
      const qkv = randomTensor(batch.positions.length, width, 40 + s, 2);
      for (const layer of [1]) {
        const got = await ops.read(ops.ropeKvAppend(up(qkv), gpuCache, layer, batch, config));
        const want = ropeKvAppend(qkv, cpuCache, layer, batch, config);
        expectAllClose(got, want.data, { atol: ROPE_ATOL, label: `q after step ${s}` });
        const { k, v } = await ops.readKvCache(gpuCache, layer);
        expectAllClose(k, cpuCache.k[layer]!, { atol: ROPE_ATOL, label: `K cache after step ${s}` });
        expectAllClose(v, cpuCache.v[layer]!, { ...EXACT, label: `V cache after step ${s}` });
      }
    }
    // Layer 0 was never written.
    expect(Math.max(...(await ops.readKvCache(gpuCache, 0)).k.map(Math.abs))).toBe(0);
    ops.releaseKvCache(gpuCache);
  });

  it('refuses a full cache and a wrong qkv width', async () => {
    const config = attnConfig(4, 2, 16, ROPE_CASES[0]!.rope);
    const cache = ops.createKvCache(config, 4);
    const qkv = ops.upload(new Float32Array(3 * 128), 3, 128);
    expect(() => ops.ropeKvAppend(qkv, cache, 0, batchOf(3, 2), config)).toThrow(/KV cache full: 5 tokens > capacity 4/);
    expect(() => ops.ropeKvAppend(ops.upload(new Float32Array(3), 1, 3), cache, 0, batchOf(1, 0), config)).toThrow(/qkv width 3/);
    await ops.flush();
    ops.releaseKvCache(cache);
  });
});

interface AttentionCase {
  name: string;
  H: number;
  Hkv: number;
  D: number;
  /** [n, bidirectionalPrefix] of successive forward calls. */
  steps: [number, number][];
}
const ATTENTION_CASES: AttentionCase[] = [
  { name: 'GQA 4/2, causal prefill 7 then 2 decodes', H: 4, Hkv: 2, D: 16, steps: [[7, 0], [1, 0], [1, 0]] },
  { name: 'MQA 4/1, prefill 5 then 3 then decode', H: 4, Hkv: 1, D: 16, steps: [[5, 0], [3, 0], [1, 0]] },
  { name: 'MHA 4/4, bidirectional prefix 4 of a 6-token prompt, then decodes', H: 4, Hkv: 4, D: 16, steps: [[6, 4], [1, 4], [1, 4]] },
  { name: 'GQA 6/2, D 80 (two dims per invocation), prefix 3', H: 6, Hkv: 2, D: 80, steps: [[5, 3], [1, 3]] },
  // 150 keys = three tiles of 64: the online softmax carries max and sum across tiles.
  { name: 'MQA 2/1, 150-token prefill (3 key tiles) then decodes', H: 2, Hkv: 1, D: 16, steps: [[150, 0], [1, 0], [1, 0]] },
  { name: 'GQA 4/2, prefix 140 spanning tiles', H: 4, Hkv: 2, D: 16, steps: [[150, 140], [1, 140]] },
  // Decode runs attention_split.wgsl (tiles of 128 keys, merged per head) when D % 4 == 0: 1, 2 and 3 tiles.
  { name: 'GQA 8/2, D 128 (GLM heads), decodes at 1 to 3 key tiles of the split kernel', H: 8, Hkv: 2, D: 128, steps: [[127, 0], [1, 0], [1, 0], [128, 0], [1, 0], [1, 0]] },
  { name: 'MHA 3/3, D 6 (not a multiple of 4: the tiled kernel decodes)', H: 3, Hkv: 3, D: 6, steps: [[130, 0], [1, 0]] },
];

describe('attention vs the CPU (decode after prefill)', () => {
  it.each(ATTENTION_CASES)('$name', async ({ H, Hkv, D, steps }) => {
    // Positions 0 make RoPE the identity, so both caches hold exactly the same K and V and the
    // comparison measures attention alone (RoPE has its own tests above).
    const config = attnConfig(H, Hkv, D, { style: 'interleaved', rotaryDim: D, base: 10000, f16InvFreq: false });
    const capacity = steps.reduce((s, [n]) => s + n, 0) + 3;
    const cpuCache: CpuKvCache = cpu.createKvCache(config, capacity);
    const gpuCache = ops.createKvCache(config, capacity);
    let start = 0;
    for (const [s, [n, prefix]] of steps.entries()) {
      const batch = batchOf(n, start, { zeroPositions: true, prefix });
      const qkv = randomTensor(n, (H + 2 * Hkv) * D, 300 + s, 1.5);
      const q = ops.ropeKvAppend(up(qkv), gpuCache, 0, batch, config);
      const got = await ops.read(ops.attention(q, gpuCache, 0, batch, config));
      const want = attention(ropeKvAppend(qkv, cpuCache, 0, batch, config), cpuCache, 0, batch, config);
      expectAllClose(got, want.data, { atol: ATTENTION_ATOL, rtol: ATTENTION_RTOL, label: `attention step ${s} (n=${n}, start=${start}, prefix=${prefix})` });
      start += n;
    }
    ops.releaseKvCache(gpuCache);
  });

  it('refuses a query of the wrong width', async () => {
    const config = attnConfig(4, 2, 16, ROPE_CASES[0]!.rope);
    const cache = ops.createKvCache(config, 4);
    expect(() => ops.attention(ops.upload(new Float32Array(32), 1, 32), cache, 0, batchOf(1, 0), config)).toThrow(/q width 32, expected 64/);
    await ops.flush();
    ops.releaseKvCache(cache);
  });
});

describe('GpuOps mechanics', () => {
  it('records a whole step in one pass: one submit per read, dispatch count in stats()', async () => {
    const x = randomTensor(1, 33, 1);
    const w = await ops.uploadWeight(hostTensor(randomArray(7 * 33, 2), [7, 33]), 'w');
    const before = ops.stats().steps;
    const t = up(x);
    const y = ops.gelu(ops.matmul(t, w, { residual: ops.matmul(t, w) }));
    await ops.read(y);
    const s = ops.stats();
    expect(s.steps).toBe(before + 1);
    expect(s.dispatches).toBe(3);
    expect(s.bytesAllocated).toBeGreaterThan(0);
    expect(s.weightBytes).toBeGreaterThan(0);
  });

  it('reuses pooled buffers across steps instead of allocating again', async () => {
    const x = randomTensor(1, 100, 3);
    const w = await ops.uploadWeight(hostTensor(randomArray(50 * 100, 4), [50, 100]), 'w');
    await ops.read(ops.matmul(up(x), w));
    const pool = ops.stats().poolBytes;
    for (let i = 0; i < 3; i++) await ops.read(ops.matmul(up(x), w));
    expect(ops.stats().poolBytes).toBe(pool);
  });

  it('lets other GPU code record into the step\'s pass and read raw bytes at its end', async () => {
    // The hook the GPU sampler uses: same pass, same single submit.
    const x = randomTensor(2, 5, 71);
    const t = ops.gelu(up(x));
    let seen: GPUComputePassEncoder | undefined;
    ops.encode((pass) => {
      seen = pass;
    });
    ops.encode((pass) => expect(pass).toBe(seen));
    const raw = await ops.readBuffer(t.buffer, 8);
    expect(raw.byteLength).toBe(8);
    expectAllClose(new Float32Array(raw), gelu(x).data.subarray(0, 2), { atol: ACTIVATION_ATOL, rtol: ACTIVATION_RTOL, label: 'readBuffer' });
    expect(() => ops.gelu(t)).toThrow(/earlier step/);
  });

  it('refuses a tensor of an earlier step (its buffer was recycled)', async () => {
    const t = ops.upload(new Float32Array(4), 1, 4);
    await ops.read(t);
    expect(() => ops.gelu(t)).toThrow(/earlier step/);
  });

  it('keeps each dispatch\'s parameters: a chain of differently shaped ops in one step', async () => {
    // Every dispatch owns a uniform slot; were slots shared, each dispatch would run with the last shape.
    const x = randomTensor(3, 33, 61);
    const normW = randomArray(33, 62);
    const w1 = randomArray(20 * 33, 63);
    const w2 = randomArray(7 * 20, 64);
    const res = randomTensor(3, 7, 65);
    const g = {
      norm: await ops.uploadWeight(hostTensor(normW, [33]), 'norm'),
      w1: await ops.uploadWeight(hostTensor(w1, [20, 33]), 'w1'),
      w2: await ops.uploadWeight(hostTensor(w2, [7, 20]), 'w2'),
    };
    const before = ops.stats().steps;
    const y = ops.matmul(ops.gelu(ops.matmul(ops.rmsNorm(up(x), g.norm, 1e-5), g.w1)), g.w2, { residual: up(res), residualScale: 0.5 });
    const got = await ops.read(ops.sliceRows(y, 1, 2));
    expect(ops.stats()).toMatchObject({ steps: before + 1, dispatches: 5 });
    const want = cpu.sliceRows(matmulF32(gelu(matmulF32(rmsNorm(x, normW, 1e-5), w1, 20)), w2, 7, undefined, res, 0.5), 1, 2);
    expectAllClose(got, want.data, { atol: 1e-5, rtol: 1e-5, label: 'chain of five dispatches' });
  });
});

describe('f16 activations and KV cache', () => {
  it('are offered only with shader-f16; otherwise asking for them fails with a named error', async () => {
    const available = GpuOps.supportsF16(ctx);
    console.log(`[gpu] shader-f16 ${available ? 'available: testing the f16 path' : 'unavailable: testing the refusal'}`);
    if (!available) {
      expect(ctx.features.has('shader-f16')).toBe(false);
      let err: unknown;
      try {
        new GpuOps(ctx, { f16: true });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GpuFeatureUnavailableError);
      expect((err as Error).name).toBe('GpuFeatureUnavailableError');
      expect((err as Error).message).toMatch(/shader-f16/);
      // The float32 path is what runs instead.
      expect(new GpuOps(ctx, { f16: false }).act).toBe('f32');
      return;
    }
    const half = new GpuOps(ctx, { f16: true });
    try {
      expect(half.act).toBe('f16');
      // f16 storage rounds every activation to 11 significant bits: compare at f16 precision.
      const F16_TOL = { atol: 4e-3, rtol: 4e-3 };
      for (const format of FORMATS) {
        const w = makeWeight(format, 65, 130, 21);
        const gw = await half.uploadWeight(w.host, 'w', w.upload);
        for (const n of [1, 5]) {
          const x = cpuTensor(n, 130, randomArray(n * 130, n).map(roundToF16));
          const got = await half.read(half.matmul(half.upload(x.data, n, 130), gw));
          const want = cpuMatmul(x, w, 65);
          expectAllClose(got, want.data, { atol: F16_TOL.atol * Math.sqrt(130), rtol: F16_TOL.rtol, label: `f16 matmul ${format} n=${n}` });
        }
      }
      const config = attnConfig(4, 2, 16, ROPE_CASES[0]!.rope);
      const cpuCache = cpu.createKvCache(config, 8);
      const gpuCache = half.createKvCache(config, 8);
      const qkv = cpuTensor(6, 128, randomArray(6 * 128, 5).map(roundToF16));
      const batch = batchOf(6, 0);
      const got = await half.read(half.attention(half.ropeKvAppend(half.upload(qkv.data, 6, 128), gpuCache, 0, batch, config), gpuCache, 0, batch, config));
      const want = attention(ropeKvAppend(qkv, cpuCache, 0, batch, config), cpuCache, 0, batch, config);
      expectAllClose(got, want.data, { ...F16_TOL, label: 'f16 rope + attention' });
      const x = randomTensor(3, 100, 9);
      const gw = await half.uploadWeight(hostTensor(randomArray(100, 10), [100]), 'norm');
      expectAllClose(await half.read(half.rmsNorm(half.upload(x.data, 3, 100), gw, 1e-5)), rmsNorm(x, randomArray(100, 10), 1e-5).data, {
        ...F16_TOL,
        label: 'f16 rmsNorm',
      });
    } finally {
      half.dispose();
    }
  });
});
