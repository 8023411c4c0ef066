// The CPU twin of the GPU's int8 decode GEMV (issue #17: shaders/lib/gemv_group_int8.wgsl and
// lib/weights_q4_int8.wgsl): the same activation quantization and the same integer arithmetic, so the
// kernel can be checked against it to float32 rounding of the per-group products and the summation order.
//
// Activation scheme, one function for every bit width: per 32-element group, scale = max|x| / qmax with
// qmax = 2^(bits-1) - 1, q = round-half-to-even(x · (1 / scale)), all in float32 (WGSL's round() rounds
// halves to even). The GPU uses bits = 8 (dot4I8Packed); the WASM CPU kernels (quant-matmul.wat) keep
// 16 bits: the README's "Integer decode GEMV" section says why.
import { InvalidArgumentError } from '../errors';
import { f16Values } from '../formats/dtype';
import { GROUP_SIZE, Q4_WORDS_PER_GROUP, getHalf, validateQuantTensor, type Q4Tensor, type QuantizedTensor } from '../quant/types';
import { qxCode, qxSub, qxSubsPerGroup, qxSupers, qxZero, validateQx, type QxTensor } from '../quant/qx';
import type { QuantMatmul } from './ops';
import { matmulQuant } from './quant-matmul';

/** Activation bits of the GPU's integer GEMV. */
export const GEMV_ACTIVATION_BITS = 8;

/** Rounds half to even, like WGSL's round() (Math.round rounds halves up). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Quantizes x[offset .. offset + 32) to signed `bits`-bit integers into `out` (32 values); returns the
 * group's scale (x ≈ q · scale; 0 for an all-zero group) and the sum of the integers.
 */
export function quantizeActivationGroup(x: Float32Array, offset: number, bits: number, out: Int32Array): { scale: number; sum: number } {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw new InvalidArgumentError(`activation bits must be an integer in 2..16, got ${bits}`);
  const qmax = 2 ** (bits - 1) - 1;
  let amax = 0;
  for (let k = 0; k < GROUP_SIZE; k++) amax = Math.max(amax, Math.abs(x[offset + k]!));
  const scale = Math.fround(amax / qmax);
  const inv = amax > 0 ? Math.fround(1 / scale) : 0;
  let sum = 0;
  for (let k = 0; k < GROUP_SIZE; k++) {
    const q = roundHalfEven(Math.fround(x[offset + k]! * inv));
    out[k] = q;
    sum += q;
  }
  return { scale, sum };
}

/**
 * y = x · Wᵀ (+ bias) for Q4 weights of whole 32-column groups, the way the GPU's int8 GEMV computes it:
 * per group, the integer sum of code · q (codes 0..15), minus 8 · sum(q) when symmetric, times
 * (weight scale · activation scale) in float32; asymmetric adds min · (sum(q) · activation scale).
 */
export function matmulQ4Int8(x: Float32Array, n: number, w: Q4Tensor, bias?: Float32Array): Float32Array<ArrayBuffer> {
  validateQuantTensor(w);
  const { rows, cols, groupsPerRow, packed, scales, mins } = w;
  checkArgs('matmulQ4Int8', x, n, rows, cols, bias);
  const half = f16Values();
  const a = quantizeRows(x, n, cols);
  const out = new Float32Array(n * rows);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let g = 0; g < groupsPerRow; g++) {
        const gi = r * groupsPerRow + g;
        const xo = i * cols + g * GROUP_SIZE;
        let codesDot = 0; // exact: |sum| <= 32 · 15 · 127
        for (let wd = 0; wd < Q4_WORDS_PER_GROUP; wd++) {
          const v = packed[gi * Q4_WORDS_PER_GROUP + wd]!;
          for (let j = 0; j < 8; j++) codesDot += ((v >>> (4 * j)) & 15) * a.q[xo + 8 * wd + j]!;
        }
        const xs = a.scale[i * groupsPerRow + g]!;
        const sum = a.sum[i * groupsPerRow + g]!;
        const s = half[getHalf(scales, gi)]!;
        let term: number;
        if (mins !== undefined) {
          term = Math.fround(Math.fround(codesDot * Math.fround(s * xs)) + Math.fround(half[getHalf(mins, gi)]! * Math.fround(sum * xs)));
        } else {
          term = Math.fround((codesDot - 8 * sum) * Math.fround(s * xs));
        }
        acc = Math.fround(acc + term);
      }
      out[i * rows + r] = bias === undefined ? acc : acc + bias[r]!;
    }
  }
  return out;
}

