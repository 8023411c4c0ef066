// Q4: quantize/dequantize and the exact importers (THUDM chatglm int4, GGUF Q4_0). Layout: types.ts.
import { f16ToF32, f32ToF16 } from '../formats/dtype';
import {
  F16_MAX_BITS,
  GROUP_SIZE,
  Q4_WORDS_PER_GROUP,
  QuantFormatError,
  checkGgufShape,
  checkShape,
  expectLength,
  packRowWithRowScale,
  getHalf,
  groupsPerRowOf,
  halfPairWords,
  setHalf,
  symmetricScaleBits,
  validateQuantTensor,
  type Q4Tensor,
} from './types';

export interface QuantizeQ4Options {
  /** Store a per-group f16 minimum and use codes 0..15 over [min, max] instead of a range symmetric around 0. */
  asymmetric?: boolean;
}

/** The symmetric form's code for 0; padding elements get it so they dequantize to 0. */
const ZERO_CODE = 8;

/** Packs 32 codes (one per byte, starting at `src[from]`) into group words starting at `packed[at]`. */
function packGroup(codes: Uint8Array, from: number, packed: Uint32Array, at: number): void {
  for (let w = 0; w < Q4_WORDS_PER_GROUP; w++) {
    const o = from + 8 * w;
    packed[at + w] =
      (codes[o]! & 15) |
      ((codes[o + 1]! & 15) << 4) |
      ((codes[o + 2]! & 15) << 8) |
      ((codes[o + 3]! & 15) << 12) |
      ((codes[o + 4]! & 15) << 16) |
      ((codes[o + 5]! & 15) << 20) |
      ((codes[o + 6]! & 15) << 24) |
      ((codes[o + 7]! & 15) << 28);
  }
}

function emptyQ4(rows: number, cols: number, asymmetric: boolean): Q4Tensor {
  const groupsPerRow = groupsPerRowOf(cols);
  const groups = rows * groupsPerRow;
  const t: Q4Tensor = {
    dtype: 'q4',
    rows,
    cols,
    groupsPerRow,
    packed: new Uint32Array(groups * Q4_WORDS_PER_GROUP),
    scales: new Uint32Array(halfPairWords(groups)),
  };
  if (asymmetric) t.mins = new Uint32Array(halfPairWords(groups));
  return t;
}

/** Next f16 strictly below a finite f16 (by value), used to round a group minimum downwards. */
function f16NextDown(bits: number): number {
  if (bits === 0 || bits === 0x8000) return 0x8001;
  return bits & 0x8000 ? bits + 1 : bits - 1;
}

/**
 * Quantizes a row-major [rows, cols] float matrix to Q4, group by group.
 * Symmetric: scale = absmax / 7 rounded to f16, code = clamp(round(x / scale), -8, 7) + 8, where the
 * division uses the ROUNDED scale so that dequantize reproduces exactly what the codes were chosen for;
 * every element ends within scale/2 of its dequantized value.
 * Asymmetric: min = group minimum rounded down to f16, scale = (max - min) / 15 rounded to f16,
 * code = clamp(round((x - min) / scale), 0, 15).
 * Non-finite inputs are refused: a NaN in a checkpoint is corruption, and quantizing it would hide it.
 */
export function quantizeQ4(data: Float32Array, rows: number, cols: number, opts: QuantizeQ4Options = {}): Q4Tensor {
  checkShape('quantizeQ4', rows, cols);
  expectLength(`quantizeQ4 ${rows}x${cols}: data`, data.length, rows * cols);
  const asymmetric = opts.asymmetric === true;
  const t = emptyQ4(rows, cols, asymmetric);
  const { groupsPerRow, packed, scales, mins } = t;
  const codes = new Uint8Array(GROUP_SIZE);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groupsPerRow; g++) {
      const start = r * cols + g * GROUP_SIZE;
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      let lo = Infinity;
      let hi = -Infinity;
      for (let k = 0; k < len; k++) {
        const v = data[start + k]!;
        if (!Number.isFinite(v)) {
          throw new QuantFormatError(`quantizeQ4: non-finite value ${v} at row ${r}, col ${g * GROUP_SIZE + k}`);
        }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const gi = r * groupsPerRow + g;
      if (mins === undefined) {
        const bits = symmetricScaleBits(Math.max(-lo, hi), 7);
        const s = f16ToF32(bits);
        codes.fill(ZERO_CODE);
        if (s > 0) {
          for (let k = 0; k < len; k++) {
            const q = Math.round(data[start + k]! / s);
            codes[k] = (q < -8 ? -8 : q > 7 ? 7 : q) + 8;
          }
        }
        setHalf(scales, gi, bits);
      } else {
        // Round the minimum down so the lowest element is representable, and clamp to the f16 range.
        const f16Max = f16ToF32(F16_MAX_BITS);
        let minBits = f32ToF16(Math.min(Math.max(lo, -f16Max), f16Max));
        if (f16ToF32(minBits) > lo && minBits !== (F16_MAX_BITS | 0x8000)) minBits = f16NextDown(minBits);
        const m = f16ToF32(minBits);
        const bits = symmetricScaleBits(Math.max(0, hi - m), 15);
        const s = f16ToF32(bits);
        codes.fill(0);
        if (s > 0) {
          for (let k = 0; k < len; k++) {
            const q = Math.round((data[start + k]! - m) / s);
            codes[k] = q < 0 ? 0 : q > 15 ? 15 : q;
          }
        }
        setHalf(scales, gi, bits);
        setHalf(mins, gi, minBits);
      }
      packGroup(codes, 0, packed, gi * Q4_WORDS_PER_GROUP);
    }
  }
  return t;
}

