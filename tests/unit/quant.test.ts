import { describe, expect, it } from 'vitest';
import { matmulQuant } from '../../src/cpu/quant-matmul';
import { f16ToF32, f32ToF16 } from '../../src/formats/dtype';
import {
  GROUP_SIZE,
  dequantize,
  dequantizeQ4,
  dequantizeQ8,
  getHalf,
  importGgufQ4_0,
  importGgufQ8_0,
  importThudmInt4,
  importThudmInt8,
  q4Bytes,
  q8Bytes,
  quantize,
  quantizeQ4,
  quantizeQ8,
  quantizedBytes,
  type Q4Tensor,
  type Q8Tensor,
} from '../../src/quant';
import { randomArray, seededRandom } from '../helpers/random';

/** Runs fn and returns the error it throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    return err as Error;
  }
  return expect.fail('expected an error to be thrown');
}

/** Element-wise exact comparison reporting the first mismatch. */
function expectExact(got: Float32Array, want: ArrayLike<number>, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], Math.fround(want[i]!)) && got[i] !== want[i]) {
      expect.fail(`${label}: index ${i}: got ${got[i]}, expected ${want[i]}`);
    }
  }
}

describe('THUDM chatglm int4 import', () => {
  // 2 x 64: each byte holds element 2k in the HIGH nibble and 2k+1 in the low nibble, two's complement.
  const rows = 2;
  const cols = 64;
  const scaleBits = Uint16Array.of(0x3800 /* 0.5 */, 0xb400 /* -0.25: the import copies bits, any sign */);
  const signed: number[] = []; // the values the bytes encode, row-major
  const bytes = new Int8Array(rows * (cols / 2));
  // Hand-picked first bytes of row 0: 0x87 -> (-8, 7), 0x90 -> (-7, 0), 0x0F -> (0, -1), 0x7F -> (7, -1).
  const head = [0x87, 0x90, 0x0f, 0x7f];
  const headValues = [-8, 7, -7, 0, 0, -1, 7, -1];
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols / 2; k++) {
      let hi: number;
      let lo: number;
      if (r === 0 && k < head.length) {
        hi = headValues[2 * k]!;
        lo = headValues[2 * k + 1]!;
        expect(((hi & 15) << 4) | (lo & 15)).toBe(head[k]);
      } else {
        hi = ((k * 3 + r) % 16) - 8;
        lo = ((k * 5 + 1 + r * 7) % 16) - 8;
      }
      bytes[r * (cols / 2) + k] = (((hi & 15) << 4) | (lo & 15)) << 24 >> 24; // as int8
      signed.push(hi, lo);
    }
  }
  const want = signed.map((q, i) => q * f16ToF32(scaleBits[Math.floor(i / cols)]!));

  it('dequantizes to exactly nibble * row_scale, high nibble first', () => {
    const t = importThudmInt4(bytes, scaleBits, rows, cols);
    expect(t.dtype).toBe('q4');
    expect(t.groupsPerRow).toBe(2);
    expect(t.mins).toBeUndefined();
    const got = dequantizeQ4(t);
    expectExact(got, want, 'thudm int4');
    expect([...got.slice(0, 8)]).toEqual([-4, 3.5, -3.5, 0, 0, -0.5, 3.5, -0.5]);
  });

  it('accepts the same bytes as a Uint8Array', () => {
    const t = importThudmInt4(new Uint8Array(bytes.buffer), scaleBits, rows, cols);
    expectExact(dequantize(t), want, 'thudm int4 (u8)');
  });

  it('stores code = nibble + 8 in our nibble order and repeats the row scale per group', () => {
    const t = importThudmInt4(bytes, scaleBits, rows, cols);
    // Elements 0..7 of row 0 are -8, 7, -7, 0, 0, -1, 7, -1 -> codes 0, 15, 1, 8, 8, 7, 15, 7, low nibble first.
    expect(t.packed[0]).toBe(0x7f7881f0); // nibbles, high to low: 7 F 7 8 8 1 F 0
    expect(t.scales[0]).toBe(0x38003800); // row 0: groups 0 and 1
    expect(t.scales[1]).toBe(0xb400b400); // row 1: groups 0 and 1
  });

  it('pads a partial last group with code 8 (value 0)', () => {
    const t = importThudmInt4(bytes.subarray(0, 20), Uint16Array.of(0x3c00), 1, 40);
    expect(t.groupsPerRow).toBe(2);
    // Group 1 holds cols 32..39 (word 4); words 5..7 are all padding.
    expect(t.packed[5]).toBe(0x88888888);
    expect(t.packed[6]).toBe(0x88888888);
    expect(t.packed[7]).toBe(0x88888888);
    const got = dequantizeQ4(t);
    expect(got.length).toBe(40);
    expectExact(got, signed.slice(0, 40), 'thudm int4 partial');
  });
});

