import { describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { runAxpyKernel } from '../../src/gpu/smoke';
import { axpy } from '../../src/cpu/smoke';
import { seededRandom } from '../helpers/random';
import { expectAllClose } from '../helpers/compare';

// The GPU may fuse a*x+y into one FMA while the CPU rounds the product first: one ulp apart at most.
const AXPY_REL_TOL = 2 ** -22;

describe('gpu smoke: shaders/smoke_axpy.wgsl on Dawn', () => {
  it.each([1, 63, 64, 65, 1000, 4097])('matches the CPU for n=%i', async (n) => {
    const { device } = await testGpu();
    const rand = seededRandom(n);
    const x = Float32Array.from({ length: n }, () => rand() * 4 - 2);
    const y = Float32Array.from({ length: n }, () => rand() * 4 - 2);
    const alpha = 1.75;
    const got = await runAxpyKernel(device, alpha, x, y);
    expect(got.length).toBe(n);
    expectAllClose(got, axpy(alpha, x, y), { atol: 1e-6, rtol: AXPY_REL_TOL, label: `axpy n=${n}` });
  });
});
