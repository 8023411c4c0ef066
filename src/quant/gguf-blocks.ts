/*
 * GGUF quantized blocks (llama.cpp's ggml-common.h layouts) -> the formats the engine runs (issue #14).
 *
 * Two independent pieces, so that each checks the other:
 *   - dequantizeGgufReference: llama.cpp's own dequantization (ggml-quants.c dequantize_row_*), loop for
 *     loop, every operation rounded to float32 like the C code. The CPU twin the repacks are tested against.
 *   - importGgufBlocks: repacks the blocks into Q4, Q8 or QX (qx.ts) without going through floats: codes,
 *     f16 scales and the K-quants' 4-8 bit sub-scales are copied as they are, so the result dequantizes
 *     to llama.cpp's float32 values bit for bit. The one exception is IQ4_XS, whose d * (ls - 32) is
 *     rounded to one f16 scale per 32 (it runs as Q8 with codebook values as codes).
 *
 *   GGUF type  block (elements / bytes)   becomes                                     GPU bytes/weight (file)
 *   Q4_0       32 / 18                    Q4 symmetric                                4.5    (4.5)
 *   Q4_1       32 / 20                    Q4 with mins                                5.0    (5.0)
 *   Q5_0       32 / 22                    QX 5-bit, f16 scale per 32                  6.0    (5.5)
 *   Q5_1       32 / 24                    QX 5-bit, f16 scale and min per 32          6.0    (6.0)
 *   Q8_0       32 / 34                    Q8                                          8.5    (8.5)
 *   Q2_K       256 / 84                   QX 4-bit, sub-scales/mins per 16            5.125  (2.625)
 *   Q3_K       256 / 110                  QX 4-bit, sub-scales per 16                 4.625  (3.4375)
 *   Q4_K       256 / 144                  QX 4-bit, sub-scales/mins per 32            4.625  (4.5)
 *   Q5_K       256 / 176                  QX 5-bit, sub-scales/mins per 32            5.625  (5.5)
 *   Q6_K       256 / 210                  QX 6-bit, sub-scales per 16                 6.625  (6.5625)
 *   IQ4_NL     32 / 18                    Q8, codes = the IQ4 codebook values         8.5    (4.5)
 *   IQ4_XS     256 / 136                  Q8, codes = the IQ4 codebook values         8.5    (4.25)
 * (Q2_K, Q3_K and the IQ4 types are rare in llama-quantize's common mixes; their forms favour reuse of
 * existing kernels over bytes. The Q4_K_M arithmetic is in the README.)
 */
import { f16ToF32, f32ToF16 } from '../formats/dtype';
import { importGgufQ4_0 } from './q4';
import { importGgufQ8_0 } from './q8';
import { emptyQx, qxSuperStride, setQxCode, setQxSub, type QxTensor } from './qx';
import { Q4_WORDS_PER_GROUP, Q8_WORDS_PER_GROUP, QuantFormatError, checkShape, expectLength, groupsPerRowOf, halfPairWords, setHalf, type Q4Tensor, type Q8Tensor } from './types';

/** Block size (elements) and bytes of the GGUF quantized types handled here, by ggml type name. */
export const GGUF_BLOCKS = {
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q2_K: [256, 84],
  Q3_K: [256, 110],
  Q4_K: [256, 144],
  Q5_K: [256, 176],
  Q6_K: [256, 210],
  IQ4_NL: [32, 18],
  IQ4_XS: [256, 136],
} as const satisfies Record<string, readonly [number, number]>;
export type GgufBlockType = keyof typeof GGUF_BLOCKS;

export function isGgufBlockType(name: string): name is GgufBlockType {
  return Object.hasOwn(GGUF_BLOCKS, name);
}

/** IQ4_NL / IQ4_XS codebook (ggml-common.h kvalues_iq4nl): a 4-bit code indexes these int8 values. */
export const IQ4_CODEBOOK: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

const fr = Math.fround;
const half = (b: Uint8Array, o: number) => f16ToF32(b[o]! | (b[o + 1]! << 8));

