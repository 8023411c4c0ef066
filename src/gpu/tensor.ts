// The handles GpuOps works with: activations (GpuTensor), weights (GpuWeight) and the KV cache
// (GpuKvCache). Plain data; the buffers are owned by GpuOps (activations, KV cache) or by the
// uploaded weight set.
import type { QxLayout } from '../quant/qx';

/** Storage type of activations and the KV cache: 'f16' only on devices with `shader-f16`. */
export type GpuActDtype = 'f32' | 'f16';

export const ACT_BYTES: Record<GpuActDtype, number> = { f32: 4, f16: 2 };

/**
 * An activation [rows, cols], row-major, in a pooled buffer of the step that made it. Valid until
 * the step's read()/flush() submits; the buffer then returns to the pool and the handle is dead.
 */
export interface GpuTensor {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: GpuActDtype;
  readonly buffer: GPUBuffer;
  /** Step that allocated it; GpuOps refuses handles of an earlier step. */
  readonly step: number;
}

/**
 * How a weight is stored on the GPU; the name picks the WGSL weight library (shaders/lib/weights_*.wgsl)
 * and the pipeline names (matmulF32, matmulF16, matmulQ4, matmulQ8, embedQ4, ...).
 * f16: dense values as IEEE f16 pairs in u32 words, read with unpack2x16float (no `shader-f16` needed).
 */
export type GpuWeightFormat = 'f32' | 'f16' | 'q4' | 'q8' | 'qx';

/**
 * Rows rowStart..rowStart+rows-1 of a weight in their own buffers. A matrix larger than the device's
 * maxStorageBufferBindingSize is split into several parts, each packed from its own first row (Q4/Q8
 * scales included), so every part binds at offset 0 and the kernels index it like a whole matrix.
 */
export interface GpuWeightPart {
  rowStart: number;
  rows: number;
  /**
   * f32/f16: [data]. q8: [packed, scales]. q4: [packed, scales, mins] (mins only when asymmetric).
   * qx: [packed, supers, subs] (subs when it has sub-scales).
   */
  buffers: GPUBuffer[];
  bytes: number;
}

export interface GpuWeight {
  /** Path in the weight set (e.g. "layers.3.qkv.weight"), for error messages. */
  readonly name: string;
  readonly format: GpuWeightFormat;
  /** The host shape: [rows, cols] for matrices, [length] for vectors (norm weights, biases). */
  readonly shape: readonly number[];
  /** Matrices: out features. Vectors: 1. */
  readonly rows: number;
  /** Matrices: in features. Vectors: the length. */
  readonly cols: number;
  /** Q4 with per-group minimums. */
  readonly asymmetric: boolean;
  /** QX only (GGUF K-quants and Q5 blocks, src/quant/qx.ts): its code width and scale layout. */
  readonly qx?: QxLayout;
  readonly parts: readonly GpuWeightPart[];
  readonly bytes: number;
}

/** Per layer [capacity, numKvHeads·headDim] K and V buffers in the activation dtype. */
export interface GpuKvCache {
  readonly capacity: number;
  readonly width: number;
  readonly dtype: GpuActDtype;
  readonly k: readonly GPUBuffer[];
  readonly v: readonly GPUBuffer[];
}

/** What stats() reports: for the bench issue (dispatches per token, GPU memory). */
export interface GpuOpsStats {
  /** Dispatches encoded in the last submitted step. */
  dispatches: number;
  /** Steps submitted so far. */
  steps: number;
  /** All GPU bytes this GpuOps allocated and still holds (weights, KV caches, pools, uniforms, staging). */
  bytesAllocated: number;
  weightBytes: number;
  kvCacheBytes: number;
  /** Pooled activation, step-input and readback buffers. */
  poolBytes: number;
}
