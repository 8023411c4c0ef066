// CPU matmul on Q4/Q8 weights, straight from the packed words (the whole matrix is never dequantized).
// It is the runtime CPU fallback for quantized layers and the reference twin of the GPU q4/q8 kernels,
// which follow the same per-group order: a dot product of one group's codes with 32 activations,
// multiplied once by the group's scale, then added to a float32 accumulator.
import { InvalidArgumentError } from '../errors';
import { f16Values } from '../formats/dtype';
import {
  GROUP_SIZE,
  Q4_WORDS_PER_GROUP,
  Q8_WORDS_PER_GROUP,
  getHalf,
  validateQuantTensor,
  type QuantizedTensor,
} from '../quant/types';
import { matmulQx } from './qx-matmul';


/**
 * y = x · Wᵀ (+ bias): x is row-major [n, cols], W is [rows, cols] quantized, the result is [n, rows].
 *
 * Numerics: within a group, code * x is exact in double (a <= 8-bit integer times a float32) and the
 * 32-term sum is rounded to float32 once; the scale multiply and every accumulation are rounded to float32
 * (Math.fround), so results match a float32 GPU kernel up to summation order. Loops go weight row, then
 * activation row, then group: one weight row (a few KiB) stays in cache while the n activation rows pass.
 */
export function matmulQuant(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float32Array<ArrayBuffer> {
  validateQuantTensor(w);
  if (w.dtype === 'qx') {
    checkMatmulArgs(x, n, w.rows, w.cols, bias);
    return matmulQx(x, n, w, bias);
  }
  const { rows, cols, groupsPerRow, packed, scales } = w;
  checkMatmulArgs(x, n, rows, cols, bias);

  const isQ4 = w.dtype === 'q4';
  const mins = w.dtype === 'q4' ? w.mins : undefined;
  // Symmetric Q4 codes are offset by 8; asymmetric Q4 and Q8 codes are used as they are.
  const zero = isQ4 && mins === undefined ? 8 : 0;

  // Asymmetric Q4: sum_k x_k (code_k s + m) = s * sum_k code_k x_k + m * sum_k x_k. The activation
  // sums per (batch row, group) do not depend on the weight row, so they are computed once.
  let xSums: Float32Array | undefined;
  if (mins !== undefined) {
    xSums = new Float32Array(n * groupsPerRow);
    for (let i = 0; i < n; i++) {
      for (let g = 0; g < groupsPerRow; g++) {
        const xo = i * cols + g * GROUP_SIZE;
        const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
        let sum = 0;
        for (let k = 0; k < len; k++) sum += x[xo + k]!;
        xSums[i * groupsPerRow + g] = sum;
      }
    }
  }

  const half = f16Values();
  const out = new Float32Array(n * rows);
  const fullGroups = Math.floor(cols / GROUP_SIZE); // groups with 32 real elements; a partial one may follow
  const tail = cols - fullGroups * GROUP_SIZE;
  const tailCodes = new Float64Array(GROUP_SIZE);
  for (let r = 0; r < rows; r++) {
    const rowGroup = r * groupsPerRow;
    for (let i = 0; i < n; i++) {
      const xRow = i * cols;
      let acc = 0;
      for (let g = 0; g < groupsPerRow; g++) {
        const gi = rowGroup + g;
        const xo = xRow + g * GROUP_SIZE;
        let dot: number;
        if (g < fullGroups) {
          dot = isQ4 ? dotQ4(packed, gi * Q4_WORDS_PER_GROUP, x, xo, zero) : dotQ8(packed, gi * Q8_WORDS_PER_GROUP, x, xo);
        } else {
          // Partial last group: decode, then stop at cols so x is never read past its row.
          if (isQ4) decodeQ4(packed, gi * Q4_WORDS_PER_GROUP, zero, tailCodes);
          else decodeQ8(packed, gi * Q8_WORDS_PER_GROUP, tailCodes);
          dot = 0;
          for (let k = 0; k < tail; k++) dot += tailCodes[k]! * x[xo + k]!;
        }
        let term = Math.fround(half[getHalf(scales, gi)]! * Math.fround(dot));
        if (mins !== undefined && xSums !== undefined) {
          term = Math.fround(term + Math.fround(half[getHalf(mins, gi)]! * xSums[i * groupsPerRow + g]!));
        }
        acc = Math.fround(acc + term);
      }
      out[i * rows + r] = bias === undefined ? acc : acc + bias[r]!;
    }
  }
  return out;
}

function checkMatmulArgs(x: Float32Array, n: number, rows: number, cols: number, bias: Float32Array | undefined): void {
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`matmulQuant: n must be a non-negative integer, got ${n}`);
  if (x.length !== n * cols) {
    throw new InvalidArgumentError(`matmulQuant: x must be [n=${n}, cols=${cols}], expected length ${n * cols}, got ${x.length}`);
  }
  if (bias !== undefined && bias.length !== rows) {
    throw new InvalidArgumentError(`matmulQuant: bias must have rows=${rows} elements, got ${bias.length}`);
  }
}

// Group kernels. The full-group dots decode straight from the words into the sum (no temporary), which
// is several times faster in V8 than decoding into an array first; the decoders serve the partial group.

/** sum over a full Q4 group of (code - zero) * x, code e at bits 4*(e & 7) of word e >> 3. */
function dotQ4(packed: Uint32Array, base: number, x: Float32Array, xo: number, zero: number): number {
  let dot = 0;
  for (let wd = 0; wd < Q4_WORDS_PER_GROUP; wd++, xo += 8) {
    const v = packed[base + wd]!;
    dot +=
      ((v & 15) - zero) * x[xo]! +
      (((v >>> 4) & 15) - zero) * x[xo + 1]! +
      (((v >>> 8) & 15) - zero) * x[xo + 2]! +
      (((v >>> 12) & 15) - zero) * x[xo + 3]! +
      (((v >>> 16) & 15) - zero) * x[xo + 4]! +
      (((v >>> 20) & 15) - zero) * x[xo + 5]! +
      (((v >>> 24) & 15) - zero) * x[xo + 6]! +
      ((v >>> 28) - zero) * x[xo + 7]!;
  }
  return dot;
}

/** sum over a full Q8 group of q * x; shifting a byte to the top and back down sign-extends the int8. */
function dotQ8(packed: Uint32Array, base: number, x: Float32Array, xo: number): number {
  let dot = 0;
  for (let wd = 0; wd < Q8_WORDS_PER_GROUP; wd++, xo += 4) {
    const v = packed[base + wd]!;
    dot += ((v << 24) >> 24) * x[xo]! + ((v << 16) >> 24) * x[xo + 1]! + ((v << 8) >> 24) * x[xo + 2]! + (v >> 24) * x[xo + 3]!;
  }
  return dot;
}

function decodeQ4(packed: Uint32Array, base: number, zero: number, out: Float64Array): void {
  for (let e = 0; e < GROUP_SIZE; e++) out[e] = ((packed[base + (e >> 3)]! >>> (4 * (e & 7))) & 15) - zero;
}

function decodeQ8(packed: Uint32Array, base: number, out: Float64Array): void {
  for (let e = 0; e < GROUP_SIZE; e++) out[e] = (packed[base + (e >> 2)]! << (24 - 8 * (e & 3))) >> 24;
}