/** 6-bit scale and min j (0..7) of a Q4_K / Q5_K block's 12 scale bytes at `o` (get_scale_min_k4). */
function scaleMinK4(b: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [b[o + j]! & 63, b[o + j + 4]! & 63];
  return [(b[o + j + 4]! & 0xf) | ((b[o + j - 4]! >> 6) << 4), (b[o + j + 4]! >> 4) | ((b[o + j]! >> 6) << 4)];
}

/** The 16 6-bit scales of a Q3_K block (12 bytes at `o`), minus 32. */
function scalesQ3K(b: Uint8Array, o: number): Int8Array {
  const out = new Int8Array(16);
  for (let i = 0; i < 16; i++) {
    const low = i < 8 ? b[o + i]! & 0xf : b[o + i - 8]! >> 4;
    const high = (b[o + 8 + (i & 3)]! >> (2 * (i >> 2))) & 3;
    out[i] = (low | (high << 4)) - 32;
  }
  return out;
}

function checkBlocks(type: GgufBlockType, bytes: Uint8Array, elements: number): number {
  const [size, blockBytes] = GGUF_BLOCKS[type];
  if (elements % size !== 0) throw new QuantFormatError(`${type}: ${elements} elements is not a whole number of ${size}-element blocks`);
  const blocks = elements / size;
  expectLength(`${type}: block bytes for ${elements} elements`, bytes.length, blocks * blockBytes);
  return blocks;
}

/**
 * llama.cpp's dequantization of `elements` values from `bytes` of `type` blocks, in float32 as
 * ggml-quants.c computes it (products and sums rounded to float32 in the C order).
 */
