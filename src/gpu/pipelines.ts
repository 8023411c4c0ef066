// Compute pipelines and their bind-group layouts, built once per (kernel, weight format, activation
// dtype, override constants) and cached. A WGSL module is the kernel file with its libraries
// prepended (WGSL has no #include): lib/act_*.wgsl picks the storage type `act`, lib/weights_*.wgsl the
// weight format, so one kernel file serves matmulF32/F16/Q4/Q8 and the f32 and f16 paths.
//
// Layouts are explicit (not 'auto') so that every weight format of a kernel binds the same way and a
// binding the shader skips for a variant (Q4 mins when symmetric) can still be bound to a dummy.
import actF16Wgsl from '../../shaders/lib/act_f16.wgsl?raw';
import actF32Wgsl from '../../shaders/lib/act_f32.wgsl?raw';
import activationsWgsl from '../../shaders/lib/activations.wgsl?raw';
import dispatchWgsl from '../../shaders/lib/dispatch.wgsl?raw';
import onlineSoftmaxWgsl from '../../shaders/lib/online_softmax.wgsl?raw';
import weightsF16Wgsl from '../../shaders/lib/weights_f16.wgsl?raw';
import weightsF32Wgsl from '../../shaders/lib/weights_f32.wgsl?raw';
import weightsQ4Wgsl from '../../shaders/lib/weights_q4.wgsl?raw';
import weightsQ8Wgsl from '../../shaders/lib/weights_q8.wgsl?raw';
import weightsQxWgsl from '../../shaders/lib/weights_qx.wgsl?raw';
import q4NibblesWgsl from '../../shaders/lib/q4_nibbles.wgsl?raw';
import gemvParamsWgsl from '../../shaders/lib/gemv_params.wgsl?raw';
import gemvInputWgsl from '../../shaders/lib/gemv_input.wgsl?raw';
import gemvInputMergeWgsl from '../../shaders/lib/gemv_input_merge.wgsl?raw';
import gemvStoreWgsl from '../../shaders/lib/gemv_store.wgsl?raw';
import gemvStoreRopeWgsl from '../../shaders/lib/gemv_store_rope.wgsl?raw';
import gemvGroupFloatWgsl from '../../shaders/lib/gemv_group_float.wgsl?raw';
import gemvGroupInt8Wgsl from '../../shaders/lib/gemv_group_int8.wgsl?raw';
import weightsQ4Int8Wgsl from '../../shaders/lib/weights_q4_int8.wgsl?raw';
import weightsQxInt8Wgsl from '../../shaders/lib/weights_qx_int8.wgsl?raw';
import ropeWgsl from '../../shaders/lib/rope.wgsl?raw';
import workgroupSumWgsl from '../../shaders/lib/workgroup_sum.wgsl?raw';
import addWgsl from '../../shaders/add.wgsl?raw';
import attentionWgsl from '../../shaders/attention.wgsl?raw';
import attentionCombineWgsl from '../../shaders/attention_combine.wgsl?raw';
import attentionSplitWgsl from '../../shaders/attention_split.wgsl?raw';
import copyRowsWgsl from '../../shaders/copy_rows.wgsl?raw';
import embedWgsl from '../../shaders/embed.wgsl?raw';
import geluWgsl from '../../shaders/gelu.wgsl?raw';
import layerNormWgsl from '../../shaders/layer_norm.wgsl?raw';
import matmulGemmWgsl from '../../shaders/matmul_gemm.wgsl?raw';
import matmulGemvWgsl from '../../shaders/matmul_gemv.wgsl?raw';
import matmulGemvQ4Wgsl from '../../shaders/matmul_gemv_q4.wgsl?raw';
import rmsNormWgsl from '../../shaders/rms_norm.wgsl?raw';
import ropeKvAppendWgsl from '../../shaders/rope_kv_append.wgsl?raw';
import swigluWgsl from '../../shaders/swiglu.wgsl?raw';
import toF32Wgsl from '../../shaders/to_f32.wgsl?raw';
import logitAdjustWgsl from '../../shaders/logit_adjust.wgsl?raw';
import logprobGatherWgsl from '../../shaders/logprob_gather.wgsl?raw';
import attentionFullWgsl from '../../shaders/attention_full.wgsl?raw';
import blocks2x2Wgsl from '../../shaders/blocks_2x2.wgsl?raw';
import copyIntoWgsl from '../../shaders/copy_into.wgsl?raw';
import { ShaderError } from '../errors';
import type { GpuActDtype, GpuWeightFormat } from './tensor';

