// The CPU twin of the int8 decode GEMV (src/cpu/gemv-int8.ts, issue #17): the activation scheme, and the
// integer matmul against a plain per-element evaluation of the same quantized values and against the
// float twin (matmulQuant).
import { describe, expect, it } from 'vitest';
import { matmulQ4Int8, matmulQxInt8, quantizeActivationGroup, roundHalfEven } from '../../src/cpu/gemv-int8';
import { matmulQuant } from '../../src/cpu/quant-matmul';
import { dequantize, quantizeQ4 } from '../../src/quant/index';
import { randomArray } from '../helpers/random';
import { QX_TYPES, randomGgufWeight } from '../helpers/gguf-quants';
import { GGUF_BLOCKS } from '../../src/quant/gguf-blocks';

describe('quantizeActivationGroup', () => {
  it('rounds halves to even, like WGSL round()', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });

  it('maps max|x| to ±qmax, is parametrized by bits, and gives scale 0 for a zero group', () => {
    const x = randomArray(32, 3);
    x[7] = -2;
    for (const bits of [8, 16]) {
      const q = new Int32Array(32);
      const { scale, sum } = quantizeActivationGroup(x, 0, bits, q);
      const qmax = 2 ** (bits - 1) - 1;
      expect(q[7]).toBe(-qmax);
      expect(scale).toBe(Math.fround(2 / qmax));
      expect(sum).toBe(q.reduce((a, b) => a + b, 0));
      for (let k = 0; k < 32; k++) expect(Math.abs(q[k]! * scale - x[k]!)).toBeLessThanOrEqual(scale / 2 + 1e-7);
    }
    const zero = new Int32Array(32);
    expect(quantizeActivationGroup(new Float32Array(32), 0, 8, zero)).toEqual({ scale: 0, sum: 0 });
    expect([...zero].every((v) => v === 0)).toBe(true);
    expect(() => quantizeActivationGroup(x, 0, 1, zero)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
  });
});

describe('matmulQ4Int8', () => {
  for (const asymmetric of [false, true]) {
    it(`equals the dequantized weights times the dequantized int8 activations (asymmetric: ${asymmetric})`, () => {
      const rows = 5;
      const cols = 96;
      const w = quantizeQ4(randomArray(rows * cols, 11), rows, cols, { asymmetric });
      const x = randomArray(cols, 12, 3);
      const got = matmulQ4Int8(x, 1, w, undefined);
      const wf = dequantize(w);
      const xq = new Float64Array(cols);
      for (let g = 0; g < cols / 32; g++) {
        const q = new Int32Array(32);
        const { scale } = quantizeActivationGroup(x, g * 32, 8, q);
        for (let k = 0; k < 32; k++) xq[g * 32 + k] = q[k]! * scale;
      }
      for (let r = 0; r < rows; r++) {
        let want = 0;
        for (let c = 0; c < cols; c++) want += wf[r * cols + c]! * xq[c]!;
        expect(got[r]).toBeCloseTo(want, 4);
      }
      // And its distance from the float arithmetic is that of int8 rounding (well under 2% relative L2).
      const float = matmulQuant(x, 1, w);
      let err = 0;
      let ref = 0;
      for (let r = 0; r < rows; r++) {
        err += (got[r]! - float[r]!) ** 2;
        ref += float[r]! ** 2;
      }
      expect(Math.sqrt(err / ref)).toBeLessThan(0.02);
      expect(err).toBeGreaterThan(0);
    });
  }

  it('refuses widths that are not whole groups', () => {
    const w = quantizeQ4(randomArray(2 * 33, 1), 2, 33);
    expect(() => matmulQ4Int8(randomArray(33, 2), 1, w)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
  });
});

describe('matmulQxInt8 (GGUF K-quants and Q5 as QX)', () => {
  /** The int8 activations dequantized (q · scale per group). */
  function dequantizedActivations(x: Float32Array): Float64Array {
    const out = new Float64Array(x.length);
    for (let g = 0; g < x.length / 32; g++) {
      const q = new Int32Array(32);
      const { scale } = quantizeActivationGroup(x, g * 32, 8, q);
      for (let k = 0; k < 32; k++) out[g * 32 + k] = q[k]! * scale;
    }
    return out;
  }

  it.each(QX_TYPES)('%s: equals the dequantized weights times the dequantized int8 activations', (type) => {
    const [size] = GGUF_BLOCKS[type];
    const rows = 3;
    const w = randomGgufWeight(type, rows, size === 32 ? 3 : 1, 21);
    if (w.dtype !== 'qx') throw new Error(`${type} did not import as QX`);
    const cols = w.cols;
    const x = randomArray(cols, 22, 2);
    const got = matmulQxInt8(x, 1, w);
    const wf = dequantize(w);
    const xq = dequantizedActivations(x);
    let scale = 0;
    for (let r = 0; r < rows; r++) {
      let want = 0;
      for (let c = 0; c < cols; c++) want += wf[r * cols + c]! * xq[c]!;
      scale = Math.max(scale, Math.abs(want));
      expect(Math.abs(got[r]! - want), `${type} row ${r}: got ${got[r]}, expected ${want}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)) * Math.sqrt(cols));
    }
    expect(scale).toBeGreaterThan(0);
  });
});