export function dequantizeGgufReference(
  type: GgufBlockType,
  bytes: Uint8Array,
  elements: number,
  opts: { f16ScaleProducts?: boolean } = {},
): Float32Array {
  const blocks = checkBlocks(type, bytes, elements);
  // llama.cpp keeps a super-block scale times a sub-block scale in float32; with f16ScaleProducts the
  // product is rounded to f16 as our formats store it, and the result must then equal the repack exactly.
  const sp = opts.f16ScaleProducts ? (v: number) => f16ToF32(f32ToF16(fr(v))) : fr;
  const y = new Float32Array(elements);
  const bb = GGUF_BLOCKS[type][1];
  for (let i = 0; i < blocks; i++) {
    const o = i * bb;
    switch (type) {
      case 'Q4_0':
      case 'IQ4_NL': {
        const d = half(bytes, o);
        const base = i * 32;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j]!;
          const lo = type === 'Q4_0' ? (q & 0xf) - 8 : IQ4_CODEBOOK[q & 0xf]!;
          const hi = type === 'Q4_0' ? (q >> 4) - 8 : IQ4_CODEBOOK[q >> 4]!;
          y[base + j] = fr(lo * d);
          y[base + j + 16] = fr(hi * d);
        }
        break;
      }
      case 'Q4_1': {
        const d = half(bytes, o);
        const m = half(bytes, o + 2);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 4 + j]!;
          y[i * 32 + j] = fr(fr((q & 0xf) * d) + m);
          y[i * 32 + j + 16] = fr(fr((q >> 4) * d) + m);
        }
        break;
      }
      case 'Q5_0':
      case 'Q5_1': {
        const d = half(bytes, o);
        const m = type === 'Q5_1' ? half(bytes, o + 2) : 0;
        const qo = type === 'Q5_1' ? o + 4 : o + 2;
        const qh = (bytes[qo]! | (bytes[qo + 1]! << 8) | (bytes[qo + 2]! << 16) | (bytes[qo + 3]! << 24)) >>> 0;
        for (let j = 0; j < 16; j++) {
          const q = bytes[qo + 4 + j]!;
          const x0 = (q & 0xf) | (((qh >>> j) << 4) & 0x10);
          const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
          if (type === 'Q5_0') {
            y[i * 32 + j] = fr((x0 - 16) * d);
            y[i * 32 + j + 16] = fr((x1 - 16) * d);
          } else {
            y[i * 32 + j] = fr(fr(x0 * d) + m);
            y[i * 32 + j + 16] = fr(fr(x1 * d) + m);
          }
        }
        break;
      }
      case 'Q8_0': {
        const d = half(bytes, o);
        for (let j = 0; j < 32; j++) y[i * 32 + j] = fr(((bytes[o + 2 + j]! << 24) >> 24) * d);
        break;
      }
      case 'Q2_K': {
        // scales[16] | qs[64] | d | dmin
        const d = half(bytes, o + 80);
        const dmin = half(bytes, o + 82);
        let yi = i * 256;
        let is = 0;
        for (let n = 0; n < 2; n++) {
          const q = o + 16 + 32 * n;
          for (let shift = 0; shift < 8; shift += 2) {
            for (let h = 0; h < 2; h++) {
              const sc = bytes[o + is++]!;
              const dl = sp(d * (sc & 0xf));
              const ml = sp(dmin * (sc >> 4));
              for (let l = 0; l < 16; l++) y[yi++] = fr(fr(dl * ((bytes[q + l + 16 * h]! >> shift) & 3)) - ml);
            }
          }
        }
        break;
      }
      case 'Q3_K': {
        // hmask[32] | qs[64] | scales[12] | d
        const d = half(bytes, o + 108);
        const scales = scalesQ3K(bytes, o + 96);
        let yi = i * 256;
        let is = 0;
        let m = 1;
        for (let n = 0; n < 2; n++) {
          const q = o + 32 + 32 * n;
          for (let shift = 0; shift < 8; shift += 2) {
            for (let h = 0; h < 2; h++) {
              const dl = sp(d * scales[is++]!);
              for (let l = 0; l < 16; l++) {
                const k = l + 16 * h;
                const v = ((bytes[q + k]! >> shift) & 3) - (bytes[o + k]! & m ? 0 : 4);
                y[yi++] = fr(dl * v);
              }
            }
            m <<= 1;
          }
        }
        break;
      }
      case 'Q4_K':
      case 'Q5_K': {
        // d | dmin | scales[12] | (Q5_K: qh[32]) | qs[128]
        const d = half(bytes, o);
        const dmin = half(bytes, o + 2);
        const q5 = type === 'Q5_K';
        const qh = o + 16;
        let ql = q5 ? o + 48 : o + 16;
        let yi = i * 256;
        for (let j = 0; j < 4; j++) {
          const [sc1, m1] = scaleMinK4(bytes, o + 4, 2 * j);
          const [sc2, m2] = scaleMinK4(bytes, o + 4, 2 * j + 1);
          const d1 = sp(d * sc1);
          const min1 = sp(dmin * m1);
          const d2 = sp(d * sc2);
          const min2 = sp(dmin * m2);
          for (let l = 0; l < 32; l++) {
            const high = q5 && bytes[qh + l]! & (1 << (2 * j)) ? 16 : 0;
            y[yi++] = fr(fr(d1 * ((bytes[ql + l]! & 0xf) + high)) - min1);
          }
          for (let l = 0; l < 32; l++) {
            const high = q5 && bytes[qh + l]! & (2 << (2 * j)) ? 16 : 0;
            y[yi++] = fr(fr(d2 * ((bytes[ql + l]! >> 4) + high)) - min2);
          }
          ql += 32;
        }
        break;
      }
      case 'Q6_K': {
        // ql[128] | qh[64] | scales[16] (int8) | d
        const d = half(bytes, o + 208);
        for (let n = 0; n < 2; n++) {
          const ql = o + 64 * n;
          const qh = o + 128 + 32 * n;
          const sc = o + 192 + 8 * n;
          const yb = i * 256 + 128 * n;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const s = (k: number) => sp(d * ((bytes[sc + is + k]! << 24) >> 24));
            const q1 = ((bytes[ql + l]! & 0xf) | (((bytes[qh + l]! >> 0) & 3) << 4)) - 32;
            const q2 = ((bytes[ql + l + 32]! & 0xf) | (((bytes[qh + l]! >> 2) & 3) << 4)) - 32;
            const q3 = ((bytes[ql + l]! >> 4) | (((bytes[qh + l]! >> 4) & 3) << 4)) - 32;
            const q4 = ((bytes[ql + l + 32]! >> 4) | (((bytes[qh + l]! >> 6) & 3) << 4)) - 32;
            y[yb + l] = fr(s(0) * q1);
            y[yb + l + 32] = fr(s(2) * q2);
            y[yb + l + 64] = fr(s(4) * q3);
            y[yb + l + 96] = fr(s(6) * q4);
          }
        }
        break;
      }
      case 'IQ4_XS': {
        // d | scales_h (u16) | scales_l[4] | qs[128]
        const d = half(bytes, o);
        const scalesH = bytes[o + 2]! | (bytes[o + 3]! << 8);
        for (let ib = 0; ib < 8; ib++) {
          const ls = ((bytes[o + 4 + (ib >> 1)]! >> (4 * (ib & 1))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
          const dl = sp(d * (ls - 32));
          const qs = o + 8 + 16 * ib;
          const yb = i * 256 + 32 * ib;
          for (let j = 0; j < 16; j++) {
            y[yb + j] = fr(dl * IQ4_CODEBOOK[bytes[qs + j]! & 0xf]!);
            y[yb + j + 16] = fr(dl * IQ4_CODEBOOK[bytes[qs + j]! >> 4]!);
          }
        }
        break;
      }
    }
  }
  return y;
}

