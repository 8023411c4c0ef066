// The prefill GEMM (shaders/matmul_gemm.wgsl) in every tile shape it supports, against the CPU twin,
// at sizes that fill whole tiles and leave ragged edges in tokens (n), rows and K (cols). GpuOps only
// ever runs gemmTiling's choice (64 x 64 tiles for anything SwiftShader can afford), so the shapes are
// dispatched directly (tests/helpers/gemm-dispatch.ts); a last group goes through GpuOps.matmul.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps, cpuTensor, type CpuTensor } from '../../src/cpu/ops';
import type { GpuContext } from '../../src/gpu/device';
import { gemmTiling, gemmTilingOf, type GemmShape } from '../../src/gpu/gemm-tiling';
import { GpuOps } from '../../src/gpu/ops';
import type { GpuWeight } from '../../src/gpu/tensor';
import { hostTensor } from '../../src/model/tensor';
import type { HostWeight } from '../../src/model/weights';
import { quantizeQ4 } from '../../src/quant/index';
import { expectAllClose } from '../helpers/compare';
import { GemmRunner } from '../helpers/gemm-dispatch';
import { randomArray } from '../helpers/random';

/** As in ops.test.ts: f32 sums in another order than the CPU's, errors ~ sqrt(K) roundings. */
const ATOL_PER_SQRT_K = 2e-6;
const RTOL = 1e-5;

const SHAPES: Record<string, GemmShape> = {
  '128x128 (8x8 blocks, BK 16)': { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 2, bk: 16 },
  '64 tokens x 128 rows (4x8, BK 16)': { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 1, bk: 16 },
  '64x64 (4x4, BK 32)': { threadsX: 16, threadsY: 16, rowVecs: 1, tokenVecs: 1, bk: 32 },
  '4 tokens x 64 rows (16 invocations, BK 16)': { threadsX: 16, threadsY: 1, rowVecs: 1, tokenVecs: 1, bk: 16 },
  '32 tokens x 16 rows (8x4 blocks, BK 32)': { threadsX: 4, threadsY: 4, rowVecs: 1, tokenVecs: 2, bk: 32 },
};

type Format = 'f32' | 'q4' | 'q4-mins';

let ctx: GpuContext;
let ops: GpuOps;
let runner: GemmRunner;
const cpu = new CpuOps();

beforeAll(async () => {
  ctx = await testGpu();
  ops = new GpuOps(ctx);
  runner = new GemmRunner(ctx.device, ops.act);
});

afterAll(() => {
  runner?.dispose();
  ops?.dispose();
});

interface Case {
  host: HostWeight;
  gpu: GpuWeight;
  x: CpuTensor;
  bias: Float32Array;
  residual: CpuTensor;
}

async function makeCase(format: Format, n: number, rows: number, cols: number, seed: number): Promise<Case> {
  const data = randomArray(rows * cols, seed);
  const host = format === 'f32' ? hostTensor(data, [rows, cols]) : quantizeQ4(data, rows, cols, { asymmetric: format === 'q4-mins' });
  return {
    host,
    gpu: await ops.uploadWeight(host, `w ${format} ${rows}x${cols}`),
    x: cpuTensor(n, cols, randomArray(n * cols, seed + 1)),
    bias: randomArray(rows, seed + 2),
    residual: cpuTensor(n, rows, randomArray(n * rows, seed + 3)),
  };
}

/** Runs one tile shape on a case (optionally with bias + scaled residual) and compares with the CPU. */
async function check(c: Case, shape: GemmShape, label: string, epilogue = false, maxWorkgroupsPerDimension = 65535): Promise<void> {
  const { x } = c;
  const n = x.rows;
  const rows = c.gpu.rows;
  const tiling = gemmTilingOf(shape, n, maxWorkgroupsPerDimension);
  const out = ops.upload(new Float32Array(n * rows).fill(Number.NaN), n, rows);
  const gBias = epilogue ? await ops.uploadWeight(hostTensor(c.bias, [rows]), 'bias') : undefined;
  const residualScale = epilogue ? Math.sqrt(56) : undefined;
  await runner.run({
    constants: tiling.constants,
    grid: tiling.grid,
    n,
    weight: c.gpu,
    x: ops.upload(x.data, n, x.cols).buffer,
    out: out.buffer,
    bias: gBias?.parts[0]!.buffers[0],
    residual: epilogue ? ops.upload(c.residual.data, n, rows).buffer : undefined,
    residualScale,
  });
  const got = await ops.read(out);
  const want = cpu.matmul(x, c.host, epilogue ? { bias: hostTensor(c.bias, [rows]), residual: c.residual, residualScale } : {});
  expectAllClose(got, want.data, {
    atol: ATOL_PER_SQRT_K * Math.sqrt(x.cols) * (residualScale ?? 1),
    rtol: RTOL,
    label: `${label} n=${n} rows=${rows} cols=${x.cols}${epilogue ? ' bias+alpha*residual' : ''}`,
  });
}

const NS = [2, 63, 65, 130];
const ROWS = [1, 64, 129];
const COLS = [32, 33, 96];

