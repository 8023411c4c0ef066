// The fast decode GEMV for Q4 rows of whole groups (shaders/matmul_gemv_q4.wgsl, matmulQ4.gemv4) and
// its fused activation epilogues, against the CPU twin (CpuOps.matmul: same per-group order), at widths
// that are multiples of 32 (the only ones it takes) with row counts that divide no workgroup, under
// every launch shape the bench's sweep can force.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps, cpuTensor, type CpuTensor } from '../../src/cpu/ops';
import type { GpuContext } from '../../src/gpu/device';
import { GpuOps, type GemvArithmetic } from '../../src/gpu/ops';
import { GEMV_MODES, gemvTwin } from '../helpers/gemv-modes';
import { hostTensor } from '../../src/model/tensor';
import { quantizeQ4 } from '../../src/quant/index';
import type { Q4Tensor } from '../../src/quant/types';
import { expectAllClose } from '../helpers/compare';
import { randomArray } from '../helpers/random';

/** f32 sums in another order than the CPU twin's: errors grow like sqrt(K) roundings of O(1) partial sums. */
const ATOL_PER_SQRT_K = 2e-6;
const RTOL = 1e-5;
/** After an activation: silu / tanh of WGSL vs V8's libm differ by a few ulps on top of the matmul error. */
const ACTIVATION_RTOL = 2e-5;

let ctx: GpuContext;
let ops: GpuOps;
let cpu = new CpuOps();
let mode: GemvArithmetic = 'float';

beforeAll(async () => {
  ctx = await testGpu();
});


function randomTensor(rows: number, cols: number, seed: number): CpuTensor {
  return cpuTensor(rows, cols, randomArray(rows * cols, seed));
}

interface Case {
  rows: number;
  cols: number;
  asymmetric: boolean;
  seed: number;
}

async function setup(o: GpuOps, { rows, cols, asymmetric, seed }: Case) {
  const w: Q4Tensor = quantizeQ4(randomArray(rows * cols, seed), rows, cols, { asymmetric });
  const bias = randomArray(rows, seed + 1);
  return {
    w,
    bias,
    gw: await o.uploadWeight(w, 'w'),
    gBias: await o.uploadWeight(hostTensor(bias, [rows]), 'bias'),
    x: randomTensor(1, cols, seed + 2),
    residual: randomTensor(1, rows, seed + 3),
  };
}

/** Every epilogue of the plain GEMV: none, bias, residual, bias + scaled residual. */
async function checkLinear(o: GpuOps, c: Case): Promise<void> {
  const s = await setup(o, c);
  for (const [bias, residual, residualScale] of [
    [false, false, undefined],
    [true, false, undefined],
    [false, true, undefined],
    [true, true, Math.sqrt(56)],
  ] as const) {
    const got = await o.read(
      o.matmul(o.upload(s.x.data, 1, c.cols), s.gw, {
        bias: bias ? s.gBias : undefined,
        residual: residual ? o.upload(s.residual.data, 1, c.rows) : undefined,
        residualScale,
      }),
    );
    const want = cpu.matmul(s.x, s.w, {
      bias: bias ? hostTensor(s.bias, [c.rows]) : undefined,
      residual: residual ? s.residual : undefined,
      residualScale,
    });
    expectAllClose(got, want.data, {
      atol: ATOL_PER_SQRT_K * Math.sqrt(c.cols) * (residualScale ?? 1),
      rtol: RTOL,
      label: `gemv4 rows=${c.rows} cols=${c.cols}${c.asymmetric ? ' mins' : ''} bias=${bias} residual=${residual} tuning=${JSON.stringify(o.tuning)}`,
    });
  }
}

async function checkActivation(o: GpuOps, c: Case, activation: 'swiglu' | 'gelu', n = 1): Promise<number> {
  const s = await setup(o, c);
  const x = randomTensor(n, c.cols, c.seed + 5);
  const got = await o.read(o.matmul(o.upload(x.data, n, c.cols), s.gw, { bias: s.gBias, activation }));
  const dispatches = o.stats().dispatches;
  const want = cpu.matmul(x, s.w, { bias: hostTensor(s.bias, [c.rows]), activation });
  expect(want.cols).toBe(activation === 'swiglu' ? c.rows / 2 : c.rows);
  expectAllClose(got, want.data, {
    atol: ATOL_PER_SQRT_K * Math.sqrt(c.cols),
    rtol: ACTIVATION_RTOL,
    label: `${activation} n=${n} rows=${c.rows} cols=${c.cols}${c.asymmetric ? ' mins' : ''}`,
  });
  return dispatches;
}

const WIDTHS = [32, 96, 320, 4096];
const ROW_COUNTS = [1, 3, 7, 65, 130];

