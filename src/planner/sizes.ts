// Exact byte sizes of every canonical tensor in the format the engine will hold it in, computed from
// the config alone (no download): the planner's input. Matrices take the chosen weight format (Q4/Q8 as
// defined in quant/types.ts, or dense); norm weights and biases stay f32 because they are tiny and every
// kernel reads them as f32.
import { InvalidArgumentError } from '../errors';
import type { GlmConfig } from '../model/config';
import { weightRecipes } from '../model/weights';
import { q4Bytes, q8Bytes } from '../quant/types';
import { VISION_F32_TABLES, visionTensorShapes } from '../model/vision';

/** How the weight matrices are stored: quantized (q4, q8) or dense ('none'). */
export type WeightQuant = 'none' | 'q4' | 'q8';
export type StorageFormat = 'q4' | 'q8' | 'f32' | 'f16';

export const WEIGHT_QUANTS: readonly WeightQuant[] = ['q4', 'q8', 'none'];

export interface TensorSize {
  /** Canonical path (weights-types.ts), e.g. "layers.3.qkv.weight", "embedding", "lmHead". */
  path: string;
  shape: number[];
  /** Matrices: shape [rows, cols]. Vectors are one row of `cols` values. */
  rows: number;
  cols: number;
  format: StorageFormat;
  /** Exact bytes of the tensor's buffers in `format` (Q4/Q8: codes + scales). */
  bytes: number;
}

export interface LayerSizes {
  index: number;
  tensors: TensorSize[];
  /** Sum of the layer's tensors. */
  bytes: number;
}

export interface ModelSizes {
  quant: WeightQuant;
  /** Dense matrices (quant 'none') stored as f16 instead of f32. */
  f16Dense: boolean;
  embedding: TensorSize;
  layers: LayerSizes[];
  /** The final norm's weight (and bias for LayerNorm); it runs with the lm_head. */
  finalNorm: TensorSize[];
  /** When tied this is the embedding object itself: one tensor, counted once. */
  lmHead: TensorSize;
  lmHeadTied: boolean;
  /** GLM-4V: the vision tower's tensors (run once per image, on the head's device); empty for text models. */
  vision: TensorSize[];
  /** Every tensor once (a tied head is not counted twice), the tower included. */
  totalBytes: number;
}

/** Bytes of `rows` x `cols` values in `format`. Also used for a row range (one split part) of a matrix. */
export function tensorBytes(format: StorageFormat, rows: number, cols: number): number {
  switch (format) {
    case 'q4':
      return q4Bytes(rows, cols);
    case 'q8':
      return q8Bytes(rows, cols);
    case 'f16':
      return rows * cols * 2;
    case 'f32':
      return rows * cols * 4;
  }
}

function matrixFormat(quant: WeightQuant, f16Dense: boolean): StorageFormat {
  if (quant === 'none') return f16Dense ? 'f16' : 'f32';
  return quant;
}

/**
 * Per canonical tensor (weightRecipes) its bytes in the chosen format, grouped into layers, embedding,
 * final norm and lm_head.
 */
export function tensorSizes(config: GlmConfig, quant: WeightQuant, opts: { f16Dense?: boolean } = {}): ModelSizes {
  if (!WEIGHT_QUANTS.includes(quant)) {
    throw new InvalidArgumentError(`weight format "${String(quant)}" is not one of ${WEIGHT_QUANTS.join(', ')}`);
  }
  const f16Dense = opts.f16Dense ?? false;
  const matrix = matrixFormat(quant, f16Dense);
  const { model, lmHeadTied } = weightRecipes(config);
  const layers: LayerSizes[] = Array.from({ length: config.numLayers }, (_, index) => ({ index, tensors: [], bytes: 0 }));
  const finalNorm: TensorSize[] = [];
  let embedding: TensorSize | undefined;
  let lmHead: TensorSize | undefined;
  let totalBytes = 0;
  for (const recipe of model) {
    const isMatrix = recipe.shape.length === 2;
    const rows = isMatrix ? recipe.shape[0]! : 1;
    const cols = isMatrix ? recipe.shape[1]! : recipe.shape[0]!;
    const format: StorageFormat = isMatrix ? matrix : 'f32';
    const size: TensorSize = { path: recipe.path, shape: [...recipe.shape], rows, cols, format, bytes: tensorBytes(format, rows, cols) };
    totalBytes += size.bytes;
    const layerMatch = /^layers\.(\d+)\./.exec(recipe.path);
    if (layerMatch) {
      const layer = layers[Number(layerMatch[1])]!;
      layer.tensors.push(size);
      layer.bytes += size.bytes;
    } else if (recipe.path === 'embedding') embedding = size;
    else if (recipe.path === 'lmHead') lmHead = size;
    else if (recipe.path.startsWith('finalNorm.')) finalNorm.push(size);
    else throw new Error(`tensorSizes: weightRecipes returned an unexpected path "${recipe.path}"`);
  }
  // The tower: matrices in the chosen format like the layers'; its tables, norms and biases float32.
  const vision: TensorSize[] = (config.vision ? visionTensorShapes(config.vision) : []).map(({ path, shape }) => {
    const isMatrix = shape.length === 2 && !VISION_F32_TABLES.has(path);
    const rows = shape.length === 2 ? shape[0]! : 1;
    const cols = shape.length === 2 ? shape[1]! : shape[0]!;
    const format: StorageFormat = isMatrix ? matrix : 'f32';
    const size: TensorSize = { path, shape, rows, cols, format, bytes: tensorBytes(format, rows, cols) };
    totalBytes += size.bytes;
    return size;
  });
  if (!embedding) throw new Error('tensorSizes: weightRecipes returned no embedding');
  if (!lmHeadTied && !lmHead) throw new Error('tensorSizes: weightRecipes returned no lmHead for an untied model');
  return { quant, f16Dense, embedding, layers, finalNorm, lmHead: lmHead ?? embedding, lmHeadTied, vision, totalBytes };
}

/** K and V of one token in one layer: 2 x numKvHeads x headDim values (f16 or f32). */
export function kvBytesPerTokenPerLayer(config: GlmConfig, f16: boolean): number {
  return 2 * config.numKvHeads * config.headDim * (f16 ? 2 : 4);
}

/** K and V of one token over all layers. */
export function kvBytesPerToken(config: GlmConfig, f16: boolean): number {
  return config.numLayers * kvBytesPerTokenPerLayer(config, f16);
}
