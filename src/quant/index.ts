// Quantized weight formats (Q4, Q8): one import point for loaders, the planner, the CPU fallback and tests.
import { InvalidArgumentError } from '../errors';
import { dequantizeQ4, quantizeQ4 } from './q4';
import { dequantizeQ8, quantizeQ8 } from './q8';
import { dequantizeQx } from './qx';
import type { Q4Tensor, Q8Tensor, QuantKind, QuantizedTensor } from './types';

export {
  GROUP_SIZE,
  Q4_WORDS_PER_GROUP,
  Q8_WORDS_PER_GROUP,
  QuantFormatError,
  getHalf,
  groupsPerRowOf,
  q4Bytes,
  q8Bytes,
  quantizedBytes,
  validateQuantTensor,
  type Q4Tensor,
  type Q8Tensor,
  type QuantKind,
  type QuantizedTensor,
} from './types';
export {
  GGUF_Q4_0_BLOCK_BYTES,
  dequantizeQ4,
  importGgufQ4_0,
  importThudmInt4,
  quantizeQ4,
  type QuantizeQ4Options,
} from './q4';
export { dequantizeQx, qxBytes, type QxTensor, type QxBits, type QxLayout, type QxSubgroup } from './qx';
export { GGUF_BLOCKS, dequantizeGgufReference, importGgufBlocks, isGgufBlockType, type GgufBlockType } from './gguf-blocks';
export { GGUF_Q8_0_BLOCK_BYTES, dequantizeQ8, importGgufQ8_0, importThudmInt8, quantizeQ8 } from './q8';

/** Quantizes a row-major [rows, cols] matrix; 'q4' is the symmetric Q4 form. */
export function quantize(data: Float32Array, rows: number, cols: number, kind: QuantKind): Q4Tensor | Q8Tensor {
  switch (kind) {
    case 'q4':
      return quantizeQ4(data, rows, cols);
    case 'q8':
      return quantizeQ8(data, rows, cols);
    default:
      // Reachable from untyped callers (CLI flags, JSON plans).
      throw new InvalidArgumentError(`quantize: unknown kind ${String(kind)}, expected 'q4' or 'q8'`);
  }
}

/** Expands any quantized tensor to a row-major [rows, cols] Float32Array. */
export function dequantize(t: QuantizedTensor): Float32Array<ArrayBuffer> {
  switch (t.dtype) {
    case 'q4':
      return dequantizeQ4(t);
    case 'q8':
      return dequantizeQ8(t);
    case 'qx':
      return dequantizeQx(t);
    default:
      throw new InvalidArgumentError(`dequantize: unknown dtype ${String((t as { dtype: unknown }).dtype)}`);
  }
}