describe.each(GEMV_MODES)('gemv %s', (m) => {
  beforeAll(() => {
    mode = m;
    cpu = gemvTwin(m);
    ops = new GpuOps(ctx, { gemv: m });
  });
  afterAll(() => ops?.dispose());

  describe('matmulQ4.gemv4 (decode GEMV, whole groups) vs the CPU twin', () => {
    it.each([false, true])('matches every epilogue over the width x rows sweep (asymmetric: %s)', async (asymmetric) => {
      let seed = 500;
      for (const cols of WIDTHS) for (const rows of ROW_COUNTS) await checkLinear(ops, { rows, cols, asymmetric, seed: seed++ });
    });

    it('gives the same results under every forced launch shape (lanes per row x workgroup size x groups per iteration)', async () => {
      const o = new GpuOps(ctx, { gemv: mode });
      try {
        let seed = 700;
        for (const workgroup of [64, 256]) {
          for (const threadsPerRow of [1, 2, 8, 32, 128]) {
            // Groups per iteration 1, 2, 4 in turn: 10 groups over 8 lanes x 2 leaves clamped, dropped tail groups.
            o.tuning = { gemvThreadsPerRow: threadsPerRow, gemvWorkgroup: workgroup, gemvGroupsPerIteration: [1, 2, 4][seed % 3] };
            await checkLinear(o, { rows: 65, cols: 320, asymmetric: seed % 2 === 0, seed: seed++ });
            await checkLinear(o, { rows: 7, cols: 96, asymmetric: false, seed: seed++ });
          }
        }
      } finally {
        o.dispose();
      }
    });
  });

  describe('activation epilogues (the MLP up projection)', () => {
    it('fuses swiglu and gelu into the GEMV: one dispatch, CPU twin = matmul then activation', async () => {
      let seed = 900;
      for (const rows of [2, 14, 130]) {
        for (const asymmetric of [false, true]) {
          expect(await checkActivation(ops, { rows, cols: 96, asymmetric, seed: seed++ }, 'swiglu')).toBe(1);
          expect(await checkActivation(ops, { rows, cols: 96, asymmetric, seed: seed++ }, 'gelu')).toBe(1);
        }
      }
    });

    it('falls back to matmul + activation kernel where the GEMV cannot fuse (several tokens, odd widths)', async () => {
      expect(await checkActivation(ops, { rows: 14, cols: 96, asymmetric: false, seed: 950 }, 'swiglu', 3)).toBe(2);
      expect(await checkActivation(ops, { rows: 14, cols: 33, asymmetric: false, seed: 951 }, 'swiglu')).toBe(2);
      expect(await checkActivation(ops, { rows: 9, cols: 33, asymmetric: true, seed: 952 }, 'gelu')).toBe(2);
    });

    it('falls back for a swiglu weight split over the binding limit (its halves may sit in different parts)', async () => {
      const split = new GpuOps(ctx, { gemv: mode, maxBindingBytes: 5 * 3 * 16 + 4 }); // 5 rows of 3 groups per part
      try {
        expect(await checkActivation(split, { rows: 14, cols: 96, asymmetric: false, seed: 960 }, 'swiglu')).toBe(4);
      } finally {
        split.dispose();
      }
    });

    it('refuses an activation with a residual, and swiglu over an odd width', async () => {
      const s = await setup(ops, { rows: 3, cols: 32, asymmetric: false, seed: 980 });
      const x = ops.upload(s.x.data, 1, 32);
      expect(() => ops.matmul(x, s.gw, { activation: 'gelu', residual: ops.upload(s.residual.data, 1, 3) })).toThrow(/cannot take a residual/);
      expect(() => ops.matmul(x, s.gw, { activation: 'swiglu' })).toThrow(/odd/);
      expect(() => cpu.matmul(s.x, s.w, { activation: 'gelu', residual: s.residual })).toThrow(/cannot take a residual/);
      await ops.flush();
    });
  });

  describe('RMSNorm prologue (the norm in front of qkv and the MLP up projection)', () => {
    async function checkNorm(o: GpuOps, c: Case, n: number, activation?: 'swiglu' | 'gelu'): Promise<number> {
      const s = await setup(o, c);
      const gain = randomArray(c.cols, c.seed + 7);
      const gGain = await o.uploadWeight(hostTensor(gain, [c.cols]), 'gain');
      const x = randomTensor(n, c.cols, c.seed + 8);
      const got = await o.read(o.matmul(o.upload(x.data, n, c.cols), s.gw, { rmsNorm: { weight: gGain, eps: 1e-5 }, bias: s.gBias, activation }));
      const dispatches = o.stats().dispatches;
      const want = cpu.matmul(x, s.w, { rmsNorm: { weight: hostTensor(gain, [c.cols]), eps: 1e-5 }, bias: hostTensor(s.bias, [c.rows]), activation });
      expectAllClose(got, want.data, {
        atol: ATOL_PER_SQRT_K * Math.sqrt(c.cols),
        rtol: ACTIVATION_RTOL,
        label: `rmsNorm+matmul n=${n} rows=${c.rows} cols=${c.cols}${activation ? ` ${activation}` : ''}`,
      });
      return dispatches;
    }

    it('fuses into the decode GEMV (one dispatch, with or without an activation) at every width', async () => {
      let seed = 1100;
      for (const cols of [32, 96, 320, 4096]) {
        expect(await checkNorm(ops, { rows: 65, cols, asymmetric: seed % 2 === 0, seed: seed++ }, 1)).toBe(1);
        expect(await checkNorm(ops, { rows: 14, cols, asymmetric: false, seed: seed++ }, 1, 'swiglu')).toBe(1);
      }
      // Forced narrow and wide workgroups: the prologue's reduction spans the whole workgroup.
      const o = new GpuOps(ctx, { gemv: mode });
      try {
        for (const workgroup of [32, 256]) {
          o.tuning = { gemvThreadsPerRow: 8, gemvWorkgroup: workgroup, gemvGroupsPerIteration: workgroup === 32 ? 4 : 2 };
          expect(await checkNorm(o, { rows: 7, cols: 320, asymmetric: true, seed: seed++ }, 1, 'gelu')).toBe(1);
        }
      } finally {
        o.dispose();
      }
    });

    it('runs as a norm kernel then the matmul where the GEMV cannot take it (several tokens, odd widths)', async () => {
      expect(await checkNorm(ops, { rows: 9, cols: 96, asymmetric: false, seed: 1200 }, 3)).toBe(2);
      expect(await checkNorm(ops, { rows: 9, cols: 33, asymmetric: false, seed: 1201 }, 1)).toBe(2);
      expect(await checkNorm(ops, { rows: 14, cols: 33, asymmetric: false, seed: 1202 }, 1, 'swiglu')).toBe(3);
    });
  });
});