/** 'uniform': the dispatch's parameter slot (dynamic offset). 'read' / 'write': storage buffers. */
export type BindingKind = 'uniform' | 'read' | 'write';

interface KernelDef {
  file: string;
  source: string;
  libs: string[];
  /** Binding number -> kind, for the bindings below 5 (5.. belong to the weight format). */
  bindings: (BindingKind | null)[];
  /** Kernels that read a weight matrix through lib/weights_*.wgsl. */
  weighted: boolean;
  /** Bindings after the weight format's (weighted kernels of one format only). */
  afterWeights?: BindingKind[];
  /** The decode GEMV's kernels: they take a group-dot library (float, or int8 with PipelineRequest.int8). */
  groupDot?: true;
}

const KERNELS = {
  matmulGemv: {
    file: 'matmul_gemv.wgsl',
    source: matmulGemvWgsl,
    libs: [],
    bindings: ['uniform', 'read', 'write', 'read', 'read'],
    weighted: true,
  },
  /** Q4 only, rows of whole groups: the fast decode GEMV (see the file's header). */
  matmulGemvQ4: {
    file: 'matmul_gemv_q4.wgsl',
    source: matmulGemvQ4Wgsl,
    libs: [activationsWgsl, gemvParamsWgsl, gemvInputWgsl, gemvStoreWgsl],
    bindings: ['uniform', 'read', 'write', 'read', 'read'],
    weighted: true,
    afterWeights: ['read'], // binding 8: the RMSNorm gain of the fused prologue
    groupDot: true,
  },
  /** matmulGemvQ4 with the qkv projection's epilogue: bias + RoPE + KV-cache append (lib/gemv_store_rope.wgsl). */
  matmulGemvQ4Rope: {
    file: 'matmul_gemv_q4.wgsl',
    source: matmulGemvQ4Wgsl,
    libs: [activationsWgsl, gemvParamsWgsl, gemvInputWgsl, ropeWgsl, gemvStoreRopeWgsl],
    bindings: ['uniform', 'read', 'write', 'read', 'write'], // 4: the K cache
    weighted: true,
    afterWeights: ['read', 'write', 'read'], // 8: the RMSNorm gain, 9: the V cache, 10: inv_freq
    groupDot: true,
  },
  /** matmulGemvQ4 whose input is the decode attention's per-tile partials, merged on the fly (lib/gemv_input_merge.wgsl). */
  matmulGemvQ4Merge: {
    file: 'matmul_gemv_q4.wgsl',
    source: matmulGemvQ4Wgsl,
    libs: [activationsWgsl, gemvParamsWgsl, gemvInputMergeWgsl, gemvStoreWgsl],
    bindings: ['uniform', 'read', 'write', 'read', 'read'], // 1: the attention partials
    weighted: true,
    groupDot: true,
  },
  matmulGemm: {
    file: 'matmul_gemm.wgsl',
    source: matmulGemmWgsl,
    libs: [],
    bindings: ['uniform', 'read', 'write', 'read', 'read'],
    weighted: true,
  },
  embed: { file: 'embed.wgsl', source: embedWgsl, libs: [], bindings: ['uniform', 'read', 'write', null, null], weighted: true },
  rmsNorm: { file: 'rms_norm.wgsl', source: rmsNormWgsl, libs: [workgroupSumWgsl], bindings: ['uniform', 'read', 'write', 'read'], weighted: false },
  layerNorm: {
    file: 'layer_norm.wgsl',
    source: layerNormWgsl,
    libs: [workgroupSumWgsl],
    bindings: ['uniform', 'read', 'write', 'read', 'read'],
    weighted: false,
  },
  ropeKvAppend: {
    file: 'rope_kv_append.wgsl',
    source: ropeKvAppendWgsl,
    libs: [ropeWgsl],
    bindings: ['uniform', 'read', 'write', 'write', 'write', 'read', 'read', 'read'],
    weighted: false,
  },
  attention: { file: 'attention.wgsl', source: attentionWgsl, libs: [onlineSoftmaxWgsl], bindings: ['uniform', 'read', 'write', 'read', 'read'], weighted: false },
  attentionSplit: {
    file: 'attention_split.wgsl',
    source: attentionSplitWgsl,
    libs: [],
    bindings: ['uniform', 'read', 'write', 'read', 'read'],
    weighted: false,
  },
  attentionCombine: { file: 'attention_combine.wgsl', source: attentionCombineWgsl, libs: [], bindings: ['uniform', 'read', 'write'], weighted: false },
  swiglu: { file: 'swiglu.wgsl', source: swigluWgsl, libs: [activationsWgsl], bindings: ['uniform', 'read', 'write'], weighted: false },
  /** Tanh or erf form by GELU_ERF (GpuOps.gelu / geluErf). */
  gelu: { file: 'gelu.wgsl', source: geluWgsl, libs: [activationsWgsl], bindings: ['uniform', 'read', 'write'], weighted: false },
  add: { file: 'add.wgsl', source: addWgsl, libs: [], bindings: ['uniform', 'read', 'read', 'write'], weighted: false },
  toF32: { file: 'to_f32.wgsl', source: toF32Wgsl, libs: [], bindings: ['uniform', 'read', 'write'], weighted: false },
  copyRows: { file: 'copy_rows.wgsl', source: copyRowsWgsl, libs: [], bindings: ['uniform', 'read', 'write'], weighted: false },
  /** A request's logit_bias / penalties / JSON mask before the sampler (#19). */
  logitAdjust: { file: 'logit_adjust.wgsl', source: logitAdjustWgsl, libs: [], bindings: ['uniform', 'read', 'write', 'read', 'read'], weighted: false },
  logprobGather: { file: 'logprob_gather.wgsl', source: logprobGatherWgsl, libs: [], bindings: ['uniform', 'read', 'write', 'read'], weighted: false },
  // GLM-4V's vision tower (issue #21)
  attentionFull: { file: 'attention_full.wgsl', source: attentionFullWgsl, libs: [onlineSoftmaxWgsl], bindings: ['uniform', 'read', 'write'], weighted: false },
  blocks2x2: { file: 'blocks_2x2.wgsl', source: blocks2x2Wgsl, libs: [], bindings: ['uniform', 'read', 'write'], weighted: false },
  copyInto: { file: 'copy_into.wgsl', source: copyIntoWgsl, libs: [], bindings: ['uniform', 'read', 'write'], weighted: false },
} satisfies Record<string, KernelDef>;

