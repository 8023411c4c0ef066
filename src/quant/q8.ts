// Q8: quantize/dequantize and the exact importers (THUDM chatglm int8, GGUF Q8_0). Layout: types.ts.
import { f16ToF32 } from '../formats/dtype';
import {
  GROUP_SIZE,
  Q8_WORDS_PER_GROUP,
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
  type Q8Tensor,
} from './types';

/** Packs 32 int8 codes starting at `src[from]` into group words starting at `packed[at]`. */
function packGroup(codes: Int8Array | Uint8Array, from: number, packed: Uint32Array, at: number): void {
  for (let w = 0; w < Q8_WORDS_PER_GROUP; w++) {
    const o = from + 4 * w;
    packed[at + w] =
      (codes[o]! & 0xff) | ((codes[o + 1]! & 0xff) << 8) | ((codes[o + 2]! & 0xff) << 16) | ((codes[o + 3]! & 0xff) << 24);
  }
}

function emptyQ8(rows: number, cols: number): Q8Tensor {
  const groupsPerRow = groupsPerRowOf(cols);
  const groups = rows * groupsPerRow;
  return {
    dtype: 'q8',
    rows,
    cols,
    groupsPerRow,
    packed: new Uint32Array(groups * Q8_WORDS_PER_GROUP),
    scales: new Uint32Array(halfPairWords(groups)),
  };
}

/**
 * Quantizes a row-major [rows, cols] float matrix to Q8: scale = absmax / 127 rounded to f16,
 * q = clamp(round(x / scale), -128, 127) against the ROUNDED scale, so every element ends within
 * scale/2 of its dequantized value. Padding is q = 0. Non-finite inputs are refused (see quantizeQ4).
 */
export function quantizeQ8(data: Float32Array, rows: number, cols: number): Q8Tensor {
  checkShape('quantizeQ8', rows, cols);
  expectLength(`quantizeQ8 ${rows}x${cols}: data`, data.length, rows * cols);
  const t = emptyQ8(rows, cols);
  const { groupsPerRow, packed, scales } = t;
  const codes = new Int8Array(GROUP_SIZE);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groupsPerRow; g++) {
      const start = r * cols + g * GROUP_SIZE;
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      let absmax = 0;
      for (let k = 0; k < len; k++) {
        const v = data[start + k]!;
        if (!Number.isFinite(v)) {
          throw new QuantFormatError(`quantizeQ8: non-finite value ${v} at row ${r}, col ${g * GROUP_SIZE + k}`);
        }
        const a = Math.abs(v);
        if (a > absmax) absmax = a;
      }
      const gi = r * groupsPerRow + g;
      const bits = symmetricScaleBits(absmax, 127);
      const s = f16ToF32(bits);
      codes.fill(0);
      if (s > 0) {
        for (let k = 0; k < len; k++) {
          const q = Math.round(data[start + k]! / s);
          codes[k] = q < -128 ? -128 : q > 127 ? 127 : q;
        }
      }
      setHalf(scales, gi, bits);
      packGroup(codes, 0, packed, gi * Q8_WORDS_PER_GROUP);
    }
  }
  return t;
}

/** Expands a Q8 tensor to a row-major [rows, cols] Float32Array (padding dropped). Exact: q * f16 fits f32. */
export function dequantizeQ8(t: Q8Tensor): Float32Array<ArrayBuffer> {
  validateQuantTensor(t);
  const { rows, cols, groupsPerRow, packed, scales } = t;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groupsPerRow; g++) {
      const gi = r * groupsPerRow + g;
      const s = f16ToF32(getHalf(scales, gi));
      const start = r * cols + g * GROUP_SIZE;
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      const base = gi * Q8_WORDS_PER_GROUP;
      for (let k = 0; k < len; k++) {
        // Shift the byte to the top, then arithmetic-shift back down: sign extension of the int8.
        const q = (packed[base + (k >> 2)]! << (24 - 8 * (k & 3))) >> 24;
        out[start + k] = q * s;
      }
    }
  }
  return out;
}

/**
 * THUDM chatglm int8 (quantization_bit=8): `weight` int8 [rows, cols], `weight_scale` f16 [rows],
 * value = q * row_scale. Imported exactly: every group of a row gets the row's scale bits.
 * A Uint8Array of the same bytes is accepted (readers often hand out raw bytes).
 */
export function importThudmInt8(
  weight: Int8Array | Uint8Array,
  weightScale: Uint16Array,
  rows: number,
  cols: number,
): Q8Tensor {
  checkShape('importThudmInt8', rows, cols);
  expectLength(`importThudmInt8 ${rows}x${cols}: weight bytes`, weight.length, rows * cols);
  expectLength(`importThudmInt8 ${rows}x${cols}: weight_scale`, weightScale.length, rows);
  const t = emptyQ8(rows, cols);
  const { groupsPerRow } = t;
  // One row at a time through a zero-padded buffer, so the partial last group's padding is q = 0.
  const rowCodes = new Uint8Array(groupsPerRow * GROUP_SIZE);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    for (let k = 0; k < cols; k++) rowCodes[k] = weight[src + k]! & 0xff;
    packRowWithRowScale(rowCodes, r, t, Q8_WORDS_PER_GROUP, weightScale[r]!, packGroup);
  }
  return t;
}

/** Bytes of one GGUF Q8_0 block: f16 d, then 32 int8. */
export const GGUF_Q8_0_BLOCK_BYTES = 34;

/**
 * GGUF Q8_0: each row is cols/32 blocks of 34 bytes (f16 `d` little-endian, then 32 int8 `qs`),
 * value = q * d. Our group words are the 32 bytes read as little-endian u32, so this is a copy.
 */
export function importGgufQ8_0(blocks: Uint8Array, rows: number, cols: number): Q8Tensor {
  checkGgufShape('importGgufQ8_0', rows, cols);
  const t = emptyQ8(rows, cols);
  const { packed, scales } = t;
  const groups = rows * t.groupsPerRow;
  expectLength(`importGgufQ8_0 ${rows}x${cols}: block bytes`, blocks.length, groups * GGUF_Q8_0_BLOCK_BYTES);
  for (let gi = 0; gi < groups; gi++) {
    const o = gi * GGUF_Q8_0_BLOCK_BYTES;
    setHalf(scales, gi, blocks[o]! | (blocks[o + 1]! << 8));
    packGroup(blocks, o + 2, packed, gi * Q8_WORDS_PER_GROUP);
  }
  return t;
}