describe('GGUF Q4_0 import', () => {
  it('copies d and the nibbles exactly (element j = low nibble of qs[j], j+16 = high nibble)', () => {
    const rows = 3;
    const cols = 64;
    const dBits = [0x3c00 /* 1 */, 0xb800 /* -0.5 */, 0x0001 /* 2^-24, subnormal */, 0x4400 /* 4 */, 0x3555, 0x7bff];
    const blocks = new Uint8Array(rows * 2 * 18);
    const view = new DataView(blocks.buffer);
    const want: number[] = new Array(rows * cols).fill(NaN);
    const rand = seededRandom(7);
    for (let b = 0; b < rows * 2; b++) {
      const o = b * 18;
      view.setUint16(o, dBits[b]!, true);
      const d = f16ToF32(dBits[b]!);
      for (let j = 0; j < 16; j++) {
        const lo = b === 0 && j === 0 ? 0 : Math.floor(rand() * 16); // include q = 0 and q = 15
        const hi = b === 0 && j === 0 ? 15 : Math.floor(rand() * 16);
        view.setUint8(o + 2 + j, (hi << 4) | lo);
        const r = Math.floor(b / 2);
        const c0 = (b % 2) * 32;
        want[r * cols + c0 + j] = (lo - 8) * d;
        want[r * cols + c0 + j + 16] = (hi - 8) * d;
      }
    }
    const t = importGgufQ4_0(blocks, rows, cols);
    expectExact(dequantizeQ4(t), want, 'gguf q4_0');
    expect(want[0]).toBe(-8);
    expect(want[16]).toBe(7);
    // Six groups: scale of group i in word i >> 1, low half for even i.
    for (let i = 0; i < 6; i++) expect(getHalf(t.scales, i)).toBe(dBits[i]);
    expect(t.scales[1]).toBe(((0x4400 << 16) | 0x0001) >>> 0);
    // Element 0 (q 0) is bits [0,4) of word 0; element 16 (q 15) bits [0,4) of word 2.
    expect(t.packed[0]! & 15).toBe(0);
    expect(t.packed[2]! & 15).toBe(15);
  });
});

