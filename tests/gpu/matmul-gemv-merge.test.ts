// The output projection's fused prologue (matmulQ4.gemv4merge: shaders/matmul_gemv_q4.wgsl with
// lib/gemv_input_merge.wgsl): decode attention split over key tiles, its partials merged inside the GEMV,
// against the CPU twin (CpuOps.matmul with the same attention prologue = attention, then matmul), over
// odd head counts, contexts of one to several tiles, Q4 and asymmetric Q4, bias and scaled residual;
// then the fallbacks (a long context, several tokens).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps, cpuTensor, ropeKvAppend, type CpuKvCache } from '../../src/cpu/ops';
import type { GlmConfig } from '../../src/model/config';
import type { ForwardBatch } from '../../src/model/ops';
import type { GpuContext } from '../../src/gpu/device';
import { GpuOps } from '../../src/gpu/ops';
import { GEMV_MODES, gemvTwin } from '../helpers/gemv-modes';
import type { GpuKvCache } from '../../src/gpu/tensor';
import { hostTensor } from '../../src/model/tensor';
import { quantizeQ4 } from '../../src/quant/index';
import { expectAllClose } from '../helpers/compare';
import { randomArray } from '../helpers/random';

/** Attention (exp, another summation order than the CPU's) then the GEMV's reordered sums. */
const ATOL_PER_SQRT_K = 1e-5;
const RTOL = 5e-5;

let ctx: GpuContext;
let ops: GpuOps;
let cpu = new CpuOps();

beforeAll(async () => {
  ctx = await testGpu();
});


function configOf(numHeads: number, numKvHeads: number, headDim: number): GlmConfig {
  return {
    family: 'chatglm2',
    vocabSize: 16,
    hiddenSize: numHeads * headDim,
    numLayers: 1,
    numHeads,
    numKvHeads,
    headDim,
    ffnHiddenSize: 8,
    norm: 'rmsnorm',
    normEps: 1e-5,
    mlp: 'swiglu',
    rope: { style: 'interleaved', rotaryDim: headDim / 2, base: 10000, f16InvFreq: false },
    qkvBias: false,
    attnOutBias: true,
    mlpBias: false,
    residualAlpha: null,
    sandwichNorms: false,
    tieWordEmbeddings: false,
    maxSequenceLength: 4096,
    storedQuantBits: 0,
    tokens: { eos: [] },
  };
}

function batchOf(n: number, start: number): ForwardBatch {
  return { ids: new Int32Array(n), positions: Int32Array.from({ length: n }, (_, i) => start + i), start, bidirectionalPrefix: 0 };
}

interface MergeCase {
  name: string;
  H: number;
  Hkv: number;
  D: number;
  rows: number;
  /** Tokens already in the cache before the decoded one. */
  context: number;
  asymmetric: boolean;
}

const CASES: MergeCase[] = [
  { name: 'GQA 3/1, D 32, first token (one key)', H: 3, Hkv: 1, D: 32, rows: 7, context: 0, asymmetric: false },
  { name: 'MHA 2/2, D 64, 130 keys (two tiles), mins', H: 2, Hkv: 2, D: 64, rows: 65, context: 129, asymmetric: true },
  { name: 'GQA 4/2, D 32, 300 keys (three tiles)', H: 4, Hkv: 2, D: 32, rows: 130, context: 299, asymmetric: false },
];

/** Caches of both backends filled with the same `tokens` keys and values (slots 0..tokens-1). */
async function filledCaches(config: GlmConfig, tokens: number, seed: number): Promise<{ cpuCache: CpuKvCache; gpuCache: GpuKvCache }> {
  const width = (config.numHeads + 2 * config.numKvHeads) * config.headDim;
  const qkv = cpuTensor(tokens, width, randomArray(tokens * width, seed, 1.5));
  const cpuCache = cpu.createKvCache(config, tokens + 1);
  const gpuCache = ops.createKvCache(config, tokens + 1);
  ropeKvAppend(qkv, cpuCache, 0, batchOf(tokens, 0), config);
  await ops.read(ops.ropeKvAppend(ops.upload(qkv.data, tokens, width), gpuCache, 0, batchOf(tokens, 0), config));
  return { cpuCache, gpuCache };
}

/** The projection of the decoded token's attention output; returns the GPU dispatch count. */
async function check(c: MergeCase, seed: number): Promise<number> {
  const config = configOf(c.H, c.Hkv, c.D);
  const cols = c.H * c.D;
  const { cpuCache, gpuCache } = await filledCaches(config, c.context + 1, seed);
  const w = quantizeQ4(randomArray(c.rows * cols, seed + 1), c.rows, cols, { asymmetric: c.asymmetric });
  const bias = randomArray(c.rows, seed + 2);
  const q = cpuTensor(1, cols, randomArray(cols, seed + 3));
  const residual = cpuTensor(1, c.rows, randomArray(c.rows, seed + 4));
  const batch = batchOf(1, c.context);
  const gw = await ops.uploadWeight(w, 'attnOut');
  const gBias = await ops.uploadWeight(hostTensor(bias, [c.rows]), 'bias');
  try {
    const got = await ops.read(
      ops.matmul(ops.upload(q.data, 1, cols), gw, {
        attention: { cache: gpuCache, layer: 0, batch, config },
        bias: gBias,
        residual: ops.upload(residual.data, 1, c.rows),
        residualScale: 1.5,
      }),
    );
    const dispatches = ops.stats().dispatches;
    const want = cpu.matmul(q, w, { attention: { cache: cpuCache, layer: 0, batch, config }, bias: hostTensor(bias, [c.rows]), residual, residualScale: 1.5 });
    expectAllClose(got, want.data, { atol: ATOL_PER_SQRT_K * Math.sqrt(cols), rtol: RTOL, label: c.name });
    return dispatches;
  } finally {
    ops.releaseKvCache(gpuCache);
    ops.releaseWeight(gw);
  }
}

describe.each(GEMV_MODES)('gemv %s', (m) => {
  beforeAll(() => {
    cpu = gemvTwin(m);
    ops = new GpuOps(ctx, { gemv: m });
  });
  afterAll(() => ops?.dispose());

  describe('matmulQ4.gemv4merge (attention partials merged in the output projection) vs the CPU twin', () => {
    it.each(CASES)('$name: attention split + one GEMV', async (c) => {
      expect(await check(c, 500 + c.context)).toBe(2);
    });

    it('keeps the merge kernel for a context past its tile limit (attention split + merge + GEMV)', async () => {
      expect(await check({ name: 'GQA 2/1, D 32, 2100 keys', H: 2, Hkv: 1, D: 32, rows: 9, context: 2099, asymmetric: false }, 600)).toBe(3);
    });

    it('refuses an rmsNorm or an activation with it', async () => {
      const config = configOf(2, 1, 32);
      const { gpuCache } = await filledCaches(config, 1, 1);
      const gw = await ops.uploadWeight(quantizeQ4(randomArray(8 * 64, 1), 8, 64), 'attnOut');
      const gain = await ops.uploadWeight(hostTensor(new Float32Array(64).fill(1), [64]), 'gain');
      const q = ops.upload(new Float32Array(64), 1, 64);
      const attention = { cache: gpuCache, layer: 0, batch: batchOf(1, 0), config };
      expect(() => ops.matmul(q, gw, { attention, rmsNorm: { weight: gain, eps: 1e-5 } })).toThrow(/attention prologue cannot take/);
      expect(() => ops.matmul(q, gw, { attention, activation: 'gelu' })).toThrow(/attention prologue cannot take/);
      await ops.flush();
      ops.releaseKvCache(gpuCache);
    });
  });
});
