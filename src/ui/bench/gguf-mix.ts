// The benchmark's GGUF models (issue #14, `bench --gguf-type`): which ggml type llama-quantize gives each
// matrix of a GLM model for a file type, and random weights of that type built straight into the form
// the engine runs (src/quant/gguf-blocks.ts), so a 9B model of the real type mix is made in seconds.
import { f32ToF16 } from '../../formats/dtype';
import type { GgufBlockType } from '../../quant/gguf-blocks';
import { emptyQx, qxBytes, qxSuperStride, type QxLayout } from '../../quant/qx';
import { GROUP_SIZE, Q4_WORDS_PER_GROUP, Q8_WORDS_PER_GROUP, groupsPerRowOf, halfPairWords, q4Bytes, q8Bytes, type QuantizedTensor } from '../../quant/types';

/** llama-quantize file types the bench can build (its `ftype` names). */
export const BENCH_GGUF_TYPES = ['Q4_0', 'Q8_0', 'Q4_K_M', 'Q5_K_M', 'Q6_K'] as const;
export type BenchGgufType = (typeof BENCH_GGUF_TYPES)[number];

/** llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/** K-quants need rows of whole 256-element blocks; llama-quantize falls back to these otherwise. */
const INCOMPATIBLE_FALLBACK: Partial<Record<GgufBlockType, GgufBlockType>> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', Q2_K: 'IQ4_NL', Q3_K: 'IQ4_NL', IQ4_XS: 'IQ4_NL' };

/**
 * The type llama-quantize (llama_tensor_get_type, no imatrix, no overrides) gives a matrix of a GLM
 * GGUF, by our canonical path ('lmHead', 'embedding', 'layers.3.qkv.weight', ...). GLM-4 and ChatGLM
 * files hold q/k/v fused (attn_qkv) and gate/up fused (ffn_up); so does this table.
 *   output.weight (token_embd when the embedding is tied): Q6_K unless the file type is Q8_0;
 *   attn_qkv: Q5_K in Q4_K_M, Q6_K in Q5_K_M;
 *   ffn_down: Q6_K in Q4_K_M / Q5_K_M for use_more_bits layers;
 *   everything else (token_embd, attn_output, ffn_up): the file type's base type;
 * then a K-quant on a row width that is not a multiple of 256 (GLM-4-9B's ffn_down: 13696) falls back
 * to Q5_0 (Q4_K), Q5_1 (Q5_K) or Q8_0 (Q6_K).
 */
export function ggufMixType(fileType: BenchGgufType, path: string, cols: number, layers: number, tiedEmbedding = false): GgufBlockType {
  const base: GgufBlockType = fileType === 'Q4_K_M' ? 'Q4_K' : fileType === 'Q5_K_M' ? 'Q5_K' : fileType;
  const layer = Number(/^layers\.(\d+)\./.exec(path)?.[1] ?? -1);
  let type: GgufBlockType = base;
  // Without an output.weight (tied embeddings, GLM-Edge) token_embd takes output.weight's rule.
  if (path === 'lmHead' || (path === 'embedding' && tiedEmbedding)) type = fileType === 'Q8_0' ? 'Q8_0' : 'Q6_K';
  else if (path.endsWith('.qkv.weight') && fileType === 'Q4_K_M') type = 'Q5_K';
  else if (path.endsWith('.qkv.weight') && fileType === 'Q5_K_M') type = 'Q6_K';
  else if (path.endsWith('.mlpDown.weight') && (fileType === 'Q4_K_M' || fileType === 'Q5_K_M') && useMoreBits(layer, layers)) type = 'Q6_K';
  if (cols % 256 !== 0) type = INCOMPATIBLE_FALLBACK[type] ?? type;
  return type;
}

/** GGUF file bytes per weight of each block type (what the file holds). */
export const GGUF_FILE_BITS_PER_WEIGHT: Record<GgufBlockType, number> = {
  Q4_0: 4.5, Q4_1: 5, Q5_0: 5.5, Q5_1: 6, Q8_0: 8.5, Q2_K: 2.625, Q3_K: 3.4375, Q4_K: 4.5, Q5_K: 5.5, Q6_K: 6.5625, IQ4_NL: 4.5, IQ4_XS: 4.25,
};

