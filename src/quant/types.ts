/*
 * Quantized weight formats, defined once for the whole engine (CPU code, GPU shaders, planner, loaders).
 *
 * A weight matrix is [rows = out_features, cols = in_features], row-major (the PyTorch Linear layout),
 * and a layer computes y = x · Wᵀ. Quantization groups are 32 consecutive elements of one row (along
 * cols, the input dimension), so a group is multiplied against 32 consecutive activations.
 *
 *   groupsPerRow = ceil(cols / 32); flat group index i = r * groupsPerRow + g (g = col >> 5).
 *   The last group of a row may be partial: its missing elements are padding. They dequantize to 0 in
 *   the symmetric Q4 form (code 8) and in Q8 (code 0); in the asymmetric Q4 form they are code 0, i.e.
 *   value `min`, so a consumer must either stop at `cols` or multiply the padding by zero activations.
 *
 * Q4 (4-bit codes, 16 bytes of codes per group):
 *   packed: Uint32Array, 4 words per group; group i is words [4i, 4i+4), one vec4<u32> in WGSL.
 *           Element e (0..31) of the group is in word e >> 3, bits [4*(e & 7), 4*(e & 7) + 4)
 *           (low nibble first). code = (packed[4i + (e >> 3)] >> (4 * (e & 7))) & 0xF.
 *   symmetric (default): value = (code - 8) * scale
 *   asymmetric (mins present): value = code * scale + min
 *
 * Q8 (8-bit codes, 32 bytes of codes per group):
 *   packed: Uint32Array, 8 words per group (two vec4<u32>); element e is in word e >> 2, bits
 *           [8*(e & 3), 8*(e & 3) + 8), two's complement. value = q * scale.
 *   On a little-endian machine (every WebGPU target) this is exactly group i's 32 int8 bytes in order.
 *
 * Scales (and Q4 mins): Uint32Array of ceil(rows * groupsPerRow / 2) words, each holding two IEEE f16:
 *   the scale of group i is in word i >> 1, low 16 bits when i is even, high 16 bits when i is odd.
 *   WGSL: `unpack2x16float(scales[i >> 1u])[i & 1u]`, core WGSL, no shader-f16 feature needed.
 *   When the group count is odd the last word's high half is 0.
 *
 * Both forms represent THUDM chatglm int4/int8 checkpoints (one f16 scale per row, repeated per group)
 * and GGUF Q4_0/Q8_0 blocks (one f16 scale per 32 elements) exactly; see q4.ts and q8.ts.
 */
import { GlmError, InvalidArgumentError } from '../errors';
import { f16ToF32, f32ToF16 } from '../formats/dtype';
import { validateQx, type QxTensor } from './qx';

/** Elements per quantization group, along cols. Also the GGUF Q4_0/Q8_0 block size. */
export const GROUP_SIZE = 32;
/** u32 words of codes per group. */
export const Q4_WORDS_PER_GROUP = 4;
export const Q8_WORDS_PER_GROUP = 8;

/** Quantized data whose lengths or shape do not match (message says expected vs got). */
export class QuantFormatError extends GlmError {
  override name = 'QuantFormatError';
}

export interface Q4Tensor {
  dtype: 'q4';
  rows: number;
  cols: number;
  groupsPerRow: number;
  /** rows * groupsPerRow * 4 words of 4-bit codes. */
  packed: Uint32Array;
  /** ceil(rows * groupsPerRow / 2) words, two f16 scales each. */
  scales: Uint32Array;
  /** Present only in the asymmetric form: f16 group minimums, packed like `scales`. */
  mins?: Uint32Array;
}

export interface Q8Tensor {
  dtype: 'q8';
  rows: number;
  cols: number;
  groupsPerRow: number;
  /** rows * groupsPerRow * 8 words of int8 codes. */
  packed: Uint32Array;
  /** ceil(rows * groupsPerRow / 2) words, two f16 scales each. */
  scales: Uint32Array;
}

/** QX (qx.ts): GGUF K-quant and Q5 codes of 4-6 bits with their two-level scales. */
export type QuantizedTensor = Q4Tensor | Q8Tensor | QxTensor;
/** Kinds a float matrix can be quantized to (QX only comes from GGUF files). */
export type QuantKind = 'q4' | 'q8';

export function groupsPerRowOf(cols: number): number {
  return Math.ceil(cols / GROUP_SIZE);
}

/** Words needed to hold `count` f16 values two per word. */
export function halfPairWords(count: number): number {
  return Math.ceil(count / 2);
}

/** Bytes of a Q4 tensor's buffers (packed + scales, + mins when asymmetric). */
export function q4Bytes(rows: number, cols: number, opts: { asymmetric?: boolean } = {}): number {
  const groups = rows * groupsPerRowOf(cols);
  const halfBytes = halfPairWords(groups) * 4;
  return groups * Q4_WORDS_PER_GROUP * 4 + halfBytes * (opts.asymmetric ? 2 : 1);
}

