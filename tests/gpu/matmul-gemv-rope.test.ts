// The qkv projection's fused epilogue (matmulQ4.gemv4rope: shaders/matmul_gemv_q4.wgsl with
// lib/gemv_store_rope.wgsl): bias + RoPE + KV-cache append in the decode GEMV, against the CPU twin
// (CpuOps.matmul with the same ropeKvAppend epilogue = matmul, then ropeKvAppend), over odd head counts,
// head dims and widths, with the RMSNorm prologue, Q4 and asymmetric Q4, then the fallbacks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps, cpuTensor } from '../../src/cpu/ops';
import type { GlmConfig, RopeSpec } from '../../src/model/config';
import type { ForwardBatch } from '../../src/model/ops';
import type { GpuContext } from '../../src/gpu/device';
import { GpuOps, type GemvArithmetic } from '../../src/gpu/ops';
import { GEMV_MODES, gemvTwin } from '../helpers/gemv-modes';
import { hostTensor } from '../../src/model/tensor';
import { quantizeQ4 } from '../../src/quant/index';
import { expectAllClose } from '../helpers/compare';
import { randomArray } from '../helpers/random';

/** The GEMV's sums run in another order than the CPU twin's (see matmul-gemv-q4.test.ts), then RoPE. */
const ATOL_PER_SQRT_K = 4e-6;
const RTOL = 2e-5;

let ctx: GpuContext;
let ops: GpuOps;
let cpu = new CpuOps();
let mode: GemvArithmetic = 'float';

beforeAll(async () => {
  ctx = await testGpu();
});


function configOf(numHeads: number, numKvHeads: number, headDim: number, hiddenSize: number, rope: RopeSpec): GlmConfig {
  return {
    family: rope.style === 'chatglm1-2d' ? 'chatglm1' : 'chatglm2',
    vocabSize: 16,
    hiddenSize,
    numLayers: 2,
    numHeads,
    numKvHeads,
    headDim,
    ffnHiddenSize: 8,
    norm: 'rmsnorm',
    normEps: 1e-5,
    mlp: 'swiglu',
    rope,
    qkvBias: true,
    attnOutBias: false,
    mlpBias: false,
    residualAlpha: null,
    sandwichNorms: false,
    tieWordEmbeddings: false,
    maxSequenceLength: 64,
    storedQuantBits: 0,
    tokens: { eos: [] },
  };
}

const interleaved = (rotaryDim: number, base = 10000): RopeSpec => ({ style: 'interleaved', rotaryDim, base, f16InvFreq: false });

interface RopeGemvCase {
  name: string;
  H: number;
  Hkv: number;
  D: number;
  cols: number;
  rope: RopeSpec;
  asymmetric: boolean;
  norm: boolean;
}

const CASES: RopeGemvCase[] = [
  { name: 'GQA 3/1, D 8, half rotated, 96 wide', H: 3, Hkv: 1, D: 8, cols: 96, rope: interleaved(4), asymmetric: false, norm: true },
  { name: 'MHA 2/2, D 12, fully rotated, 32 wide, mins', H: 2, Hkv: 2, D: 12, cols: 32, rope: interleaved(12), asymmetric: true, norm: false },
  { name: 'GQA 5/1, D 20, base 5e6, 320 wide', H: 5, Hkv: 1, D: 20, cols: 320, rope: interleaved(10, 5e6), asymmetric: false, norm: true },
  { name: 'GQA 4/2, D 16, rotaryDim 2, 4096 wide, mins', H: 4, Hkv: 2, D: 16, cols: 4096, rope: interleaved(2), asymmetric: true, norm: true },
];

function decodeBatch(start: number, position: number): ForwardBatch {
  return { ids: new Int32Array(1), positions: Int32Array.of(position), start, bidirectionalPrefix: 0 };
}

/** Runs the qkv projection with the epilogue on both backends at cache slot `start`; returns the GPU dispatch count. */
async function check(o: GpuOps, c: RopeGemvCase, seed: number, start = 3, position = 3000): Promise<number> {
  const width = (c.H + 2 * c.Hkv) * c.D;
  const config = configOf(c.H, c.Hkv, c.D, c.cols, c.rope);
  const w = quantizeQ4(randomArray(width * c.cols, seed), width, c.cols, { asymmetric: c.asymmetric });
  const bias = randomArray(width, seed + 1);
  const gain = randomArray(c.cols, seed + 2);
  const x = cpuTensor(1, c.cols, randomArray(c.cols, seed + 3));
  const capacity = 6;
  const cpuCache = cpu.createKvCache(config, capacity);
  const gpuCache = o.createKvCache(config, capacity);
  const gw = await o.uploadWeight(w, 'qkv');
  const gBias = await o.uploadWeight(hostTensor(bias, [width]), 'bias');
  const gGain = await o.uploadWeight(hostTensor(gain, [c.cols]), 'gain');
  const batch = decodeBatch(start, position);
  const layer = 1;
  try {
    const got = await o.read(
      o.matmul(o.upload(x.data, 1, c.cols), gw, {
        rmsNorm: c.norm ? { weight: gGain, eps: 1e-5 } : undefined,
        bias: gBias,
        ropeKvAppend: { cache: gpuCache, layer, batch, config },
      }),
    );
    const dispatches = o.stats().dispatches;
    const want = cpu.matmul(x, w, {
      rmsNorm: c.norm ? { weight: hostTensor(gain, [c.cols]), eps: 1e-5 } : undefined,
      bias: hostTensor(bias, [width]),
      ropeKvAppend: { cache: cpuCache, layer, batch, config },
    });
    const tol = { atol: ATOL_PER_SQRT_K * Math.sqrt(c.cols), rtol: RTOL };
    expect(want.cols).toBe(c.H * c.D);
    expectAllClose(got, want.data, { ...tol, label: `q of ${c.name}` });
    const { k, v } = await o.readKvCache(gpuCache, layer);
    expectAllClose(k, cpuCache.k[layer]!, { ...tol, label: `K cache of ${c.name}` });
    expectAllClose(v, cpuCache.v[layer]!, { ...tol, label: `V cache of ${c.name}` });
    // Only the token's slot was written.
    const kvWidth = c.Hkv * c.D;
    for (let s = 0; s < capacity; s++) {
      if (s === start) continue;
      expect(k.subarray(s * kvWidth, (s + 1) * kvWidth).every((e) => e === 0)).toBe(true);
      expect(v.subarray(s * kvWidth, (s + 1) * kvWidth).every((e) => e === 0)).toBe(true);
    }
    return dispatches;
  } finally {
    o.releaseKvCache(gpuCache);
    o.releaseWeight(gw);
  }
}

