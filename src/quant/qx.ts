/*
 * QX: the GPU/CPU form of the GGUF K-quants and Q5 blocks (issue #14), exact and within a few percent
 * of the file's bytes. It keeps the Q4 layout for the low 4 bits of every code (so kernels read it like
 * Q4) and the K-quants' two-level scales (so no scale is rounded):
 *
 *   value = (d * sc) * (code - zero) + (dm * mi)          (float32; llama.cpp's dequantization order)
 *
 *   code   bits = 4, 5 or 6 bits (0 .. 2^bits - 1); zero = 2^(bits-1), or 0 when the tensor has mins
 *   d, dm  f16 super-scales, one pair per super-block of `superGroups` 32-element groups (8 = the
 *          K-quants' 256 elements; 1 = a legacy block of 32). dm is llama.cpp's -dmin (or Q5_1's m).
 *   sc, mi int8 sub-scale and sub-min per `subgroup` (16 or 32) elements (the K-quants' 4-8 bit
 *          scales and mins); without sub-scales (Q5_0/Q5_1) both are 1.
 * d * sc is exact in float32 (11-bit significand times an 8-bit integer), so this equals
 * llama.cpp's float32 values bit for bit (tests/unit/gguf-quants.test.ts).
 *
 * Arrays (groups are 32 consecutive elements of a row; flat group gi = r * groupsPerRow + g; super-block
 * sb = gi / superGroups; hw = bits - 4 high words per group):
 *   packed  Uint32Array, the low 4 bits of every code: 4 words per group, element e at bits 4*(e & 7) of
 *           word 4*gi + (e >> 3) (exactly the Q4 layout, one vec4<u32> per group).
 *   supers  Uint32Array, 1 + superGroups * hw words per super-block: first the f16 pair (d low, dm high),
 *           then the high bits of its groups, group gi's hw words at 1 + (gi % superGroups) * hw: element
 *           e's high bits at bit (hw * e) & 31 of word (hw * e) >> 5 (bits 5: bit e of one word; bits 6:
 *           two bits per element, 16 elements a word). Keeping them beside the scales keeps the kernels
 *           at Q4's three weight bindings, and a part of the rows is a slice like every other array.
 *   subs    (optional) Uint32Array of int8 bytes: byte 2 * k is sc and byte 2 * k + 1 is mi of subgroup k
 *           (k = gi * 32 / subgroup + e / subgroup), so a 16-element subgroup's pair is one u16.
 *
 * GPU bytes per weight: bits/8 + 4 / (32 * superGroups) + (subs ? 2 / subgroup : 0).
 */
import { f16ToF32 } from '../formats/dtype';
import { GROUP_SIZE, Q4_WORDS_PER_GROUP, QuantFormatError, checkShape, expectLength, groupsPerRowOf } from './types';

export type QxBits = 4 | 5 | 6;
export type QxSubgroup = 16 | 32;
export type QxSuperGroups = 1 | 8;

export interface QxTensor {
  dtype: 'qx';
  rows: number;
  cols: number;
  groupsPerRow: number;
  bits: QxBits;
  /** Elements per sub-scale (with `subs`). */
  subgroup: QxSubgroup;
  /** 32-element groups per super-scale word; 8 needs rows of whole 256-element blocks. */
  superGroups: QxSuperGroups;
  /** Values are code * scale + min (zero point 0) instead of (code - 2^(bits-1)) * scale. */
  hasMins: boolean;
  /** Low 4 bits of the codes: rows * groupsPerRow * 4 words (the Q4 layout). */
  packed: Uint32Array;
  /** Per super-block: the f16 pair d (low) / dm (high), then superGroups * (bits - 4) words of high bits. */
  supers: Uint32Array;
  /** int8 (sc, mi) pairs per subgroup, 4 bytes a word; absent: sc = mi = 1. */
  subs?: Uint32Array;
}

