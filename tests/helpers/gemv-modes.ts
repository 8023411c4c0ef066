// The decode GEMV's two arithmetics (GpuOpsOptions.gemv, issue #17) and the CPU twin of each, so the GEMV
// kernel tests run every prologue / epilogue under both. SwiftShader's WGSL has
// packed_4x8_integer_dot_product, so both run here (GpuOps throws a named error where it is missing).
import { CpuOps } from '../../src/cpu/ops';
import { int8GemvTwin } from '../../src/cpu/gemv-int8';
import type { GemvArithmetic } from '../../src/gpu/ops';

export const GEMV_MODES: readonly GemvArithmetic[] = ['float', 'int8'];

/** CpuOps computing one-token Q4 matmuls the way GpuOps `{ gemv: mode }` does. */
export function gemvTwin(mode: GemvArithmetic): CpuOps {
  return new CpuOps(mode === 'int8' ? int8GemvTwin : undefined);
}

/**
 * Extra absolute tolerance of the int8 GEMV against its twin: the GPU's x · (1 / scale) may differ from the
 * twin's by an ulp (WGSL division is not correctly rounded; a fused norm or attention prologue gives x to
 * a few ulps), which can flip the rounding of a value lying on a tie: one activation step
 * (max|x| / 127 <= 0.015 for these tests' inputs, under 2 after an RMSNorm) times |weight| <= 1, a few
 * times per row at most. A wrong nibble order or scale is off by O(1).
 */
export function gemvTieAtol(mode: GemvArithmetic): number {
  return mode === 'int8' ? 0.03 : 0;
}