describe('the int8 GEMV (gemv: int8) against the float reference', () => {
  /**
   * Int8 activations add rounding noise of at most half a step (max|x| / 254) per element: for random
   * inputs about 0.4% of the output's RMS. Bounded at 1.5% (relative L2 over the outputs); it must also be
   * nonzero, or the int8 kernel did not run.
   */
  const INT8_MAX_RELATIVE_ERROR = 0.015;

  it('stays within the bound of int8 activation rounding, symmetric and asymmetric, with the norm prologue', async () => {
    const o = new GpuOps(ctx, { gemv: 'int8' });
    const float = new CpuOps();
    try {
      let seed = 1400;
      for (const asymmetric of [false, true]) {
        for (const [rows, cols] of [[65, 4096], [130, 320]] as const) {
          const s = await setup(o, { rows, cols, asymmetric, seed: seed++ });
          const gain = randomArray(cols, seed++);
          const norm = { weight: await o.uploadWeight(hostTensor(gain, [cols]), 'gain'), eps: 1e-5 };
          for (const withNorm of [false, true]) {
            const got = await o.read(o.matmul(o.upload(s.x.data, 1, cols), s.gw, withNorm ? { rmsNorm: norm } : {}));
            const want = float.matmul(s.x, s.w, withNorm ? { rmsNorm: { weight: hostTensor(gain, [cols]), eps: 1e-5 } } : {}).data;
            let err = 0;
            let ref = 0;
            for (let i = 0; i < rows; i++) {
              err += (got[i]! - want[i]!) ** 2;
              ref += want[i]! ** 2;
            }
            const relative = Math.sqrt(err / ref);
            expect(relative, `rows=${rows} cols=${cols} asymmetric=${asymmetric} norm=${withNorm}`).toBeLessThan(INT8_MAX_RELATIVE_ERROR);
            expect(relative).toBeGreaterThan(0);
          }
        }
      }
    } finally {
      o.dispose();
    }
  });

  it('is the default where WGSL has packed_4x8_integer_dot_product; named errors for a missing feature or a bad option', async () => {
    const o = new GpuOps(ctx);
    expect(o.gemv).toBe(GpuOps.supportsInt8Gemv(ctx) ? 'int8' : 'float');
    expect(o.gemvQx).toBe('float'); // opt-in (GpuOpsOptions.gemvQx says why)
    o.dispose();
    const without = { ...ctx, wgslFeatures: new Set<string>() };
    const fallback = new GpuOps(without);
    expect(fallback.gemv).toBe('float');
    fallback.dispose();
    expect(() => new GpuOps(without, { gemv: 'int8' })).toThrow(expect.objectContaining({ name: 'GpuFeatureUnavailableError' }));
    expect(() => new GpuOps(without, { gemvQx: 'int8' })).toThrow(expect.objectContaining({ name: 'GpuFeatureUnavailableError' }));
    expect(() => new GpuOps(ctx, { gemv: 'int4' as never })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    const bad = new GpuOps(ctx, { tuning: { gemvGroupsPerIteration: 3 } });
    const w = quantizeQ4(randomArray(64, 1), 2, 32);
    const gw = await bad.uploadWeight(w, 'w');
    expect(() => bad.matmul(bad.upload(randomArray(32, 2), 1, 32), gw)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
    bad.dispose();
  });
});