// ---- repacking ----

/** f16 bits of a float32 scale product (IQ4_XS only: llama.cpp keeps it in float32; Q8 stores f16). */
const f16 = (v: number) => f32ToF16(v);
const f16Bits = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
/** A QX super-scale word: f16 d (low half) and f16 dm (high half). */
const superWord = (dBits: number, dmBits: number) => (dBits | (dmBits << 16)) >>> 0;
/** f16 bits of -x for f16 bits of x (a sign flip, exact). */
const negF16 = (bits: number) => bits ^ 0x8000;

function emptyQ4(rows: number, cols: number, withMins: boolean): Q4Tensor {
  const groups = rows * groupsPerRowOf(cols);
  const t: Q4Tensor = { dtype: 'q4', rows, cols, groupsPerRow: groupsPerRowOf(cols), packed: new Uint32Array(groups * Q4_WORDS_PER_GROUP), scales: new Uint32Array(halfPairWords(groups)) };
  if (withMins) t.mins = new Uint32Array(halfPairWords(groups));
  return t;
}

function emptyQ8(rows: number, cols: number): Q8Tensor {
  const groups = rows * groupsPerRowOf(cols);
  return { dtype: 'q8', rows, cols, groupsPerRow: groupsPerRowOf(cols), packed: new Uint32Array(groups * Q8_WORDS_PER_GROUP), scales: new Uint32Array(halfPairWords(groups)) };
}

function setQ4Code(t: Q4Tensor, gi: number, e: number, code: number): void {
  t.packed[gi * Q4_WORDS_PER_GROUP + (e >> 3)]! |= code << (4 * (e & 7));
}

function setQ8Code(t: Q8Tensor, gi: number, e: number, code: number): void {
  t.packed[gi * Q8_WORDS_PER_GROUP + (e >> 2)]! |= (code & 0xff) << (8 * (e & 3));
}

/**
 * Imports a [rows, cols] matrix of GGUF `type` blocks (rows of whole blocks, blocks along each row) into
 * the form the table above names. Group gi of the result is the gi-th 32 elements of the file's data.
 */
