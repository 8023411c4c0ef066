// GpuOps step mechanics added for decode speed and the bench: partial submits inside a step (the GPU
// starts on the first layers while the CPU records the rest) and per-dispatch GPU timestamps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import type { GpuContext } from '../../src/gpu/device';
import { GpuOps } from '../../src/gpu/ops';
import type { GpuTensor, GpuWeight } from '../../src/gpu/tensor';
import { hostTensor } from '../../src/model/tensor';
import { quantizeQ4 } from '../../src/quant/index';
import { randomArray } from '../helpers/random';

let ctx: GpuContext;

beforeAll(async () => {
  ctx = await testGpu();
});

/** A chain of 18 dependent ops (matmul, norm, add, swiglu...) over one token, read at the end. */
async function chain(o: GpuOps): Promise<Float32Array> {
  const w = await o.uploadWeight(quantizeQ4(randomArray(64 * 32, 1), 64, 32), 'w');
  const down = await o.uploadWeight(quantizeQ4(randomArray(32 * 32, 2), 32, 32), 'down');
  const gain = await o.uploadWeight(hostTensor(randomArray(32, 3), [32]), 'gain');
  let x: GpuTensor = o.upload(randomArray(32, 4), 1, 32);
  for (let i = 0; i < 3; i++) {
    const h = o.rmsNorm(x, gain, 1e-5);
    const act = o.matmul(h, w, { activation: 'swiglu' });
    x = o.add(x, o.matmul(act, down as GpuWeight));
    x = o.matmul(o.gelu(x), down, { residual: x });
  }
  return o.read(x);
}

describe('partial submits', () => {
  it('give the same result as one submit per step, whatever the split', async () => {
    const whole = new GpuOps(ctx, { submitEvery: 0 });
    const want = await chain(whole);
    whole.dispose();
    for (const every of [1, 2, 5]) {
      const o = new GpuOps(ctx, { submitEvery: every });
      try {
        expect(await chain(o)).toEqual(want);
        expect(o.stats().dispatches).toBe(18);
      } finally {
        o.dispose();
      }
    }
  });
});

describe('profiling', () => {
  let ops: GpuOps;
  beforeAll(() => {
    ops = new GpuOps(ctx);
  });
  afterAll(() => ops?.dispose());

  it('times every dispatch by kernel and shape while on, and nothing while off', async () => {
    if (!ops.hasTimestampQueries) {
      expect(() => ops.setProfiling(true)).toThrow(/timestamp-query/);
      return;
    }
    ops.setProfiling(true);
    const plain = await chain(ops);
    const entries = ops.profile();
    const calls = Object.fromEntries(entries.map((e) => [e.kernel, e.calls]));
    const gemv4 = ops.gemv === 'int8' ? 'matmulQ4.gemv4i8' : 'matmulQ4.gemv4'; // the label says which decode GEMV ran
    expect(calls).toEqual({
      rmsNorm: 3,
      [`${gemv4} 64x32`]: 3,
      [`${gemv4} 32x32`]: 6,
      add: 3,
      gelu: 3,
    });
    for (const e of entries) expect(e.seconds).toBeGreaterThanOrEqual(0);
    // Timing changes how the step is recorded, not what it computes.
    ops.setProfiling(false);
    expect(await chain(ops)).toEqual(plain);
    expect(ops.profile()).toEqual(entries);
    ops.setProfiling(true);
    expect(ops.profile()).toEqual([]);
    ops.setProfiling(false);
  });
});
