// The TypeScript writer of Gemv4Params (shaders/lib/gemv_params.wgsl), the uniform of the decode GEMV
// matmul_gemv_q4.wgsl in all its variants (plain, RoPE epilogue, attention-merge prologue). The field
// list below is the one place that knows the struct's order; tests/unit/gemv-params.test.ts parses the
// WGSL struct and checks it against this list.
import type { ParamWriter } from './buffers';

/** Gemv4Params' fields in WGSL order, with their WGSL types (all 4 bytes, so no padding between them). */
export const GEMV4_PARAM_FIELDS = [
  ['n', 'u32'],
  ['cols', 'u32'],
  ['rows', 'u32'],
  ['row_offset', 'u32'],
  ['out_stride', 'u32'],
  ['has_bias', 'u32'],
  ['has_residual', 'u32'],
  ['residual_scale', 'f32'],
  ['half', 'u32'],
  ['norm_eps', 'f32'],
  ['num_heads', 'u32'],
  ['num_kv_heads', 'u32'],
  ['head_dim', 'u32'],
  ['rotary_dim', 'u32'],
  ['slot', 'u32'],
  ['position', 'i32'],
  ['tiles', 'u32'],
] as const;

export type Gemv4Params = Partial<Record<(typeof GEMV4_PARAM_FIELDS)[number][0], number>>;

/** Writes every field of Gemv4Params in order; a field left out is written as 0 (its variants' "off"). */
export function writeGemv4Params(p: ParamWriter, values: Gemv4Params): void {
  for (const [name, type] of GEMV4_PARAM_FIELDS) {
    const v = values[name] ?? 0;
    if (type === 'f32') p.f32(v);
    else if (type === 'i32') p.i32(v);
    else p.u32(v);
  }
}