export function importGgufBlocks(type: GgufBlockType, bytes: Uint8Array, rows: number, cols: number): Q4Tensor | Q8Tensor | QxTensor {
  checkShape(`import ${type}`, rows, cols);
  const [size, bb] = GGUF_BLOCKS[type];
  if (cols % size !== 0) throw new QuantFormatError(`import ${type}: cols must be a multiple of ${size}, got ${cols}`);
  const blocks = checkBlocks(type, bytes, rows * cols);
  if (type === 'Q4_0') return importGgufQ4_0(bytes, rows, cols);
  if (type === 'Q8_0') return importGgufQ8_0(bytes, rows, cols);
  const b = bytes;
  switch (type) {
    case 'Q4_1': {
      const t = emptyQ4(rows, cols, true);
      for (let gi = 0; gi < blocks; gi++) {
        const o = gi * bb;
        setHalf(t.scales, gi, f16Bits(b, o));
        setHalf(t.mins!, gi, f16Bits(b, o + 2));
        for (let j = 0; j < 16; j++) {
          setQ4Code(t, gi, j, b[o + 4 + j]! & 0xf);
          setQ4Code(t, gi, j + 16, b[o + 4 + j]! >> 4);
        }
      }
      return t;
    }
    case 'Q5_0':
    case 'Q5_1': {
      const q51 = type === 'Q5_1';
      const t = emptyQx(rows, cols, { bits: 5, subgroup: 32, superGroups: 1, hasMins: q51, hasSubs: false });
      const qo = q51 ? 4 : 2;
      for (let gi = 0; gi < blocks; gi++) {
        const o = gi * bb;
        t.supers[gi * qxSuperStride(t)] = superWord(f16Bits(b, o), q51 ? f16Bits(b, o + 2) : 0);
        const qh = (b[o + qo]! | (b[o + qo + 1]! << 8) | (b[o + qo + 2]! << 16) | (b[o + qo + 3]! << 24)) >>> 0;
        for (let j = 0; j < 16; j++) {
          const q = b[o + qo + 4 + j]!;
          setQxCode(t, gi, j, (q & 0xf) | (((qh >>> j) & 1) << 4));
          setQxCode(t, gi, j + 16, (q >> 4) | (((qh >>> (j + 16)) & 1) << 4));
        }
      }
      return t;
    }
    case 'Q2_K': {
      const t = emptyQx(rows, cols, { bits: 4, subgroup: 16, superGroups: 8, hasMins: true, hasSubs: true });
      for (let i = 0; i < blocks; i++) {
        const o = i * bb;
        t.supers[i * qxSuperStride(t)] = superWord(f16Bits(b, o + 80), negF16(f16Bits(b, o + 82)));
        // Sub-block s (16 elements, 0..15) of the block: scale byte s (low nibble scale, high nibble
        // min); element k of it sits in qs[32 * (s >> 3) + 16 * (s & 1) + k] at bits 2 * ((s >> 1) & 3).
        for (let s = 0; s < 16; s++) {
          const sc = b[o + s]!;
          setQxSub(t, i * 16 + s, sc & 0xf, sc >> 4);
          const q = o + 16 + 32 * (s >> 3) + 16 * (s & 1);
          const shift = 2 * ((s >> 1) & 3);
          for (let k = 0; k < 16; k++) setQxCode(t, i * 8 + (s >> 1), 16 * (s & 1) + k, (b[q + k]! >> shift) & 3);
        }
      }
      return t;
    }
    case 'Q3_K': {
      const t = emptyQx(rows, cols, { bits: 4, subgroup: 16, superGroups: 8, hasMins: false, hasSubs: true });
      for (let i = 0; i < blocks; i++) {
        const o = i * bb;
        t.supers[i * qxSuperStride(t)] = superWord(f16Bits(b, o + 108), 0);
        const scales = scalesQ3K(b, o + 96);
        for (let s = 0; s < 16; s++) {
          setQxSub(t, i * 16 + s, scales[s]!, 0);
          const n = s >> 3; // 128-element half of the block
          const shift = 2 * ((s >> 1) & 3);
          const hmBit = 1 << (4 * n + ((s >> 1) & 3));
          for (let k = 0; k < 16; k++) {
            const l = 16 * (s & 1) + k;
            const v = ((b[o + 32 + 32 * n + l]! >> shift) & 3) - (b[o + l]! & hmBit ? 0 : 4);
            setQxCode(t, i * 8 + (s >> 1), l, v + 8); // 4-bit symmetric: code 8 means 0
          }
        }
      }
      return t;
    }
    case 'Q4_K':
    case 'Q5_K': {
      const q5 = type === 'Q5_K';
      const t = emptyQx(rows, cols, { bits: q5 ? 5 : 4, subgroup: 32, superGroups: 8, hasMins: true, hasSubs: true });
      for (let i = 0; i < blocks; i++) {
        const o = i * bb;
        t.supers[i * qxSuperStride(t)] = superWord(f16Bits(b, o), negF16(f16Bits(b, o + 2)));
        const ql = q5 ? o + 48 : o + 16;
        for (let sb = 0; sb < 8; sb++) {
          const gi = i * 8 + sb;
          const [sc, m] = scaleMinK4(b, o + 4, sb);
          setQxSub(t, gi, sc, m);
          // Sub-block sb: the low (sb even) or high nibbles of qs[32 * (sb >> 1) ..]; Q5_K's fifth bit
          // is bit sb of qh[l].
          const j = sb >> 1;
          const nibbleShift = 4 * (sb & 1);
          for (let l = 0; l < 32; l++) {
            const low = (b[ql + 32 * j + l]! >> nibbleShift) & 0xf;
            setQxCode(t, gi, l, q5 ? low | (((b[o + 16 + l]! >> sb) & 1) << 4) : low);
          }
        }
      }
      return t;
    }
    case 'Q6_K': {
      const t = emptyQx(rows, cols, { bits: 6, subgroup: 16, superGroups: 8, hasMins: false, hasSubs: true });
      for (let i = 0; i < blocks; i++) {
        const o = i * bb;
        t.supers[i * qxSuperStride(t)] = superWord(f16Bits(b, o + 208), 0);
        for (let s = 0; s < 16; s++) setQxSub(t, i * 16 + s, (b[o + 192 + s]! << 24) >> 24, 0);
        // Element e of 128-element half n: quarter c = (e >> 5) & 3, l = e & 31; low nibble from
        // ql[64n + l + 32 (c & 1)] (>> 4 when c >= 2), high 2 bits from qh[32n + l] >> 2c.
        for (let e = 0; e < 256; e++) {
          const n = e >> 7;
          const c = (e >> 5) & 3;
          const l = e & 31;
          const low = (b[o + 64 * n + l + 32 * (c & 1)]! >> (c >= 2 ? 4 : 0)) & 0xf;
          const high = (b[o + 128 + 32 * n + l]! >> (2 * c)) & 3;
          setQxCode(t, i * 8 + (e >> 5), e & 31, low | (high << 4));
        }
      }
      return t;
    }
    case 'IQ4_NL':
    case 'IQ4_XS': {
      const t = emptyQ8(rows, cols);
      if (type === 'IQ4_NL') {
        for (let gi = 0; gi < blocks; gi++) {
          const o = gi * bb;
          setHalf(t.scales, gi, f16Bits(b, o));
          for (let j = 0; j < 16; j++) {
            setQ8Code(t, gi, j, IQ4_CODEBOOK[b[o + 2 + j]! & 0xf]!);
            setQ8Code(t, gi, j + 16, IQ4_CODEBOOK[b[o + 2 + j]! >> 4]!);
          }
        }
        return t;
      }
      for (let i = 0; i < blocks; i++) {
        const o = i * bb;
        const d = half(b, o);
        const scalesH = b[o + 2]! | (b[o + 3]! << 8);
        for (let ib = 0; ib < 8; ib++) {
          const gi = i * 8 + ib;
          const ls = ((b[o + 4 + (ib >> 1)]! >> (4 * (ib & 1))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
          setHalf(t.scales, gi, f16(fr(d * (ls - 32))));
          for (let j = 0; j < 16; j++) {
            setQ8Code(t, gi, j, IQ4_CODEBOOK[b[o + 8 + 16 * ib + j]! & 0xf]!);
            setQ8Code(t, gi, j + 16, IQ4_CODEBOOK[b[o + 8 + 16 * ib + j]! >> 4]!);
          }
        }
      }
      return t;
    }
  }
  throw new QuantFormatError(`import: unhandled GGUF type ${String(type)}`);
}