describe('matmul_gemm.wgsl tile shapes vs the CPU twin', () => {
  describe.each(['f32', 'q4'] as const)('%s weights', (format) => {
    it('every tile shape over tokens 2/63/65/130 x rows 1/64/129 x cols 32/33/96', async () => {
      let seed = 1000;
      for (const cols of COLS) {
        for (const rows of ROWS) {
          for (const n of NS) {
            const c = await makeCase(format, n, rows, cols, seed);
            seed += 10;
            for (const [label, shape] of Object.entries(SHAPES)) await check(c, shape, label, (seed / 10) % 3 === 0);
          }
        }
      }
    });

    it('long K (cols 4097: 257 groups, the last one a single column) with the epilogue', async () => {
      const a = await makeCase(format, 65, 129, 4097, 77);
      for (const [label, shape] of Object.entries(SHAPES).slice(0, 3)) await check(a, shape, label, true);
      const b = await makeCase(format, 130, 136, 4097, 78);
      await check(b, SHAPES['128x128 (8x8 blocks, BK 16)']!, '128x128', false);
    });
  });

  it('asymmetric Q4 (per-group minimums meet the zero padding of x past cols)', async () => {
    for (const [n, rows, cols] of [
      [65, 129, 33],
      [130, 64, 100],
    ] as const) {
      const c = await makeCase('q4-mins', n, rows, cols, 5 * n + rows);
      for (const [label, shape] of Object.entries(SHAPES)) await check(c, shape, label, true);
    }
  });

  it('folds row tiles over grid z past maxComputeWorkgroupsPerDimension', async () => {
    const c = await makeCase('q4', 63, 129, 33, 31);
    // 64-row tiles: 3 row tiles on a grid of [2, 1, 2]; the fourth workgroup has no rows and leaves.
    const shape = SHAPES['64x64 (4x4, BK 32)']!;
    expect(gemmTilingOf(shape, 63, 2).grid(129)).toEqual([2, 1, 2]);
    await check(c, shape, 'folded 64x64', true, 2);
    await check(c, SHAPES['4 tokens x 64 rows (16 invocations, BK 16)']!, 'folded 4x64', false, 1);
  });
});

describe('gemmTiling', () => {
  it('takes 128 x 128 / 64 x 128 tiles for big prefills, 64 x 64 when those give few workgroups, small grids for few tokens / rows', () => {
    const max = 65535;
    const wide = { THREADS_X: 16, THREADS_Y: 16, ROW_VECS: 2, TOKEN_VECS: 1, BK: 16 };
    const square = { THREADS_X: 16, THREADS_Y: 16, ROW_VECS: 1, TOKEN_VECS: 1, BK: 16 };
    // GLM-4-9B prefill of 512 tokens.
    expect(gemmTiling(512, 27392, max).constants).toEqual(wide);
    expect(gemmTiling(512, 4096, max).constants).toEqual(wide);
    expect(gemmTiling(512, 4096, max).grid(4096)).toEqual([32, 8, 1]);
    // 128 tokens: 64 x 128 tiles would be 64 workgroups for 4096 rows.
    expect(gemmTiling(128, 4096, max).constants).toEqual(square);
    expect(gemmTiling(128, 27392, max).constants).toEqual(wide);
    // Few tokens: 4 per invocation, the thread grid shrunk to them.
    expect(gemmTiling(3, 4096, max).constants).toEqual({ ...square, THREADS_Y: 1 });
    expect(gemmTiling(20, 4096, max).constants).toEqual({ ...square, THREADS_Y: 8 });
    // Few rows.
    expect(gemmTiling(512, 7, max).constants).toEqual({ ...square, THREADS_X: 2 });
    // With 32 KiB of workgroup storage: 128 x 128 tiles when there are many, 64 x 64 at BK 32.
    const big = { THREADS_X: 16, THREADS_Y: 16, ROW_VECS: 2, TOKEN_VECS: 2, BK: 16 };
    expect(gemmTiling(512, 27392, max, 32768).constants).toEqual(big);
    expect(gemmTiling(2048, 4096, max, 32768).constants).toEqual(big);
    expect(gemmTiling(512, 4096, max, 32768).constants).toEqual(wide);
    expect(gemmTiling(128, 4096, max, 32768).constants).toEqual({ ...square, BK: 32 });
    // Every tile covers the problem, within the storage it was given.
    for (const storage of [16384, 32768]) {
      for (const n of [2, 3, 5, 33, 63, 64, 65, 127, 128, 129, 512, 2049]) {
        for (const rows of [1, 7, 31, 33, 65, 129, 4096, 151552]) {
          const t = gemmTiling(n, rows, max, storage);
          const [gx, gy, gz] = t.grid(rows);
          expect(gx * gz * t.tileRows).toBeGreaterThanOrEqual(rows);
          expect(gy * t.tileTokens).toBeGreaterThanOrEqual(n);
          expect(t.constants.THREADS_X * t.constants.THREADS_Y).toBeLessThanOrEqual(256);
          expect(t.workgroupStorage).toBeLessThanOrEqual(storage);
        }
      }
    }
  });
});

describe('GpuOps.matmul through gemmTiling', () => {
  it('a problem big enough for 64 x 128 tiles (65 tokens x 8200 rows)', async () => {
    const n = 65;
    const rows = 8200;
    const cols = 40;
    expect(gemmTiling(n, rows, ctx.limits.maxComputeWorkgroupsPerDimension).tileRows).toBe(128);
    const c = await makeCase('q4', n, rows, cols, 9);
    const gBias = await ops.uploadWeight(hostTensor(c.bias, [rows]), 'bias');
    const got = await ops.read(ops.matmul(ops.upload(c.x.data, n, cols), c.gpu, { bias: gBias }));
    const want = cpu.matmul(c.x, c.host, { bias: hostTensor(c.bias, [rows]) });
    expectAllClose(got, want.data, { atol: ATOL_PER_SQRT_K * Math.sqrt(cols), rtol: RTOL, label: `GpuOps.matmul q4 ${n}x${rows}x${cols}` });
  });
});