export type KernelName = keyof typeof KERNELS;

const WEIGHT_LIBS: Record<GpuWeightFormat, { source: string; bindings: number }> = {
  f32: { source: weightsF32Wgsl, bindings: 1 },
  f16: { source: weightsF16Wgsl, bindings: 1 },
  q8: { source: weightsQ8Wgsl, bindings: 2 },
  q4: { source: `${q4NibblesWgsl}\n${weightsQ4Wgsl}`, bindings: 3 },
  qx: { source: `${q4NibblesWgsl}\n${weightsQxWgsl}`, bindings: 3 },
};

/** First binding of the weight buffers in weighted kernels (see shaders/lib/weights_*.wgsl). */
export const WEIGHT_BINDING = 5;

export interface PipelineRequest {
  kernel: KernelName;
  act: GpuActDtype;
  /** Weighted kernels only. */
  format?: GpuWeightFormat;
  /** WGSL override constants (workgroup sizes, W_ASYMMETRIC, ...). */
  constants?: Record<string, number>;
  /**
   * The decode GEMV kernels (groupDot) with the int8 group dot (dot4I8Packed, issue #17); Q4 and QX weights,
   * and only on devices whose WGSL has packed_4x8_integer_dot_product (GpuOps checks both).
   */
  int8?: boolean;
}

