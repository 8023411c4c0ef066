// Row gather from quantized matrices: the embedding lookup of a q4/q8 table needs a handful of rows
// per step, never the whole dequantized matrix.
import { f16ToF32 } from '../formats/dtype';
import { qxValue } from './qx';
import { GROUP_SIZE, Q4_WORDS_PER_GROUP, Q8_WORDS_PER_GROUP, getHalf, type QuantizedTensor } from './types';

/** Dequantizes rows `rowIds` of `t` into a [rowIds.length, cols] float32 array. */
export function dequantizeRows(t: QuantizedTensor, rowIds: ArrayLike<number>): Float32Array {
  const { cols, groupsPerRow } = t;
  const out = new Float32Array(rowIds.length * cols);
  if (t.dtype === 'qx') {
    for (let i = 0; i < rowIds.length; i++) {
      const r = rowIds[i]!;
      if (r < 0 || r >= t.rows) throw new RangeError(`row ${r} is outside 0..${t.rows - 1}`);
      for (let c = 0; c < cols; c++) out[i * cols + c] = qxValue(t, r * groupsPerRow + (c >> 5), c & 31);
    }
    return out;
  }
  const { packed, scales } = t;
  const mins = t.dtype === 'q4' ? t.mins : undefined;
  for (let i = 0; i < rowIds.length; i++) {
    const r = rowIds[i]!;
    if (r < 0 || r >= t.rows) throw new RangeError(`row ${r} is outside 0..${t.rows - 1}`);
    for (let g = 0; g < groupsPerRow; g++) {
      const gi = r * groupsPerRow + g;
      const scale = f16ToF32(getHalf(scales, gi));
      const min = mins ? f16ToF32(getHalf(mins, gi)) : 0;
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      const o = i * cols + g * GROUP_SIZE;
      for (let k = 0; k < len; k++) {
        let value: number;
        if (t.dtype === 'q4') {
          const code = (packed[gi * Q4_WORDS_PER_GROUP + (k >> 3)]! >>> ((k & 7) * 4)) & 15;
          value = mins ? code * scale + min : (code - 8) * scale;
        } else {
          const byte = (packed[gi * Q8_WORDS_PER_GROUP + (k >> 2)]! >>> ((k & 3) * 8)) & 255;
          value = (byte << 24 >> 24) * scale;
        }
        out[o + k] = value;
      }
    }
  }
  return out;
}