/** Bytes of a Q8 tensor's buffers (packed + scales). */
export function q8Bytes(rows: number, cols: number): number {
  const groups = rows * groupsPerRowOf(cols);
  return groups * Q8_WORDS_PER_GROUP * 4 + halfPairWords(groups) * 4;
}

/** Bytes actually held by a tensor's buffers. */
export function quantizedBytes(t: QuantizedTensor): number {
  if (t.dtype === 'qx') return t.packed.byteLength + t.supers.byteLength + (t.subs?.byteLength ?? 0);
  return t.packed.byteLength + t.scales.byteLength + (t.dtype === 'q4' && t.mins ? t.mins.byteLength : 0);
}

// ---- shared helpers of q4.ts, q8.ts and the CPU matmul ----

/** f16 bits of value i of a half-pair array (see the layout above). */
export function getHalf(words: Uint32Array, i: number): number {
  const w = words[i >> 1]!;
  return i & 1 ? w >>> 16 : w & 0xffff;
}

/** Writes f16 bits into slot i of a half-pair array, keeping the other half. */
export function setHalf(words: Uint32Array, i: number, bits: number): void {
  const j = i >> 1;
  const w = words[j]!;
  words[j] = i & 1 ? (w & 0xffff) | ((bits & 0xffff) << 16) : (w & 0xffff0000) | (bits & 0xffff);
}

/** rows and cols must be positive integers; anything else is a caller bug, not a format problem. */
export function checkShape(what: string, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) {
    throw new InvalidArgumentError(`${what}: rows and cols must be positive integers, got rows=${rows}, cols=${cols}`);
  }
}

export function expectLength(what: string, got: number, expected: number): void {
  if (got !== expected) throw new QuantFormatError(`${what}: expected length ${expected}, got ${got}`);
}

/** Checks that a tensor's buffers agree with its shape, so kernels and loops can index without checks. */
export function validateQuantTensor(t: QuantizedTensor): void {
  if (t.dtype === 'qx') return validateQx(t);
  checkShape(`${t.dtype} tensor`, t.rows, t.cols);
  const gpr = groupsPerRowOf(t.cols);
  if (t.groupsPerRow !== gpr) {
    throw new QuantFormatError(`${t.dtype} tensor: expected groupsPerRow ${gpr} for cols=${t.cols}, got ${t.groupsPerRow}`);
  }
  const groups = t.rows * gpr;
  const wordsPerGroup = t.dtype === 'q4' ? Q4_WORDS_PER_GROUP : Q8_WORDS_PER_GROUP;
  expectLength(`${t.dtype} tensor ${t.rows}x${t.cols}: packed words`, t.packed.length, groups * wordsPerGroup);
  expectLength(`${t.dtype} tensor ${t.rows}x${t.cols}: scales words`, t.scales.length, halfPairWords(groups));
  if (t.dtype === 'q4' && t.mins !== undefined) {
    expectLength(`q4 tensor ${t.rows}x${t.cols}: mins words`, t.mins.length, halfPairWords(groups));
  }
}

/** Largest finite f16, as bits. Scales are clamped to it so an absurd input never yields inf * 0 = NaN. */
export const F16_MAX_BITS = 0x7bff;

/**
 * f16 bits of the scale for a symmetric group with the given absmax and largest positive code `qmax`.
 * Starts from absmax / qmax rounded to f16; if that rounding (or underflow to 0) left absmax more than
 * half a step beyond qmax * scale, moves to the next larger f16 so every element is within scale/2 of
 * its dequantized value. Returns 0 for an all-zero group (codes then all mean 0; no division by 0).
 */
export function symmetricScaleBits(absmax: number, qmax: number): number {
  if (absmax === 0) return 0;
  let bits = Math.min(f32ToF16(absmax / qmax), F16_MAX_BITS);
  while (bits < F16_MAX_BITS && absmax > (qmax + 0.5) * f16ToF32(bits)) bits++;
  return bits;
}

/** GGUF Q4_0 / Q8_0 rows are whole 32-element blocks. */
export function checkGgufShape(what: string, rows: number, cols: number): void {
  checkShape(what, rows, cols);
  if (cols % GROUP_SIZE !== 0) throw new QuantFormatError(`${what}: cols must be a multiple of ${GROUP_SIZE}, got ${cols}`);
}

/**
 * Packs one row of codes (zero-padded to whole groups) into its groups, every group taking the row's
 * single f16 scale: THUDM's int4/int8 formats have one scale per row.
 */
export function packRowWithRowScale(
  rowCodes: Uint8Array,
  row: number,
  t: { groupsPerRow: number; packed: Uint32Array; scales: Uint32Array },
  wordsPerGroup: number,
  scaleBits: number,
  packGroup: (codes: Uint8Array, from: number, packed: Uint32Array, at: number) => void,
): void {
  for (let g = 0; g < t.groupsPerRow; g++) {
    const gi = row * t.groupsPerRow + g;
    packGroup(rowCodes, g * GROUP_SIZE, t.packed, gi * wordsPerGroup);
    setHalf(t.scales, gi, scaleBits);
  }
}