describe('GGUF Q8_0 and THUDM int8 import', () => {
  it('GGUF Q8_0: q * d exactly, group words are the 32 bytes little-endian', () => {
    const rows = 2;
    const cols = 64;
    const dBits = [0x3c00, 0x2e66, 0xb955, 0x0200];
    const blocks = new Uint8Array(rows * 2 * 34);
    const view = new DataView(blocks.buffer);
    const want: number[] = [];
    const rand = seededRandom(11);
    const qs: number[][] = [];
    for (let b = 0; b < 4; b++) {
      const o = b * 34;
      view.setUint16(o, dBits[b]!, true);
      const block: number[] = [];
      for (let j = 0; j < 32; j++) {
        const q = b === 0 && j < 4 ? [-128, 127, 0, -1][j]! : Math.floor(rand() * 256) - 128;
        view.setInt8(o + 2 + j, q);
        block.push(q);
      }
      qs.push(block);
    }
    // Block order: row 0 = blocks 0, 1; row 1 = blocks 2, 3.
    for (let b = 0; b < 4; b++) for (const q of qs[b]!) want.push(q * f16ToF32(dBits[b]!));
    const t = importGgufQ8_0(blocks, rows, cols);
    expectExact(dequantizeQ8(t), want, 'gguf q8_0');
    expect(t.packed[0]).toBe(0xff007f80); // bytes -128, 127, 0, -1 low byte first
    for (let i = 0; i < 4; i++) expect(getHalf(t.scales, i)).toBe(dBits[i]);
  });

  it('THUDM int8: q * row_scale exactly, partial last group padded with 0', () => {
    const rows = 3;
    const cols = 40;
    const scaleBits = Uint16Array.of(0x3800, 0x1400, 0xc000);
    const weight = new Int8Array(rows * cols);
    const rand = seededRandom(3);
    for (let i = 0; i < weight.length; i++) weight[i] = Math.floor(rand() * 256) - 128;
    weight[0] = -128;
    weight[1] = 127;
    const want = Array.from(weight, (q, i) => q * f16ToF32(scaleBits[Math.floor(i / cols)]!));
    const t = importThudmInt8(weight, scaleBits, rows, cols);
    expect(t.groupsPerRow).toBe(2);
    expectExact(dequantize(t), want, 'thudm int8');
    // Row 0, group 1: cols 32..39 in words 8, 9; words 10..15 are padding zeros.
    for (let w = 10; w < 16; w++) expect(t.packed[w]).toBe(0);
    expect(t.scales.length).toBe(3);
    expect(t.scales[0]).toBe(0x38003800);
    expect(t.scales[2]).toBe(0xc000c000);
    expectExact(dequantize(importThudmInt8(new Uint8Array(weight.buffer), scaleBits, rows, cols)), want, 'u8 input');
  });
});

describe('packing layout the WGSL kernels rely on', () => {
  // 1 x 64: group 0 has absmax 3.5 (scale 0.5), group 1 has absmax 7 (scale 1); col 45 = -3.
  const data = new Float32Array(64);
  data[0] = 3.5;
  data[32] = -7;
  data[45] = -3;
  data[63] = 1;

  it('q4: element e of group g in word 4g + (e >> 3), bits 4*(e & 7); scale of group i in half i & 1 of word i >> 1', () => {
    const t = quantizeQ4(data, 1, 64);
    // col 45 = group 1, element 13 -> word 4 + 1 = 5, bits [20, 24); code = -3 + 8 = 5.
    expect((t.packed[5]! >>> 20) & 15).toBe(5);
    expect(t.packed[4]! & 15).toBe(1); // col 32 = -7 -> code 1
    expect(t.packed[7]! >>> 28).toBe(9); // col 63 = 1 -> code 9
    expect(t.packed[0]! & 15).toBe(15); // col 0 = 3.5 -> 7 * 0.5 -> code 15
    expect(t.packed[1]).toBe(0x88888888); // zeros -> code 8
    expect(t.scales.length).toBe(1);
    expect(t.scales[0]).toBe(0x3c003800); // group 1 (1.0) in the high half, group 0 (0.5) low
    expectExact(dequantizeQ4(t), data, 'exactly representable data');
  });

  it('q8: element e of group g in word 8g + (e >> 2), bits 8*(e & 3), two\'s complement', () => {
    const d = data.map((v) => v * 127 / 7); // group 1 absmax 127 -> scale 1
    d[45] = -3;
    d[0] = 127 * 0.5;
    const t = quantizeQ8(d, 1, 64);
    expect(getHalf(t.scales, 1)).toBe(0x3c00);
    // col 45 = group 1, element 13 -> word 8 + 3 = 11, bits [8, 16).
    expect((t.packed[11]! >>> 8) & 0xff).toBe(0xfd);
    expect(t.packed[8]! & 0xff).toBe(0x81); // col 32 = -127
  });

  it('byte-size helpers match the buffers', () => {
    for (const [rows, cols] of [[1, 1], [3, 33], [7, 100], [4096, 4096]] as const) {
      const g = rows * Math.ceil(cols / GROUP_SIZE);
      expect(q4Bytes(rows, cols)).toBe(g * 16 + Math.ceil(g / 2) * 4);
      expect(q4Bytes(rows, cols, { asymmetric: true })).toBe(g * 16 + Math.ceil(g / 2) * 8);
      expect(q8Bytes(rows, cols)).toBe(g * 32 + Math.ceil(g / 2) * 4);
      if (rows < 100) {
        const x = randomArray(rows * cols, rows + cols);
        expect(quantizedBytes(quantizeQ4(x, rows, cols))).toBe(q4Bytes(rows, cols));
        expect(quantizedBytes(quantizeQ4(x, rows, cols, { asymmetric: true }))).toBe(q4Bytes(rows, cols, { asymmetric: true }));
        expect(quantizedBytes(quantizeQ8(x, rows, cols))).toBe(q8Bytes(rows, cols));
      }
    }
  });
});