/**
 * The same for QX weights (GGUF K-quants, Q5; lib/weights_qx_int8.wgsl): per subgroup (16 or 32 elements)
 * (d·sc)·xscale·(sum(code·q) - zero·sum(q)), plus (dm·mi)·xscale·sum(q) with mins.
 */
export function matmulQxInt8(x: Float32Array, n: number, w: QxTensor, bias?: Float32Array): Float32Array<ArrayBuffer> {
  validateQx(w);
  const { rows, cols, groupsPerRow, subgroup, hasMins } = w;
  checkArgs('matmulQxInt8', x, n, rows, cols, bias);
  const zero = qxZero(w);
  const perGroup = qxSubsPerGroup(subgroup);
  const a = quantizeRows(x, n, cols);
  const codes = new Int32Array(GROUP_SIZE);
  const out = new Float32Array(n * rows);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let g = 0; g < groupsPerRow; g++) {
        const gi = r * groupsPerRow + g;
        const xo = i * cols + g * GROUP_SIZE;
        for (let e = 0; e < GROUP_SIZE; e++) codes[e] = qxCode(w, gi, e);
        const xs = a.scale[i * groupsPerRow + g]!;
        const [d, dm] = qxSupers(w, gi);
        for (let j = 0; j < perGroup; j++) {
          const [sc, mi] = qxSub(w, gi * perGroup + j);
          let dot = 0;
          let qs = 0;
          for (let e = j * subgroup; e < (j + 1) * subgroup; e++) {
            dot += codes[e]! * a.q[xo + e]!;
            qs += a.q[xo + e]!;
          }
          let term = Math.fround((dot - zero * qs) * Math.fround(Math.fround(d * sc) * xs));
          if (hasMins) term = Math.fround(term + Math.fround(Math.fround(dm * mi) * Math.fround(qs * xs)));
          acc = Math.fround(acc + term);
        }
      }
      out[i * rows + r] = bias === undefined ? acc : acc + bias[r]!;
    }
  }
  return out;
}

function checkArgs(what: string, x: Float32Array, n: number, rows: number, cols: number, bias: Float32Array | undefined): void {
  if (cols % GROUP_SIZE !== 0) throw new InvalidArgumentError(`${what}: cols must be a multiple of ${GROUP_SIZE}, got ${cols}`);
  if (x.length !== n * cols) throw new InvalidArgumentError(`${what}: x must be [n=${n}, cols=${cols}], got ${x.length} values`);
  if (bias !== undefined && bias.length !== rows) throw new InvalidArgumentError(`${what}: bias must have ${rows} values, got ${bias.length}`);
}

/** Every activation group quantized once (the GPU does it per lane, with the same result). */
function quantizeRows(x: Float32Array, n: number, cols: number): { q: Int32Array; scale: Float32Array; sum: Int32Array } {
  const groups = cols / GROUP_SIZE;
  const q = new Int32Array(n * cols);
  const scale = new Float32Array(n * groups);
  const sum = new Int32Array(n * groups);
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) {
      const at = i * cols + g * GROUP_SIZE;
      const r = quantizeActivationGroup(x, at, GEMV_ACTIVATION_BITS, q.subarray(at, at + GROUP_SIZE));
      scale[i * groups + g] = r.scale;
      sum[i * groups + g] = r.sum;
    }
  }
  return { q, scale, sum };
}

/**
 * A QuantMatmul for CpuOps whose one-token matmuls run the int8 arithmetic where a GpuOps with
 * `{ gemv: 'int8', gemvQx: 'int8' }` does: Q4 over whole groups (matmulQ4Int8), QX (matmulQxInt8). With it,
 * CpuOps is that GpuOps' twin. Everything else runs matmulQuant.
 */
export const int8GemvTwin: QuantMatmul = {
  matmul(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float32Array {
    if (n === 1 && w.dtype === 'q4' && w.cols % GROUP_SIZE === 0) return matmulQ4Int8(x, n, w, bias);
    if (n === 1 && w.dtype === 'qx') return matmulQxInt8(x, n, w, bias);
    return matmulQuant(x, n, w, bias);
  },
};