const QX_LAYOUTS: Partial<Record<GgufBlockType, QxLayout>> = {
  Q5_0: { bits: 5, subgroup: 32, superGroups: 1, hasMins: false, hasSubs: false },
  Q5_1: { bits: 5, subgroup: 32, superGroups: 1, hasMins: true, hasSubs: false },
  Q4_K: { bits: 4, subgroup: 32, superGroups: 8, hasMins: true, hasSubs: true },
  Q5_K: { bits: 5, subgroup: 32, superGroups: 8, hasMins: true, hasSubs: true },
  Q6_K: { bits: 6, subgroup: 16, superGroups: 8, hasMins: false, hasSubs: true },
};

/**
 * A random [rows, cols] matrix of GGUF `type`, in the form importGgufBlocks gives that type (Q4, Q8 or
 * QX), filled directly with random codes and moderate scales: the values are noise of the right size
 * (a row dotted with a unit input stays near 1), the bytes and their layout are exactly a real file's.
 */
export function randomGgufTypeWeight(type: GgufBlockType, rows: number, cols: number, next: () => number): QuantizedTensor {
  const groupsPerRow = groupsPerRowOf(cols);
  const groups = rows * groupsPerRow;
  const pair = (a: number, b: number) => (f32ToF16(a) | (f32ToF16(b) << 16)) >>> 0;
  const layout = QX_LAYOUTS[type];
  if (layout) {
    const t = emptyQx(rows, cols, layout);
    for (let i = 0; i < t.packed.length; i++) t.packed[i] = next();
    const stride = qxSuperStride(t);
    // value ~ d * sc * (code - zero): sc up to 63, codes up to 2^(bits-1) from zero.
    const d = 1 / (32 * (1 << (layout.bits - 1)) * Math.sqrt(cols));
    for (let i = 0; i < t.supers.length; i++) t.supers[i] = i % stride === 0 ? pair(d, -d / 4) : next();
    if (t.subs) for (let i = 0; i < t.subs.length; i++) t.subs[i] = next() & 0x3f3f3f3f;
    return t;
  }
  if (type === 'Q8_0' || type === 'IQ4_NL' || type === 'IQ4_XS') {
    const packed = new Uint32Array(groups * Q8_WORDS_PER_GROUP);
    for (let i = 0; i < packed.length; i++) packed[i] = next();
    const scales = new Uint32Array(halfPairWords(groups)).fill(pair(1 / (64 * Math.sqrt(cols)), 1 / (64 * Math.sqrt(cols))));
    return { dtype: 'q8', rows, cols, groupsPerRow, packed, scales };
  }
  if (type === 'Q4_0' || type === 'Q4_1') {
    const packed = new Uint32Array(groups * Q4_WORDS_PER_GROUP);
    for (let i = 0; i < packed.length; i++) packed[i] = next();
    const s = 1 / (8 * Math.sqrt(cols));
    const scales = new Uint32Array(halfPairWords(groups)).fill(pair(s, s));
    if (type === 'Q4_0') return { dtype: 'q4', rows, cols, groupsPerRow, packed, scales };
    return { dtype: 'q4', rows, cols, groupsPerRow, packed, scales, mins: new Uint32Array(halfPairWords(groups)).fill(pair(-8 * s, -8 * s)) };
  }
  throw new RangeError(`bench: no random builder for GGUF type ${type} (rows of ${cols}, groups of ${GROUP_SIZE})`);
}

/** GPU bytes of a [rows, cols] matrix of GGUF `type` in the form the engine runs it (gguf-blocks.ts). */
export function ggufFormBytes(type: GgufBlockType, rows: number, cols: number): number {
  const layout = QX_LAYOUTS[type];
  if (layout) return qxBytes(rows, cols, layout);
  if (type === 'Q4_0') return q4Bytes(rows, cols);
  if (type === 'Q4_1') return q4Bytes(rows, cols, { asymmetric: true });
  return q8Bytes(rows, cols); // Q8_0, IQ4_NL, IQ4_XS
}
