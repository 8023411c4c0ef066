// Issue #16: the calibration measures whether the CPU matmul's worker threads pay on this machine (on a
// busy 2-core machine they made a small model's GEMVs slower than one thread), leaves the FastMatmul set
// that way for the rest of its figures, and the runtime's kernels take the measured threshold.
import { afterAll, describe, expect, it } from 'vitest';
import { createFastMatmul, type FastMatmul } from '../../src/cpu/fast-matmul';
import { measureCpu } from '../../src/runtime/calibration';
import { runtimeQuantMatmul } from '../../src/runtime/backend';

/** The sizes measureParallelThreshold tries (GEMVs of 2048 and 8192 rows by 1024 columns, in groups). */
const PROBED_THRESHOLDS = [2048 * 32, 8192 * 32];

describe('CPU threading from the calibration', () => {
  const made: FastMatmul[] = [];
  afterAll(() => {
    for (const f of made) f.dispose();
  });

  it('measures a threshold (or none) with two threads and keeps the kernels set to it', async () => {
    const fast = await createFastMatmul({ backend: 'wasm-simd', threads: 2 });
    made.push(fast);
    expect(fast.threads).toBe(2);
    const cal = await measureCpu(fast);
    if (cal.minParallelGroups === null) {
      expect(fast.minParallelGroups).toBe(Infinity);
      expect(cal.kernels).toMatch(/2 threads \(each call on one/);
    } else {
      expect(PROBED_THRESHOLDS).toContain(cal.minParallelGroups);
      expect(fast.minParallelGroups).toBe(cal.minParallelGroups);
    }
  });

  it('one thread: nothing to measure', async () => {
    const fast = await createFastMatmul({ backend: 'wasm-simd', threads: 1 });
    made.push(fast);
    expect((await measureCpu(fast)).minParallelGroups).toBeNull();
  });

  it('the runtime kernels take the measured threshold', async () => {
    const fast = await runtimeQuantMatmul(262144);
    made.push(fast);
    expect(fast.minParallelGroups).toBe(262144);
  });
});
