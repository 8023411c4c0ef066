// The decode GEMV's two arithmetics (GpuOpsOptions.gemv, issue #17) and the CPU twin of each, so the GEMV
// kernel tests run every prologue / epilogue under both, with the same tolerances: the int8 twin does the
// GPU's integer arithmetic, so they differ only by f32 summation order (measured on SwiftShader; a GPU whose
// x · (1 / scale) differed by an ulp could flip a rounding tie, one activation step). SwiftShader's WGSL has
// packed_4x8_integer_dot_product, so both run here (GpuOps throws a named error where it is missing).
import { CpuOps } from '../../src/cpu/ops';
import { int8GemvTwin } from '../../src/cpu/gemv-int8';
import type { GemvArithmetic } from '../../src/gpu/ops';

export const GEMV_MODES: readonly GemvArithmetic[] = ['float', 'int8'];

/** CpuOps computing one-token Q4 (and QX) matmuls the way GpuOps `{ gemv: mode, gemvQx: mode }` does. */
export function gemvTwin(mode: GemvArithmetic): CpuOps {
  return new CpuOps(mode === 'int8' ? int8GemvTwin : undefined);
}