export interface Pipeline {
  label: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding numbers in the layout, in order; a bind group supplies exactly these. */
  bindings: number[];
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The name used in labels and errors, matching TS and tests: matmulQ4.gemv, embedF16, rmsNorm, ... */
export function pipelineLabel(req: PipelineRequest): string {
  const matmulPaths: Partial<Record<KernelName, string>> = { matmulGemv: '.gemv', matmulGemvQ4: '.gemv4', matmulGemvQ4Rope: '.gemv4rope',
    matmulGemvQ4Merge: '.gemv4merge', matmulGemm: '.gemm' };
  // The int8 decode GEMV: matmulQ4.gemv4i8, .gemv4i8rope, .gemv4i8merge.
  const path = req.int8 ? (matmulPaths[req.kernel] ?? '').replace('.gemv4', '.gemv4i8') : (matmulPaths[req.kernel] ?? '');
  const base = path ? 'matmul' : req.kernel;
  const fmt = req.format ? capitalize(req.format) : '';
  return `${base}${fmt}${path}${req.act === 'f16' ? '[f16]' : ''}`;
}

/** The full WGSL text of a module: prelude libraries, then the kernel file. */
export function moduleSource(req: PipelineRequest): string {
  const def: KernelDef = KERNELS[req.kernel];
  const parts = [req.act === 'f16' ? actF16Wgsl : actF32Wgsl, dispatchWgsl, ...def.libs];
  if (def.weighted) {
    if (!req.format) throw new ShaderError(`${req.kernel} needs a weight format`);
    parts.push(WEIGHT_LIBS[req.format].source);
  }
  if (def.groupDot) {
    const int8Weights = req.format === 'q4' ? weightsQ4Int8Wgsl : req.format === 'qx' ? weightsQxInt8Wgsl : null;
    if (req.int8 && !int8Weights) throw new ShaderError(`${req.kernel}: the int8 group dot is for q4 and qx weights, got ${req.format}`);
    parts.push(req.int8 ? `${gemvGroupInt8Wgsl}\n${int8Weights}` : gemvGroupFloatWgsl);
  } else if (req.int8) {
    throw new ShaderError(`${req.kernel} has no int8 variant`);
  }
  parts.push(`// ---- ${def.file} ----\n${def.source}`);
  return parts.join('\n');
}

/**
 * Builds pipelines synchronously (ops are synchronous), each under a validation error scope whose
 * result is kept: `takeErrors()` turns a failed compile into a ShaderError with the compiler's messages.
 */
export class PipelineCache {
  private pipelines = new Map<string, Pipeline>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  private pending: Promise<ShaderError | null>[] = [];

  constructor(private readonly device: GPUDevice) {}

  get(req: PipelineRequest): Pipeline {
    // Called for every dispatch: a plain concatenation (no JSON.stringify, no arrays) keeps it cheap.
    let key = `${req.kernel}|${req.format ?? ''}|${req.act}${req.int8 ? '|i8' : ''}`;
    for (const name in req.constants) key += `|${name}=${req.constants[name]}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.build(req);
      this.pipelines.set(key, p);
    }
    return p;
  }

  private bindGroupLayout(kinds: (BindingKind | null)[]): { layout: GPUBindGroupLayout; bindings: number[] } {
    const bindings = kinds.flatMap((k, i) => (k ? [i] : []));
    const sig = kinds.map((k) => (k ? k[0] : '-')).join('');
    let layout = this.layouts.get(sig);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        label: `layout ${sig}`,
        entries: bindings.map((binding) => {
          const kind = kinds[binding]!;
          return {
            binding,
            visibility: GPUShaderStage.COMPUTE,
            buffer:
              kind === 'uniform'
                ? { type: 'uniform' as const }
                : { type: kind === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
          };
        }),
      });
      this.layouts.set(sig, layout);
    }
    return { layout, bindings };
  }

  private build(req: PipelineRequest): Pipeline {
    const def: KernelDef = KERNELS[req.kernel];
    const label = pipelineLabel(req);
    const kinds = [...def.bindings];
    if (def.weighted) {
      while (kinds.length < WEIGHT_BINDING) kinds.push(null);
      for (let i = 0; i < WEIGHT_LIBS[req.format!].bindings; i++) kinds.push('read');
      kinds.push(...(def.afterWeights ?? []));
    }
    const { layout, bindings } = this.bindGroupLayout(kinds);
    const code = moduleSource(req);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label });
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ label, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main', constants: req.constants },
    });
    this.pending.push(
      this.device.popErrorScope().then(async (err) => {
        if (!err) return null;
        const info = await module.getCompilationInfo();
        const lines = info.messages.filter((m) => m.type === 'error').map((m) => `  ${label}:${m.lineNum}:${m.linePos}: ${m.message}`);
        if (lines.length === 0) lines.push(`  ${err.message}`);
        return new ShaderError(`WGSL pipeline "${label}" (shaders/${def.file}) failed:\n${lines.join('\n')}`);
      }),
    );
    return { label, pipeline, layout, bindings };
  }

  /** Throws the first pipeline failure since the last call. */
  async takeErrors(): Promise<void> {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is ShaderError => e !== null);
    if (errors.length > 0) throw errors[0];
  }
}
