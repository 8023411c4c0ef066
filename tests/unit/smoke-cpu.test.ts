import { describe, expect, it } from 'vitest';
import { axpy } from '../../src/cpu/smoke';

describe('cpu axpy (twin of the smoke kernel)', () => {
  it('computes alpha*x+y element-wise', () => {
    const out = axpy(2, Float32Array.of(1, -2, 0.5), Float32Array.of(10, 20, 30));
    expect([...out]).toEqual([12, 16, 31]);
  });
});
