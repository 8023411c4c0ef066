// The llama.cpp-quantized GGUF peer fixtures (tests/fixtures/peer-tests/gguf-quants, see its README):
// file list, expected outputs and a loader, shared by the CPU (unit) and GPU test tiers.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { memoryByteSource } from '../../src/formats/byte-source';
import { ggufModelFiles } from '../../src/formats/gguf';
import { loadModelFolder, type LoadedModel } from '../../src/model/load';
import type { HostWeight } from '../../src/model/weights';
import { FIXTURES_DIR } from './fixtures';
import { f32ToF16 } from '../../src/formats/dtype';
import { GGUF_BLOCKS, importGgufBlocks, type GgufBlockType } from '../../src/quant/gguf-blocks';
import { qxSuperStride } from '../../src/quant/qx';
import type { QuantizedTensor } from '../../src/quant/types';

export const GGUF_QUANTS_DIR = resolve(FIXTURES_DIR, 'peer-tests/gguf-quants');
/** The README's bound: llama.cpp's dequantized model in f32 vs an exact decoder computing in f32. */
export const GGUF_QUANTS_LOGITS_ATOL = 2e-3;

export interface GgufQuantsExpected {
  prompt_ids: number[];
  n_new: number;
  files: Record<string, { file: string; tensor_types: Record<string, string>; logits_deq: number[][]; greedy_deq: number[] }>;
}

export const GGUF_QUANT_MODELS = ['glm-kq', 'glm4-kq'] as const;

export function ggufQuantsExpected(model: string): GgufQuantsExpected {
  return JSON.parse(readFileSync(resolve(GGUF_QUANTS_DIR, model, 'expected.json'), 'utf8')) as GgufQuantsExpected;
}

/** Every (model, type) pair of the fixtures. */
export function ggufQuantCases(): { model: string; type: string }[] {
  return GGUF_QUANT_MODELS.flatMap((model) => Object.keys(ggufQuantsExpected(model).files).map((type) => ({ model, type })));
}

export function ggufQuantBytes(model: string, type: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(GGUF_QUANTS_DIR, model, `${type}.gguf`)));
}

export async function loadGgufQuant(model: string, type: string): Promise<LoadedModel<HostWeight>> {
  const name = `${model}/${type}.gguf`;
  const bytes = ggufQuantBytes(model, type);
  return loadModelFolder(ggufModelFiles(async () => memoryByteSource(bytes, name), name));
}

/**
 * A random [rows, cols] weight of GGUF `type` blocks, imported (QX for K-quants and Q5), with moderate
 * super-scales (random bytes would make arbitrary f16 scales). cols = blocksPerRow * the block size.
 */
export function randomGgufWeight(type: GgufBlockType, rows: number, blocksPerRow: number, seed: number): QuantizedTensor {
  const [size, bb] = GGUF_BLOCKS[type];
  const raw = new Uint8Array(rows * blocksPerRow * bb);
  let s = seed >>> 0;
  for (let i = 0; i < raw.length; i++) raw[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  const cols = size * blocksPerRow;
  const q = importGgufBlocks(type, raw, rows, cols);
  if (q.dtype === 'qx') {
    // Largest |sc * (code - zero)| of the type: values stay O(1 / sqrt(cols)), like the other matmul tests.
    const range: Partial<Record<GgufBlockType, number>> = { Q5_0: 16, Q5_1: 31, Q2_K: 45, Q3_K: 128, Q4_K: 945, Q5_K: 1953, Q6_K: 4064 };
    const unit = 2 / (range[type]! * Math.sqrt(cols));
    for (let i = 0, k = 0; i < q.supers.length; i += qxSuperStride(q), k++) {
      q.supers[i] = (f32ToF16(unit * ((k % 7) - 2.75)) | (f32ToF16(-0.5 * unit * ((k % 5) - 1.5)) << 16)) >>> 0;
    }
  }
  return q;
}

/** The GGUF types that import as QX, one per QX layout. */
export const QX_TYPES = ['Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const satisfies readonly GgufBlockType[];