/** u32 words of high bits per 32-element group. */
export function qxHighWordsPerGroup(bits: QxBits): number {
  return bits - 4;
}

/** Subgroups (sub-scale pairs) per 32-element group. */
export function qxSubsPerGroup(subgroup: QxSubgroup): number {
  return GROUP_SIZE / subgroup;
}

/** The code that means 0 in the symmetric form. */
export function qxZero(t: Pick<QxTensor, 'bits' | 'hasMins'>): number {
  return t.hasMins ? 0 : 1 << (t.bits - 1);
}

export interface QxLayout {
  bits: QxBits;
  subgroup: QxSubgroup;
  superGroups: QxSuperGroups;
  hasMins: boolean;
  hasSubs: boolean;
}

/** Words per super-block in `supers`: the scale pair, then the high bits of its groups. */
export function qxSuperStride(t: Pick<QxTensor, 'bits' | 'superGroups'>): number {
  return 1 + t.superGroups * qxHighWordsPerGroup(t.bits);
}

/** Index in `supers` of high word j of group gi. */
function highWordIndex(t: Pick<QxTensor, 'bits' | 'superGroups'>, gi: number, j: number): number {
  return Math.floor(gi / t.superGroups) * qxSuperStride(t) + 1 + (gi % t.superGroups) * qxHighWordsPerGroup(t.bits) + j;
}

/** u32 words of each array of a [rows, cols] QX tensor of layout `l` (subs: 0 without sub-scales). */
export function qxWords(rows: number, cols: number, l: QxLayout): { packed: number; supers: number; subs: number } {
  const groups = rows * groupsPerRowOf(cols);
  return {
    packed: groups * Q4_WORDS_PER_GROUP,
    supers: Math.ceil(groups / l.superGroups) * qxSuperStride(l),
    subs: l.hasSubs ? Math.ceil((groups * qxSubsPerGroup(l.subgroup) * 2) / 4) : 0,
  };
}

export function qxBytes(rows: number, cols: number, l: QxLayout): number {
  const w = qxWords(rows, cols, l);
  return (w.packed + w.supers + w.subs) * 4;
}

export function emptyQx(rows: number, cols: number, l: QxLayout): QxTensor {
  if (l.superGroups !== 1 && (cols / GROUP_SIZE) % l.superGroups !== 0) {
    throw new QuantFormatError(`qx: rows of ${cols} columns are not whole super-blocks of ${l.superGroups * GROUP_SIZE}`);
  }
  const w = qxWords(rows, cols, l);
  const t: QxTensor = {
    dtype: 'qx',
    rows,
    cols,
    groupsPerRow: groupsPerRowOf(cols),
    bits: l.bits,
    subgroup: l.subgroup,
    superGroups: l.superGroups,
    hasMins: l.hasMins,
    packed: new Uint32Array(w.packed),
    supers: new Uint32Array(w.supers),
  };
  if (l.hasSubs) t.subs = new Uint32Array(w.subs);
  return t;
}

export function validateQx(t: QxTensor): void {
  checkShape('qx tensor', t.rows, t.cols);
  if (t.bits !== 4 && t.bits !== 5 && t.bits !== 6) throw new QuantFormatError(`qx tensor: bits must be 4, 5 or 6, got ${String(t.bits)}`);
  if (t.subgroup !== 16 && t.subgroup !== 32) throw new QuantFormatError(`qx tensor: subgroup must be 16 or 32, got ${String(t.subgroup)}`);
  if (t.superGroups !== 1 && t.superGroups !== 8) throw new QuantFormatError(`qx tensor: superGroups must be 1 or 8, got ${String(t.superGroups)}`);
  const gpr = groupsPerRowOf(t.cols);
  if (t.groupsPerRow !== gpr) throw new QuantFormatError(`qx tensor: expected groupsPerRow ${gpr} for cols=${t.cols}, got ${t.groupsPerRow}`);
  if (gpr % t.superGroups !== 0) throw new QuantFormatError(`qx tensor: ${gpr} groups per row are not whole super-blocks of ${t.superGroups}`);
  const w = qxWords(t.rows, t.cols, { ...t, hasSubs: t.subs !== undefined });
  const what = `qx tensor ${t.rows}x${t.cols} (${t.bits} bits)`;
  expectLength(`${what}: packed words`, t.packed.length, w.packed);
  expectLength(`${what}: supers words`, t.supers.length, w.supers);
  if (t.subs !== undefined) expectLength(`${what}: subs words`, t.subs.length, w.subs);
}