/** Data with assorted magnitudes and an all-zero first group in every row. */
function testMatrix(rows: number, cols: number, seed: number, magnitude: number): Float32Array {
  const x = randomArray(rows * cols, seed, magnitude);
  for (let r = 0; r < rows; r++) for (let c = 0; c < Math.min(cols, GROUP_SIZE); c++) if (r % 2 === 0) x[r * cols + c] = 0;
  return x;
}

describe('quantize -> dequantize error bound', () => {
  const shapes: [number, number][] = [];
  for (const rows of [1, 3, 7]) for (const cols of [1, 31, 33, 100]) shapes.push([rows, cols]);

  for (const [kind, qmax] of [['q4', 7], ['q4a', 15], ['q8', 127]] as const) {
    it(`${kind}: |x - deq| <= scale/2 per element, scale close to the ideal one, zero groups exact`, () => {
      for (const [rows, cols] of shapes) {
        for (const magnitude of [1, 1000, 1e-6]) {
          const x = testMatrix(rows, cols, rows * 1000 + cols, magnitude);
          const t: Q4Tensor | Q8Tensor = kind === 'q4a' ? quantizeQ4(x, rows, cols, { asymmetric: true }) : quantize(x, rows, cols, kind);
          const deq = dequantize(t);
          expect(deq.length).toBe(rows * cols);
          for (let r = 0; r < rows; r++) {
            for (let g = 0; g < t.groupsPerRow; g++) {
              const gi = r * t.groupsPerRow + g;
              const s = f16ToF32(getHalf(t.scales, gi));
              let lo = Infinity;
              let hi = -Infinity;
              for (let c = g * 32; c < Math.min(cols, g * 32 + 32); c++) {
                lo = Math.min(lo, x[r * cols + c]!);
                hi = Math.max(hi, x[r * cols + c]!);
              }
              // Asymmetric: the range starts at the stored min, which is the group min rounded down to f16.
              const m = t.dtype === 'q4' && t.mins ? f16ToF32(getHalf(t.mins, gi)) : 0;
              if (kind === 'q4a') expect(m).toBeLessThanOrEqual(lo);
              const range = kind === 'q4a' ? hi - m : Math.max(-lo, hi);
              // The f16 scale is the ideal one within f16 rounding (relative 2^-11, or one subnormal step).
              expect(s).toBeLessThanOrEqual((range / qmax) * (1 + 2 ** -10) + 2 ** -24);
              for (let c = g * 32; c < Math.min(cols, g * 32 + 32); c++) {
                const i = r * cols + c;
                const err = Math.abs(x[i]! - deq[i]!);
                expect(Number.isNaN(deq[i]!), `${kind} ${rows}x${cols} NaN at ${i}`).toBe(false);
                if (err > s / 2 + Math.abs(x[i]!) * 2 ** -22 + 1e-30) {
                  expect.fail(`${kind} ${rows}x${cols} mag ${magnitude}: index ${i}: x ${x[i]}, deq ${deq[i]}, scale ${s}`);
                }
                if (lo === 0 && hi === 0) expect(deq[i]).toBe(0);
              }
            }
          }
        }
      }
    });
  }

  it('an all-zero matrix has scale 0 and dequantizes to zeros (no NaN)', () => {
    const zeros = new Float32Array(70);
    const tensors = [quantizeQ4(zeros, 2, 35), quantizeQ8(zeros, 2, 35), quantizeQ4(zeros, 2, 35, { asymmetric: true })];
    for (const t of tensors) {
      expect([...t.scales].every((w) => w === 0)).toBe(true);
      expect([...dequantize(t)].every((v) => v === 0)).toBe(true);
    }
  });

  it('codes are computed against the rounded f16 scale', () => {
    // absmax / 7 = 0.1 is not an f16; the stored scale is f16(0.1) and 0.7 must round-trip to 7 * that scale.
    const t = quantizeQ4(Float32Array.of(0.7, -0.3), 1, 2);
    const s = f16ToF32(f32ToF16(0.7 / 7));
    expect(getHalf(t.scales, 0)).toBe(f32ToF16(0.7 / 7));
    expect([...dequantizeQ4(t)]).toEqual([Math.fround(7 * s), Math.fround(-3 * s)]);
  });
});