/** Expands a Q4 tensor to a row-major [rows, cols] Float32Array (padding dropped). */
export function dequantizeQ4(t: Q4Tensor): Float32Array<ArrayBuffer> {
  validateQuantTensor(t);
  const { rows, cols, groupsPerRow, packed, scales, mins } = t;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groupsPerRow; g++) {
      const gi = r * groupsPerRow + g;
      const s = f16ToF32(getHalf(scales, gi));
      // Symmetric: (code - 8) * s, exact in float32 (4-bit integer times an 11-bit mantissa).
      // Asymmetric: code * s + m, rounded once to float32 when stored.
      const zero = mins === undefined ? ZERO_CODE : 0;
      const m = mins === undefined ? 0 : f16ToF32(getHalf(mins, gi));
      const start = r * cols + g * GROUP_SIZE;
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      const base = gi * Q4_WORDS_PER_GROUP;
      for (let k = 0; k < len; k++) {
        const code = (packed[base + (k >> 3)]! >>> (4 * (k & 7))) & 15;
        out[start + k] = (code - zero) * s + m;
      }
    }
  }
  return out;
}

/**
 * THUDM chatglm int4 (quantization_bit=4): `weight` int8 [rows, cols/2], each byte two signed 4-bit
 * values, element 2k in the HIGH nibble and 2k+1 in the low nibble; `weight_scale` f16 [rows].
 * value = nibble * row_scale. Imported exactly: every group of a row gets the row's scale bits and
 * code = nibble + 8, which for a two's-complement nibble n is simply n ^ 8.
 */
export function importThudmInt4(
  weight: Int8Array | Uint8Array,
  weightScale: Uint16Array,
  rows: number,
  cols: number,
): Q4Tensor {
  checkShape('importThudmInt4', rows, cols);
  if (cols % 2 !== 0) throw new QuantFormatError(`importThudmInt4: cols must be even (two values per byte), got ${cols}`);
  const half = cols / 2;
  expectLength(`importThudmInt4 ${rows}x${cols}: weight bytes`, weight.length, rows * half);
  expectLength(`importThudmInt4 ${rows}x${cols}: weight_scale`, weightScale.length, rows);
  const t = emptyQ4(rows, cols, false);
  const { groupsPerRow } = t;
  const rowCodes = new Uint8Array(groupsPerRow * GROUP_SIZE);
  for (let r = 0; r < rows; r++) {
    rowCodes.fill(ZERO_CODE);
    const src = r * half;
    for (let k = 0; k < half; k++) {
      const b = weight[src + k]! & 0xff;
      rowCodes[2 * k] = (b >>> 4) ^ 8;
      rowCodes[2 * k + 1] = (b & 15) ^ 8;
    }
    packRowWithRowScale(rowCodes, r, t, Q4_WORDS_PER_GROUP, weightScale[r]!, packGroup);
  }
  return t;
}

/** Bytes of one GGUF Q4_0 block: f16 d, then 16 bytes holding 32 nibbles. */
export const GGUF_Q4_0_BLOCK_BYTES = 18;

/**
 * GGUF Q4_0: each row is cols/32 blocks of 18 bytes (f16 `d` little-endian, then `qs[16]`), element j
 * (0..15) = qs[j] & 0xF, element j+16 = qs[j] >> 4, value = (q - 8) * d. That is exactly our symmetric
 * form, so codes and scale bits are copied, only re-arranged into our nibble order.
 */
export function importGgufQ4_0(blocks: Uint8Array, rows: number, cols: number): Q4Tensor {
  checkGgufShape('importGgufQ4_0', rows, cols);
  const t = emptyQ4(rows, cols, false);
  const { packed, scales } = t;
  const groups = rows * t.groupsPerRow;
  expectLength(`importGgufQ4_0 ${rows}x${cols}: block bytes`, blocks.length, groups * GGUF_Q4_0_BLOCK_BYTES);
  for (let gi = 0; gi < groups; gi++) {
    const o = gi * GGUF_Q4_0_BLOCK_BYTES;
    setHalf(scales, gi, blocks[o]! | (blocks[o + 1]! << 8));
    const qs = o + 2;
    const base = gi * Q4_WORDS_PER_GROUP;
    // Words 0,1 (elements 0..15) are the low nibbles of qs[0..15]; words 2,3 the high nibbles.
    for (let w = 0; w < 2; w++) {
      let lo = 0;
      let hi = 0;
      for (let j = 0; j < 8; j++) {
        const b = blocks[qs + 8 * w + j]!;
        lo |= (b & 15) << (4 * j);
        hi |= (b >>> 4) << (4 * j);
      }
      packed[base + w] = lo;
      packed[base + 2 + w] = hi;
    }
  }
  return t;
}