// ---- element access (the repackers write, dequantize and the CPU matmul read) ----

/** Writes code `code` of element e of group gi (both planes). The group's words must start zeroed. */
export function setQxCode(t: QxTensor, gi: number, e: number, code: number): void {
  t.packed[gi * Q4_WORDS_PER_GROUP + (e >> 3)]! |= (code & 15) << (4 * (e & 7));
  const hw = qxHighWordsPerGroup(t.bits);
  if (hw === 0) return;
  const bit = hw * e;
  t.supers[highWordIndex(t, gi, bit >> 5)]! |= (code >>> 4) << (bit & 31);
}

/** Writes the int8 sub-scale and sub-min of subgroup k (= gi * subsPerGroup + j). */
export function setQxSub(t: QxTensor, k: number, sc: number, mi: number): void {
  const subs = t.subs!;
  const byte = 2 * k;
  subs[byte >> 2]! |= (((sc & 0xff) | ((mi & 0xff) << 8)) << (8 * (byte & 3))) >>> 0;
}

/** Code (0 .. 2^bits - 1) of element e of group gi. */
export function qxCode(t: QxTensor, gi: number, e: number): number {
  const low = (t.packed[gi * Q4_WORDS_PER_GROUP + (e >> 3)]! >>> (4 * (e & 7))) & 15;
  const hw = qxHighWordsPerGroup(t.bits);
  if (hw === 0) return low;
  const bit = hw * e;
  const high = (t.supers[highWordIndex(t, gi, bit >> 5)]! >>> (bit & 31)) & ((1 << hw) - 1);
  return low | (high << 4);
}

/** [sc, mi] of subgroup k (1, 1 without sub-scales). */
export function qxSub(t: QxTensor, k: number): [number, number] {
  if (t.subs === undefined) return [1, 1];
  const byte = 2 * k;
  const pair = t.subs[byte >> 2]! >>> (8 * (byte & 3));
  return [(pair << 24) >> 24, (pair << 16) >> 24];
}

/** [d, dm] of group gi's super-block, as float32. */
export function qxSupers(t: QxTensor, gi: number): [number, number] {
  const w = t.supers[Math.floor(gi / t.superGroups) * qxSuperStride(t)]!;
  return [f16ToF32(w & 0xffff), f16ToF32(w >>> 16)];
}

/** Element e of group gi: (d * sc) * (code - zero) + dm * mi, rounded to float32 as llama.cpp does. */
export function qxValue(t: QxTensor, gi: number, e: number): number {
  const [d, dm] = qxSupers(t, gi);
  const [sc, mi] = qxSub(t, gi * qxSubsPerGroup(t.subgroup) + Math.floor(e / t.subgroup));
  const v = Math.fround(Math.fround(d * sc) * (qxCode(t, gi, e) - qxZero(t)));
  return t.hasMins ? Math.fround(v + Math.fround(dm * mi)) : v;
}

/** Expands a QX tensor to a row-major [rows, cols] Float32Array (padding dropped). */
export function dequantizeQx(t: QxTensor): Float32Array<ArrayBuffer> {
  validateQx(t);
  const { rows, cols, groupsPerRow } = t;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groupsPerRow; g++) {
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      const gi = r * groupsPerRow + g;
      for (let e = 0; e < len; e++) out[r * cols + g * GROUP_SIZE + e] = qxValue(t, gi, e);
    }
  }
  return out;
}