/** Plain float32 matmul against the dequantized matrix: the reference for matmulQuant. */
function referenceMatmul(x: Float32Array, n: number, w: Float32Array, rows: number, cols: number, bias?: Float32Array) {
  const out = new Float32Array(n * rows);
  const mag = new Float64Array(n * rows); // sum |x w| (+ |b|): the scale a relative tolerance applies to
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      let m = 0;
      for (let k = 0; k < cols; k++) {
        const p = Math.fround(x[i * cols + k]! * w[r * cols + k]!);
        acc = Math.fround(acc + p);
        m += Math.abs(p);
      }
      if (bias) {
        acc = Math.fround(acc + bias[r]!);
        m += Math.abs(bias[r]!);
      }
      out[i * rows + r] = acc;
      mag[i * rows + r] = m;
    }
  }
  return { out, mag };
}

describe('matmulQuant (CPU, on packed data)', () => {
  const shapes: [number, number][] = [[1, 1], [3, 31], [7, 33], [5, 100], [4, 64], [2, 257]];
  for (const kind of ['q4', 'q4a', 'q8'] as const) {
    it(`${kind}: equals a float32 matmul against dequantize(w) within 1e-5 relative`, () => {
      for (const [rows, cols] of shapes) {
        const wData = testMatrix(rows, cols, rows * 31 + cols, 0.5);
        const w = kind === 'q4a' ? quantizeQ4(wData, rows, cols, { asymmetric: true }) : quantize(wData, rows, cols, kind);
        const wDeq = dequantize(w);
        for (const n of [1, 3]) {
          const x = randomArray(n * cols, n * 7 + cols, 2);
          for (const bias of [undefined, randomArray(rows, rows + 5)]) {
            const got = matmulQuant(x, n, w, bias);
            const { out: want, mag } = referenceMatmul(x, n, wDeq, rows, cols, bias);
            expect(got.length).toBe(n * rows);
            for (let i = 0; i < want.length; i++) {
              if (!(Math.abs(got[i]! - want[i]!) <= 1e-5 * mag[i]! + 1e-30)) {
                expect.fail(`${kind} ${rows}x${cols} n=${n} bias=${!!bias}: index ${i}: got ${got[i]}, want ${want[i]} (|x||w| ${mag[i]})`);
              }
            }
          }
        }
      }
    });
  }

  it('imported THUDM int4 weights multiply exactly like their dequantized form', () => {
    const rows = 3;
    const cols = 96;
    const bytes = new Int8Array(rows * cols / 2);
    const rand = seededRandom(5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256) - 128;
    const w = importThudmInt4(bytes, Uint16Array.of(0x2c00, 0x3000, 0x2a00), rows, cols);
    const x = randomArray(2 * cols, 9);
    const { out, mag } = referenceMatmul(x, 2, dequantize(w), rows, cols);
    const got = matmulQuant(x, 2, w);
    for (let i = 0; i < out.length; i++) expect(Math.abs(got[i]! - out[i]!)).toBeLessThanOrEqual(1e-5 * mag[i]!);
  });

  it('n = 0 gives an empty result', () => {
    expect(matmulQuant(new Float32Array(0), 0, quantizeQ8(randomArray(6, 1), 2, 3)).length).toBe(0);
  });
});