describe.each(GEMV_MODES)('gemv %s', (m) => {
  beforeAll(() => {
    mode = m;
    cpu = gemvTwin(m);
    ops = new GpuOps(ctx, { gemv: m });
  });
  afterAll(() => ops?.dispose());

  describe('matmulQ4.gemv4rope (qkv GEMV with bias + RoPE + KV append) vs the CPU twin', () => {
    it.each(CASES)('$name: one dispatch, same q and cache', async (c) => {
      expect(await check(ops, c, 700 + c.cols + c.D)).toBe(1);
    });

    it('gives the same results under forced launch shapes', async () => {
      const o = new GpuOps(ctx, { gemv: mode });
      try {
        for (const [threads, workgroup, groupsPerIteration] of [[1, 32, 1], [4, 64, 2], [32, 256, 4]] as const) {
          o.tuning = { gemvThreadsPerRow: threads, gemvWorkgroup: workgroup, gemvGroupsPerIteration: groupsPerIteration };
          expect(await check(o, CASES[2]!, 800 + threads, 5, 17)).toBe(1);
        }
      } finally {
        o.dispose();
      }
    });

    it('falls back to matmul + ropeKvAppend where it cannot fuse (2-D RoPE, split weight, several tokens)', async () => {
      const twoD: RopeGemvCase = { ...CASES[0]!, name: 'chatglm1-2d', D: 16, rope: { style: 'chatglm1-2d', rotaryDim: 8, base: 10000, f16InvFreq: true } };
      const twoDConfig = configOf(twoD.H, twoD.Hkv, twoD.D, twoD.cols, twoD.rope);
      // chatglm1-2d needs block positions; the CPU twin and the fallback take the same batch.
      const batch2d = { ...decodeBatch(2, 9), blockPositions: Int32Array.of(1) };
      const width = (twoD.H + 2 * twoD.Hkv) * twoD.D;
      const w = quantizeQ4(randomArray(width * twoD.cols, 901), width, twoD.cols);
      const x = cpuTensor(1, twoD.cols, randomArray(twoD.cols, 902));
      const gpuCache = ops.createKvCache(twoDConfig, 4);
      const cpuCache = cpu.createKvCache(twoDConfig, 4);
      const gw = await ops.uploadWeight(w, 'qkv');
      const ropeGpu = { cache: gpuCache, layer: 0, batch: batch2d, config: twoDConfig };
      const got = await ops.read(ops.matmul(ops.upload(x.data, 1, twoD.cols), gw, { ropeKvAppend: ropeGpu }));
      expect(ops.stats().dispatches).toBe(2);
      const want = cpu.matmul(x, w, { ropeKvAppend: { cache: cpuCache, layer: 0, batch: batch2d, config: twoDConfig } });
      expectAllClose(got, want.data, { atol: ATOL_PER_SQRT_K * Math.sqrt(twoD.cols), rtol: RTOL, label: 'chatglm1-2d fallback' });
      ops.releaseKvCache(gpuCache);

      // A weight split over the binding limit (a thread's pairs could straddle parts): a GEMV per part, then ropeKvAppend.
      const split = new GpuOps(ctx, { gemv: mode, maxBindingBytes: 256 });
      try {
        expect(await check(split, CASES[0]!, 903)).toBeGreaterThan(2);
      } finally {
        split.dispose();
      }
    });

    it('refuses a residual or an activation with it, and a full cache', async () => {
      const c = CASES[0]!;
      const config = configOf(c.H, c.Hkv, c.D, c.cols, c.rope);
      const width = (c.H + 2 * c.Hkv) * c.D;
      const gw = await ops.uploadWeight(quantizeQ4(randomArray(width * c.cols, 1), width, c.cols), 'qkv');
      const cache = ops.createKvCache(config, 2);
      const x = ops.upload(new Float32Array(c.cols), 1, c.cols);
      const ropeKvAppend = { cache, layer: 0, batch: decodeBatch(0, 0), config };
      expect(() => ops.matmul(x, gw, { ropeKvAppend, residual: ops.upload(new Float32Array(width), 1, width) })).toThrow(/cannot take a residual/);
      expect(() => ops.matmul(x, gw, { ropeKvAppend, activation: 'gelu' })).toThrow(/cannot take a residual or an activation/);
      expect(() => ops.matmul(x, gw, { ropeKvAppend: { ...ropeKvAppend, batch: decodeBatch(2, 2) } })).toThrow(/KV cache full/);
      await ops.flush();
      ops.releaseKvCache(cache);
    });
  });
});
