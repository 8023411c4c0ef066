import { expect } from 'vitest';

export interface CloseOptions {
  atol: number;
  rtol?: number;
  label?: string;
}

/**
 * Element-wise |got - want| <= atol + rtol * |want|. On failure reports the first bad index with
 * both values, the count of bad elements and the largest error, instead of dumping arrays.
 */
export function expectAllClose(got: ArrayLike<number>, want: ArrayLike<number>, opts: CloseOptions): void {
  const { atol, rtol = 0, label = 'array' } = opts;
  expect(got.length, `${label}: length`).toBe(want.length);
  let firstBad = -1;
  let bad = 0;
  let maxErr = 0;
  let maxErrAt = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const err = Math.abs(g - w);
    const ok = err <= atol + rtol * Math.abs(w) && !Number.isNaN(g);
    if (!ok) {
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (err > maxErr || Number.isNaN(err)) {
      maxErr = err;
      maxErrAt = i;
    }
  }
  if (bad > 0) {
    const msg =
      `${label}: ${bad} of ${want.length} elements differ; failed at index ${firstBad}: got ${got[firstBad]}, ` +
      `expected ${want[firstBad]} (atol ${atol}, rtol ${rtol}); max error ${maxErr} at index ${maxErrAt}`;
    expect.fail(msg);
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