describe('errors', () => {
  it('wrong lengths and shapes -> QuantFormatError with expected vs got', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => quantizeQ4(new Float32Array(5), 2, 3), /expected length 6, got 5/],
      [() => quantizeQ8(new Float32Array(7), 2, 3), /expected length 6, got 7/],
      [() => importThudmInt4(new Int8Array(63), new Uint16Array(2), 2, 64), /expected length 64, got 63/],
      [() => importThudmInt4(new Int8Array(64), new Uint16Array(3), 2, 64), /weight_scale: expected length 2, got 3/],
      [() => importThudmInt4(new Int8Array(3), new Uint16Array(1), 1, 7), /cols must be even/],
      [() => importThudmInt8(new Int8Array(10), new Uint16Array(2), 2, 4), /expected length 8, got 10/],
      [() => importThudmInt8(new Int8Array(8), new Uint16Array(1), 2, 4), /expected length 2, got 1/],
      [() => importGgufQ4_0(new Uint8Array(35), 1, 64), /expected length 36, got 35/],
      [() => importGgufQ4_0(new Uint8Array(18), 1, 16), /multiple of 32, got 16/],
      [() => importGgufQ8_0(new Uint8Array(34), 2, 32), /expected length 68, got 34/],
      [() => importGgufQ8_0(new Uint8Array(34), 1, 40), /multiple of 32, got 40/],
      [() => quantizeQ4(Float32Array.of(1, NaN), 1, 2), /non-finite/],
      [() => quantizeQ8(Float32Array.of(Infinity), 1, 1), /non-finite/],
    ];
    for (const [fn, message] of cases) {
      const err = thrown(fn);
      expect(err.name).toBe('QuantFormatError');
      expect(err.message).toMatch(message);
    }
  });

  it('a tensor whose buffers do not match its shape is refused by dequantize and matmulQuant', () => {
    const t = quantizeQ4(randomArray(6 * 40, 2), 6, 40);
    const shortPacked = { ...t, packed: t.packed.subarray(1) };
    const shortScales = { ...t, scales: t.scales.subarray(1) };
    const badGroups = { ...t, groupsPerRow: 1 };
    const q8 = quantizeQ8(randomArray(6 * 40, 2), 6, 40);
    const shortQ8 = { ...q8, packed: q8.packed.subarray(8) };
    const badMins = { ...t, mins: new Uint32Array(1) };
    for (const bad of [shortPacked, shortScales, badGroups, shortQ8, badMins]) {
      expect(thrown(() => dequantize(bad)).name).toBe('QuantFormatError');
      expect(thrown(() => matmulQuant(new Float32Array(40), 1, bad)).name).toBe('QuantFormatError');
    }
  });

  it('bad call arguments -> InvalidArgumentError', () => {
    const t = quantizeQ8(randomArray(6 * 40, 2), 6, 40);
    expect(thrown(() => matmulQuant(new Float32Array(39), 1, t)).name).toBe('InvalidArgumentError');
    expect(thrown(() => matmulQuant(new Float32Array(40), 1, t, new Float32Array(5))).name).toBe('InvalidArgumentError');
    expect(thrown(() => quantizeQ4(new Float32Array(0), 0, 0)).name).toBe('InvalidArgumentError');
    expect(thrown(() => quantize(new Float32Array(1), 1, 1, 'q3' as 'q4')).name).toBe('InvalidArgumentError');
  });
});
