// The browser benchmark, without any DOM (Node + Dawn can run it too: pass its GPU object):
//   1. adapter info, features and limits;
//   2. read bandwidth: shaders/bench_read.wgsl over a large buffer, timed with timestamp queries when
//      the device has them, else by wall clock around submit + onSubmittedWorkDone;
//   3. dispatch overhead: N empty dispatches in one compute pass;
//   4. per-kernel GB/s: GpuOps.matmul (the decode GEMV) over each matrix of one layer of the preset and
//      its lm_head, random q4 weights;
//   5. prefill and decode tok/s of a random-weight model with the preset's shapes cut to N layers,
//      running forward() (src/model/glm.ts) through a ModelSession, like the engine does.
// Every rate is also reported as a percent of the read bandwidth measured in the same run (DESIGN.md:
// ratios measured in the same run, not bare times).
import benchWgsl from '../../../shaders/bench_read.wgsl?raw';
import { requestGpu, type GpuContext } from '../../gpu/device';
import { GpuOps, type GemvArithmetic, type GpuTuning } from '../../gpu/ops';
import type { GpuWeight } from '../../gpu/tensor';
import { f32ToF16 } from '../../formats/dtype';
import type { GlmConfig } from '../../model/config';
import { PRESETS, type PresetName } from '../../model/presets';
import type { HostWeight } from '../../model/weights';
import { weightRecipes } from '../../model/weights';
import type { LayerWeights, ModelWeights, NormWeights } from '../../model/weights-types';
import { tensorBytes } from '../../planner/sizes';
import { ModelSession } from '../../runtime/session';
import { decodeSteps } from '../../runtime/decode-steps';
import { GROUP_SIZE, Q4_WORDS_PER_GROUP, groupsPerRowOf, type Q4Tensor } from '../../quant/types';
import { GGUF_FILE_BITS_PER_WEIGHT, ggufMixType, randomGgufTypeWeight, type BenchGgufType } from './gguf-mix';

export const BENCH_REPORT_VERSION = 1;

export interface BenchOptions {
  preset: PresetName;
  /** Layers of the random model (the preset's shapes, fewer layers). */
  layers: number;
  promptTokens: number;
  decodeTokens: number;
  /** Vocabulary of the random model; default the preset's (the lm_head is a large part of a token's reads). */
  vocab?: number;
  /** Bytes of the read-bandwidth buffer; default 256 MiB (32 MiB on a software adapter), capped by the limits. */
  readBytes?: number;
  /** Empty dispatches in the overhead pass (default 2000; 200 on a software adapter). */
  dispatches?: number;
  /** f16 activations and KV cache (needs `shader-f16`); default float32. */
  f16?: boolean;
  /** Also time the decode GEMV at every launch shape of the sweep (lanes per row x workgroup size), under each arithmetic. */
  sweep?: boolean;
  /**
   * The decode GEMV's arithmetic for the model run (GpuOpsOptions.gemv; default: int8 where WGSL has
   * packed_4x8_integer_dot_product). The kernel table times both where both exist, whatever this says.
   */
  gemv?: GemvArithmetic;
  /** The same for QX matrices (the --gguf-type models; GpuOpsOptions.gemvQx, default float). */
  gemvQx?: GemvArithmetic;
  /**
   * Build the model in llama-quantize's type mix for this GGUF file type (e.g. 'Q4_K_M': Q4_K, Q5_K
   * attn_qkv, Q6_K output and some ffn_down, with its fallbacks; gguf-mix.ts) instead of plain q4.
   */
  ggufType?: BenchGgufType;
  /**
   * Decode with pipelined steps (default true; src/runtime/decode-steps.ts); false: the simple step (one
   * submit and wait per token), the baseline the CLI's --no-pipeline measures in the same way.
   */
  pipeline?: boolean;
  /** Skip parts (e.g. a quick check of the page). */
  skip?: { kernels?: boolean; model?: boolean };
  onProgress?(message: string): void;
}

export interface Timing {
  seconds: number;
  method: 'timestamp-query' | 'wall-clock';
}

export interface KernelResult {
  name: string;
  /** Pipeline label and launch shape, e.g. "matmulQ4.gemv4i8 T=32 WG=256 U=2". */
  kernel: string;
  rows: number;
  cols: number;
  format: 'q4';
  /** Weight bytes read per call. */
  bytes: number;
  calls: number;
  microsPerCall: number;
  bytesPerSec: number;
  /** bytesPerSec over the measured read bandwidth, in percent. */
  percentOfRead: number;
  /** 'timestamp-query': GPU time of the dispatches; 'wall-clock': submit to done, recording excluded. */
  timing: Timing['method'];
  /** The launch shape and arithmetic GpuOps picks for this matrix (false: a sweep variant or the other arithmetic). */
  chosen: boolean;
  /** The decode GEMV's arithmetic of this row (issue #17). */
  gemv: GemvArithmetic;
}

export interface ModelResult {
  preset: PresetName;
  family: GlmConfig['family'];
  layers: number;
  presetLayers: number;
  vocab: number;
  hidden: number;
  weightBytes: number;
  /** Weights read per decoded token (every layer + the lm_head; the embedding reads one row). */
  bytesPerToken: number;
  /**
   * With ggufType: the GGUF type of each matrix (counts), and the bytes those matrices read per token
   * occupy in the GGUF file, so bytesPerToken / fileBytesPerToken is what the engine's forms add.
   */
  gguf: { fileType: BenchGgufType; typeCounts: Record<string, number>; fileBytesPerToken: number; gpuOverFile: number } | null;
  prefill: {
    tokens: number;
    seconds: number;
    tokensPerSec: number;
    /** Multiply-adds x 2 of the prompt's matmuls and attention. */
    flops: number;
    flopsPerSec: number;
    /** flopsPerSec over the measured f32 FMA rate, in percent. */
    percentOfFma: number;
    /** Time to first token: the prompt's forward pass and the first draw. */
    ttftSeconds: number;
    /** Seconds of each prefill run; the figures above are from their median. */
    samples: number[];
  };
  decode: {
    tokens: number;
    seconds: number;
    tokensPerSec: number;
    bytesPerSec: number;
    percentOfRead: number;
    msPerToken: number;
    /** Dispatches in one decode step (forward pass + sampling). */
    dispatchesPerStep: number;
    /** CPU time recording one decode step (forward() and the sampler, up to the submit), and that per dispatch. */
    encodeMsPerToken: number;
    encodeMicrosPerDispatch: number;
    /** Pipelined steps (the next step runs while the CPU waits for an id) or the simple step. */
    pipelined: boolean;
    /** The decode GEMV's arithmetic on the Q4 matrices, and on the QX ones (--gguf-type models). */
    gemv: GemvArithmetic;
    gemvQx: GemvArithmetic;
    /** CPU time per step spent waiting for the sampled id (the simple step: recording its draw, then the whole step running). */
    waitMsPerToken: number;
  };
  /**
   * A few more decode steps with per-dispatch timestamps (null without `timestamp-query`): GPU time per
   * token summed over the dispatches, and per kernel, largest first.
   */
  decodeProfile: { tokens: number; gpuMsPerToken: number; kernels: { kernel: string; callsPerToken: number; microsPerToken: number }[] } | null;
  /** GPU memory held by the engine at the end of the decode (GpuOps.stats()). */
  gpuBytes: { allocated: number; weights: number; kvCache: number; pool: number };
  /** Decode tok/s the full preset would reach at this per-layer speed (extrapolated; an estimate). */
  fullModelDecodeEstimate: number;
}

export interface BenchReport {
  version: typeof BENCH_REPORT_VERSION;
  createdAt: string;
  userAgent: string | null;
  options: Omit<BenchOptions, 'onProgress'>;
  adapter: GpuContext['adapter'];
  features: string[];
  limits: Record<string, number>;
  timestampQuery: boolean;
  readBandwidth: { bytes: number; passes: number; dispatchesPerPass: number; bytesPerSec: number; timing: Timing };
  /**
   * Dependent dispatches (each writes a buffer the next one writes: a barrier between them, as in a
   * forward pass) and independent empty ones (which the GPU may overlap).
   */
  dispatchOverhead: { dispatches: number; microsPerDispatch: number; timing: Timing; independentMicrosPerDispatch: number };
  /** f32 FMA rate of shaders/bench_read.wgsl fma_rate (2 FLOPs per FMA). */
  fmaRate: { flopsPerSec: number; timing: Timing };
  /** Activation / KV-cache storage of the model runs. */
  activations: 'f32' | 'f16';
  kernels: KernelResult[];
  model: ModelResult | null;
  errors: { part: string; name: string; message: string }[];
  seconds: number;
}

const MiB = 1024 * 1024;
const PREFILL_RUNS = 3;
const READ_WORKGROUP = 256;
const READ_WORKGROUPS = 4096;

/** Everything the benchmark needs of WebGPU: `navigator.gpu` in a browser, Dawn's GPU under Node. */
export async function runBenchSuite(gpu: GPU | undefined, options: BenchOptions): Promise<BenchReport> {
  const t0 = performance.now();
  const say = options.onProgress ?? (() => {});
  say('Requesting the GPU device…');
  const ctx = await requestGpu(gpu);
  const software = ctx.adapter.isFallback;
  const timestamps = ctx.features.has('timestamp-query');
  const allLimits: Record<string, number> = {};
  for (const key in ctx.device.limits) {
    const v = (ctx.device.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') allLimits[key] = v;
  }
  const errors: BenchReport['errors'] = [];
  const fail = (part: string, err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    errors.push({ part, name: e.name, message: e.message });
    say(`${part} failed: ${e.name}: ${e.message}`);
  };
  const { onProgress: _ignored, ...plainOptions } = options;
  void _ignored;
  try {
    const kernels = await createBenchPipelines(ctx);
    say('Measuring read bandwidth…');
    const read = await measureReadBandwidth(ctx, kernels, options.readBytes ?? (software ? 32 * MiB : 256 * MiB), software ? 64 * MiB : 4096 * MiB);
    say(`Read bandwidth ${(read.bytesPerSec / 1e9).toFixed(2)} GB/s. Measuring dispatch overhead…`);
    const overhead = await measureDispatchOverhead(ctx, kernels, options.dispatches ?? (software ? 200 : 2000));
    say('Measuring the f32 FMA rate…');
    const fma = await measureFmaRate(ctx, kernels, software);
    const report: BenchReport = {
      version: BENCH_REPORT_VERSION,
      createdAt: new Date().toISOString(),
      userAgent: typeof navigator !== 'undefined' ? navigator.userAgent : null,
      options: plainOptions,
      adapter: ctx.adapter,
      features: [...ctx.device.features].sort(),
      limits: allLimits,
      timestampQuery: timestamps,
      readBandwidth: read,
      dispatchOverhead: overhead,
      fmaRate: fma,
      activations: options.f16 ? 'f16' : 'f32',
      kernels: [],
      model: null,
      errors,
      seconds: 0,
    };
    const config = benchConfig(options);
    const ops = new GpuOps(ctx, {
      f16: options.f16 ?? false, ...(options.gemv ? { gemv: options.gemv } : {}), ...(options.gemvQx ? { gemvQx: options.gemvQx } : {}),
    });
    try {
      if (!options.skip?.kernels) {
        try {
          report.kernels = await measureKernels(ctx, ops, config, read.bytesPerSec, software, options.sweep ?? false, say);
        } catch (err) {
          fail('kernels', err);
        }
      }
      if (!options.skip?.model) {
        try {
          report.model = await measureModel(ops, config, options, read.bytesPerSec, fma.flopsPerSec, say);
        } catch (err) {
          fail('model', err);
        }
      }
    } finally {
      ops.dispose();
    }
    report.seconds = (performance.now() - t0) / 1000;
    say(`Done in ${report.seconds.toFixed(1)} s.`);
    return report;
  } finally {
    ctx.device.destroy();
  }
}

/** The preset's shapes with `layers` layers (and optionally a smaller vocabulary). */
export function benchConfig(options: Pick<BenchOptions, 'preset' | 'layers' | 'vocab'>): GlmConfig {
  const base = PRESETS[options.preset];
  if (!Number.isInteger(options.layers) || options.layers < 1) throw new RangeError(`layers must be a positive integer, got ${options.layers}`);
  const vocab = options.vocab ?? base.vocabSize;
  if (!Number.isInteger(vocab) || vocab < 16) throw new RangeError(`vocab must be an integer >= 16, got ${vocab}`);
  const tokens = { ...base.tokens };
  if (vocab < base.vocabSize && base.family === 'chatglm1') {
    // ChatGLM-6B's prompt needs [gMASK] and sop: keep them inside the smaller vocabulary.
    tokens.gmask = vocab - 2;
    tokens.bos = vocab - 1;
  }
  return { ...base, numLayers: options.layers, vocabSize: vocab, tokens };
}

// ------------------------------------------------------------------------------------------ WGSL kernels

interface BenchPipelines {
  read: GPUComputePipeline;
  noop: GPUComputePipeline;
  tick: GPUComputePipeline;
  fma: GPUComputePipeline;
}

async function createBenchPipelines(ctx: GpuContext): Promise<BenchPipelines> {
  const { device } = ctx;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: benchWgsl, label: 'bench_read.wgsl' });
  const info = await module.getCompilationInfo();
  const scope = await device.popErrorScope();
  const errs = info.messages.filter((m) => m.type === 'error');
  if (errs.length || scope) throw new Error(`bench_read.wgsl failed to compile: ${errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ') || scope?.message}`);
  const [read, noop, tick, fma] = await Promise.all([
    device.createComputePipelineAsync({ label: 'bench read', layout: 'auto', compute: { module, entryPoint: 'main', constants: { WORKGROUP_SIZE: READ_WORKGROUP } } }),
    device.createComputePipelineAsync({ label: 'bench noop', layout: 'auto', compute: { module, entryPoint: 'noop' } }),
    device.createComputePipelineAsync({ label: 'bench tick', layout: 'auto', compute: { module, entryPoint: 'tick' } }),
    device.createComputePipelineAsync({ label: 'bench fma', layout: 'auto', compute: { module, entryPoint: 'fma_rate', constants: { WORKGROUP_SIZE: READ_WORKGROUP } } }),
  ]);
  return { read, noop, tick, fma };
}

/**
 * Runs `record` in one compute pass and returns the GPU time of the pass: from timestamp queries when
 * the device has them (Chromium rounds them to 100 µs unless its developer features are on, so passes
 * are made long), else wall clock from submit to onSubmittedWorkDone.
 */
async function timePass(ctx: GpuContext, record: (pass: GPUComputePassEncoder) => void): Promise<Timing> {
  const { device } = ctx;
  const useTimestamps = ctx.features.has('timestamp-query');
  const encoder = device.createCommandEncoder({ label: 'bench pass' });
  let querySet: GPUQuerySet | null = null;
  let resolve: GPUBuffer | null = null;
  let readback: GPUBuffer | null = null;
  if (useTimestamps) {
    querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
    resolve = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }
  const pass = encoder.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
  record(pass);
  pass.end();
  if (querySet && resolve && readback) {
    encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
  }
  const t0 = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const wall = (performance.now() - t0) / 1000;
  if (!querySet || !readback) return { seconds: wall, method: 'wall-clock' };
  await readback.mapAsync(GPUMapMode.READ);
  const [begin, end] = new BigUint64Array(readback.getMappedRange().slice(0));
  readback.unmap();
  readback.destroy();
  resolve!.destroy();
  querySet.destroy();
  const seconds = Number(end! - begin!) / 1e9;
  // A zero or absurd reading (quantized, or a driver without real timestamps): fall back to the wall clock.
  if (!(seconds > 0) || seconds > wall * 1.5 + 0.01) return { seconds: wall, method: 'wall-clock' };
  return { seconds, method: 'timestamp-query' };
}

async function measureReadBandwidth(ctx: GpuContext, k: BenchPipelines, wantBytes: number, targetBytes: number): Promise<BenchReport['readBandwidth']> {
  const { device } = ctx;
  const cap = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const bytes = Math.max(MiB, Math.floor(Math.min(wantBytes, cap) / (16 * MiB)) * 16 * MiB || MiB);
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE, mappedAtCreation: true, label: 'bench read source' });
  // Non-zero contents: a zero buffer could in principle be served from compressed or cleared memory.
  const words = new Uint32Array(src.getMappedRange());
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i += 1024) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words.fill(x >>> 0, i, Math.min(words.length, i + 1024));
  }
  src.unmap();
  const sink = device.createBuffer({ size: READ_WORKGROUP * READ_WORKGROUPS * 4, usage: GPUBufferUsage.STORAGE, label: 'bench sink' });
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'bench params' });
  device.queue.writeBuffer(params, 0, new Uint32Array([bytes / 16, 0x5eed1234, 0, 0]));
  const bind = device.createBindGroup({
    layout: k.read.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: params } },
      { binding: 1, resource: { buffer: src } },
      { binding: 2, resource: { buffer: sink } },
    ],
  });
  const groups = Math.min(READ_WORKGROUPS, ctx.limits.maxComputeWorkgroupsPerDimension);
  const record = (n: number) => (pass: GPUComputePassEncoder) => {
    pass.setPipeline(k.read);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(groups);
  };
  try {
    await timePass(ctx, record(1)); // warm-up: first touch of the buffer, pipeline upload
    const perPass = Math.max(1, Math.min(64, Math.round(targetBytes / bytes)));
    const passes = 3;
    let best: Timing | null = null;
    for (let i = 0; i < passes; i++) {
      const t = await timePass(ctx, record(perPass));
      if (!best || t.seconds < best.seconds) best = t;
    }
    return { bytes, passes, dispatchesPerPass: perPass, bytesPerSec: (bytes * perPass) / best!.seconds, timing: best! };
  } finally {
    src.destroy();
    sink.destroy();
    params.destroy();
  }
}

async function measureDispatchOverhead(ctx: GpuContext, k: BenchPipelines, dispatches: number): Promise<BenchReport['dispatchOverhead']> {
  const sink = ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'bench tick counter' });
  const bind = ctx.device.createBindGroup({ layout: k.tick.getBindGroupLayout(0), entries: [{ binding: 2, resource: { buffer: sink } }] });
  const dependent = (n: number) => (pass: GPUComputePassEncoder) => {
    pass.setPipeline(k.tick);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(1);
  };
  const independent = (n: number) => (pass: GPUComputePassEncoder) => {
    pass.setPipeline(k.noop);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(1);
  };
  const best = async (record: (pass: GPUComputePassEncoder) => void): Promise<Timing> => {
    let b: Timing | null = null;
    for (let i = 0; i < 3; i++) {
      const t = await timePass(ctx, record);
      if (!b || t.seconds < b.seconds) b = t;
    }
    return b!;
  };
  try {
    await timePass(ctx, dependent(16));
    await timePass(ctx, independent(16));
    const dep = await best(dependent(dispatches));
    const ind = await best(independent(dispatches));
    return { dispatches, microsPerDispatch: (dep.seconds / dispatches) * 1e6, timing: dep, independentMicrosPerDispatch: (ind.seconds / dispatches) * 1e6 };
  } finally {
    sink.destroy();
  }
}

async function measureFmaRate(ctx: GpuContext, k: BenchPipelines, software: boolean): Promise<BenchReport['fmaRate']> {
  const { device } = ctx;
  const workgroups = Math.min(software ? 16 : 8192, ctx.limits.maxComputeWorkgroupsPerDimension);
  const iterations = software ? 64 : 2048;
  const sink = device.createBuffer({ size: workgroups * READ_WORKGROUP * 4, usage: GPUBufferUsage.STORAGE, label: 'bench fma sink' });
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'bench fma params' });
  device.queue.writeBuffer(params, 0, new Uint32Array([iterations, 0x5eed1234, 0, 0]));
  const bind = device.createBindGroup({
    layout: k.fma.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: params } },
      { binding: 2, resource: { buffer: sink } },
    ],
  });
  const record = (pass: GPUComputePassEncoder) => {
    pass.setPipeline(k.fma);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(workgroups);
  };
  try {
    await timePass(ctx, record);
    let best: Timing | null = null;
    for (let i = 0; i < 3; i++) {
      const t = await timePass(ctx, record);
      if (!best || t.seconds < best.seconds) best = t;
    }
    // 8 vec4 FMAs per iteration = 32 FMAs = 64 FLOPs per invocation and iteration.
    const flops = workgroups * READ_WORKGROUP * iterations * 64;
    return { flopsPerSec: flops / best!.seconds, timing: best! };
  } finally {
    sink.destroy();
    params.destroy();
  }
}

// ------------------------------------------------------------------------------------------ random weights

/** xorshift32: fast, seeded, good enough for weights whose values do not matter. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/**
 * A random symmetric q4 matrix built directly as packed words (quantizing floats would take seconds per
 * large matrix). Scales are chosen so that a row's dot product with a unit-scale input stays near 1:
 * values (q - 8) * scale with scale ~ 1 / (8 sqrt(cols)).
 */
export function randomQ4(rows: number, cols: number, seed: number): Q4Tensor {
  const groupsPerRow = groupsPerRowOf(cols);
  const groups = rows * groupsPerRow;
  const packed = new Uint32Array(groups * Q4_WORDS_PER_GROUP);
  const next = rng(seed);
  for (let i = 0; i < packed.length; i++) packed[i] = next();
  if (cols % GROUP_SIZE !== 0) {
    // Codes past the last column must be zero points (8) so that padding contributes nothing.
    const valid = cols % GROUP_SIZE;
    for (let r = 0; r < rows; r++) {
      const g = r * groupsPerRow + groupsPerRow - 1;
      for (let c = valid; c < GROUP_SIZE; c++) {
        const w = g * Q4_WORDS_PER_GROUP + (c >> 3);
        const shift = (c & 7) * 4;
        packed[w] = ((packed[w]! & ~(0xf << shift)) | (8 << shift)) >>> 0;
      }
    }
  }
  const half = f32ToF16(1 / (8 * Math.sqrt(cols)));
  const scales = new Uint32Array(Math.ceil(groups / 2)).fill(((half << 16) | half) >>> 0);
  return { dtype: 'q4', rows, cols, groupsPerRow, packed, scales };
}

function randomVector(length: number, path: string, seed: number): HostWeight {
  const data = new Float32Array(length);
  if (/Norm\.weight$/.test(path)) data.fill(1); // norm gains; biases get small random values
  else {
    const next = rng(seed);
    for (let i = 0; i < length; i++) data[i] = ((next() / 2 ** 32) - 0.5) * 0.02;
  }
  return { dtype: 'f32', shape: [length], data };
}

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i]!;
    node[key] ??= /^\d+$/.test(parts[i + 1]!) ? [] : {};
    node = node[key] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

/** Uploads random weights for `config` one tensor at a time (the host copy is dropped after each). */
async function uploadRandomModel(
  ops: GpuOps,
  config: GlmConfig,
  say: (m: string) => void,
  ggufType?: BenchGgufType,
): Promise<{ weights: ModelWeights<GpuWeight>; bytes: number; gguf: ModelResult['gguf'] }> {
  const { model, lmHeadTied } = weightRecipes(config);
  const root: Record<string, unknown> = {};
  let bytes = 0;
  let seed = 1;
  const typeCounts: Record<string, number> = {};
  let fileBytesPerToken = 0;
  for (const [i, r] of model.entries()) {
    let host: HostWeight;
    if (r.shape.length !== 2) host = randomVector(r.shape[0]!, r.path, seed++);
    else if (!ggufType) host = randomQ4(r.shape[0]!, r.shape[1]!, seed++);
    else {
      const [rows, cols] = r.shape as [number, number];
      const type = ggufMixType(ggufType, r.path, cols, config.numLayers, lmHeadTied);
      typeCounts[type] = (typeCounts[type] ?? 0) + 1;
      // A decode step reads every matrix but the embedding (one row of it, on the CPU or gathered).
      if (r.path !== 'embedding' || lmHeadTied) fileBytesPerToken += (rows * cols * GGUF_FILE_BITS_PER_WEIGHT[type]) / 8;
      host = randomGgufTypeWeight(type, rows, cols, rng(seed++));
    }
    const w = await ops.uploadWeight(host, r.path);
    bytes += w.bytes;
    setPath(root, r.path, w);
    if (i % 4 === 0) say(`Uploading random weights: ${i + 1}/${model.length} tensors`);
  }
  if (lmHeadTied) root.lmHead = root.embedding;
  const weights: ModelWeights<GpuWeight> = {
    embedding: root.embedding as GpuWeight,
    layers: root.layers as LayerWeights<GpuWeight>[],
    finalNorm: root.finalNorm as NormWeights<GpuWeight>,
    lmHead: root.lmHead as GpuWeight,
  };
  let gguf: ModelResult['gguf'] = null;
  if (ggufType) {
    // GPU bytes of the same matrices (the vectors are f32 in both and left out of the comparison).
    const matrices = weights.layers.flatMap((l) => [l.qkv.weight, l.attnOut.weight, l.mlpUp.weight, l.mlpDown.weight]).concat(weights.lmHead);
    const gpuBytes = matrices.reduce((sum, w) => sum + w.bytes, 0);
    gguf = { fileType: ggufType, typeCounts, fileBytesPerToken, gpuOverFile: gpuBytes / fileBytesPerToken };
  }
  return { weights, bytes, gguf };
}

// ------------------------------------------------------------------------------------------ kernels and model

/**
 * Lanes per row x workgroup size x groups per iteration tried by --sweep for the decode GEMV (each under
 * both arithmetics). Workgroups of 64 with 64 or 128 lanes give 4096-row matrices 1024 or 2048 workgroups.
 */
const SWEEP_THREADS_PER_ROW = [8, 16, 32, 64, 128];
const SWEEP_WORKGROUPS = [64, 128, 256];
const SWEEP_GROUPS_PER_ITERATION = [1, 2, 4];

/**
 * GB/s of the decode GEMV over each matrix of one layer and the lm_head: `calls` GEMVs recorded into
 * one step, timed by timestamp queries on the GPU when the device has them, else by the wall clock
 * from submit to done (recording excluded). The MLP's up projection runs as the forward pass runs it
 * (fused with its activation). With `sweep`, every launch shape of the sweep is timed too.
 */
async function measureKernels(
  ctx: GpuContext,
  ops: GpuOps,
  config: GlmConfig,
  readBps: number,
  software: boolean,
  sweep: boolean,
  say: (m: string) => void,
): Promise<KernelResult[]> {
  const { hiddenSize: hidden, numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: F, vocabSize: V } = config;
  const upRows = config.mlp === 'swiglu' ? 2 * F : F;
  const shapes: { name: string; rows: number; cols: number; activation?: 'swiglu' | 'gelu' }[] = [
    { name: 'qkv', rows: (H + 2 * Hkv) * D, cols: hidden },
    { name: 'attnOut', rows: hidden, cols: H * D },
    { name: 'mlpUp', rows: upRows, cols: hidden, activation: config.mlp },
    { name: 'mlpDown', rows: hidden, cols: F },
    { name: 'lmHead', rows: V, cols: hidden },
  ];
  const useTimestamps = ctx.features.has('timestamp-query');
  const target = software ? 8 * MiB : 2048 * MiB;
  const out: KernelResult[] = [];
  const defaults = { ...ops.tuning };
  // Both arithmetics of the decode GEMV where the device has both (issue #17), each at GpuOps' own launch
  // shape (null) and, with the sweep, at every forced one.
  const modes: GemvArithmetic[] = GpuOps.supportsInt8Gemv(ctx) ? ['int8', 'float'] : ['float'];
  const variants: { mode: GemvArithmetic; shape: Required<Pick<GpuTuning, 'gemvThreadsPerRow' | 'gemvWorkgroup' | 'gemvGroupsPerIteration'>> | null }[] = [];
  for (const mode of modes) {
    variants.push({ mode, shape: null });
    if (!sweep) continue;
    for (const wg of SWEEP_WORKGROUPS) {
      for (const t of SWEEP_THREADS_PER_ROW.filter((v) => v <= wg)) {
        for (const u of SWEEP_GROUPS_PER_ITERATION) variants.push({ mode, shape: { gemvThreadsPerRow: t, gemvWorkgroup: wg, gemvGroupsPerIteration: u } });
      }
    }
  }
  for (const [i, s] of shapes.entries()) {
    say(`Kernel ${s.name} (${s.rows} x ${s.cols} q4)…`);
    const w = await ops.uploadWeight(randomQ4(s.rows, s.cols, 1000 + i), `bench.${s.name}`);
    try {
      const x = new Float32Array(s.cols).fill(0.5);
      const bytes = tensorBytes('q4', s.rows, s.cols);
      const calls = Math.max(2, Math.min(200, Math.round(target / bytes)));
      for (const variant of variants) {
        ops.tuning = { ...defaults, ...variant.shape, gemv: variant.mode };
        const run = async (count: number): Promise<{ seconds: number; kernel: string }> => {
          ops.setProfiling(useTimestamps);
          const input = ops.upload(x, 1, s.cols);
          for (let c = 0; c < count; c++) ops.matmul(input, w, s.activation ? { activation: s.activation } : {});
          const t0 = performance.now();
          await ops.flush();
          await ctx.device.queue.onSubmittedWorkDone();
          const wall = (performance.now() - t0) / 1000;
          const profile = useTimestamps ? ops.profile() : [];
          ops.setProfiling(false);
          const gpu = profile.reduce((sum, e) => sum + e.seconds, 0);
          return { seconds: useTimestamps && gpu > 0 ? gpu : wall, kernel: profile[0]?.kernel ?? '' };
        };
        await run(1); // pipeline compile and first touch
        let best = { seconds: Infinity, kernel: '' };
        for (let r = 0; r < 2; r++) {
          const t = await run(calls);
          if (t.seconds < best.seconds) best = t;
        }
        const bytesPerSec = (bytes * calls) / best.seconds;
        const v = variant.shape;
        const shape = v ? ` T=${v.gemvThreadsPerRow} WG=${v.gemvWorkgroup} U=${v.gemvGroupsPerIteration}` : '';
        out.push({
          name: s.name,
          kernel: `${best.kernel || 'matmulQ4 GEMV'}${shape}`,
          rows: s.rows,
          cols: s.cols,
          format: 'q4',
          bytes,
          calls,
          microsPerCall: (best.seconds / calls) * 1e6,
          bytesPerSec,
          percentOfRead: (100 * bytesPerSec) / readBps,
          timing: useTimestamps ? 'timestamp-query' : 'wall-clock',
          chosen: variant.shape === null && variant.mode === ops.gemv,
          gemv: variant.mode,
        });
      }
    } finally {
      ops.tuning = defaults;
      ops.releaseWeights({ embedding: w, layers: [], finalNorm: { weight: w }, lmHead: w });
    }
  }
  return out;
}

function promptIds(config: GlmConfig, n: number): number[] {
  const next = rng(77);
  const top = Math.min(config.vocabSize, 20000);
  const ids = Array.from({ length: n }, () => next() % top);
  if (config.family === 'chatglm1') {
    const { gmask, bos } = config.tokens;
    if (n < 3 || gmask === undefined || bos === undefined) throw new RangeError('a ChatGLM-6B prompt needs at least 3 tokens and [gMASK]/sop ids');
    ids[n - 2] = gmask;
    ids[n - 1] = bos;
  }
  return ids;
}

/** FLOPs (2 per multiply-add) of a prompt of n tokens from an empty cache: matmuls, causal attention, one lm_head row. */
export function prefillFlops(config: GlmConfig, n: number): number {
  const { hiddenSize: hidden, numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: F } = config;
  const upRows = config.mlp === 'swiglu' ? 2 * F : F;
  const perToken = (H + 2 * Hkv) * D * hidden + hidden * H * D + upRows * hidden + hidden * F;
  const attention = 2 * H * D * ((n * (n + 1)) / 2); // QK and PV over the visible keys
  return 2 * (config.numLayers * (n * perToken + attention) + config.vocabSize * hidden);
}

async function measureModel(
  ops: GpuOps, config: GlmConfig, options: BenchOptions, readBps: number, fmaFlops: number, say: (m: string) => void,
): Promise<ModelResult> {
  const { weights, bytes, gguf } = await uploadRandomModel(ops, config, say, options.ggufType);
  const prompt = promptIds(config, Math.max(config.family === 'chatglm1' ? 3 : 1, options.promptTokens));
  const decodeTokens = Math.max(2, options.decodeTokens);
  const session = new ModelSession(ops, config, weights, prompt.length + decodeTokens + 2);
  // Prefill and profiled steps: greedy draw on the GPU (a 4-byte read-back), falling back to reading the logits.
  const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, recentIds: new Int32Array(0), seed: 0, step: 0 };
  const step = async (ids: number[]) => {
    const logits = await session.append(ids, 'last');
    const onDevice = await ops.sampleNext(logits, greedy);
    if (onDevice !== null) return onDevice;
    const values = await ops.read(logits);
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
    return best;
  };
  try {
    say('Warming up (compiling the kernels)…');
    const first = await step(prompt);
    await step([first]);

    // The median of a few prefills: a single one has shown a slow outlier (the first large GEMM of a run).
    const prefillSamples: number[] = [];
    let next = 0;
    for (let i = 0; i < PREFILL_RUNS; i++) {
      say(`Prefill of ${prompt.length} tokens (${i + 1}/${PREFILL_RUNS})…`);
      session.reset();
      const tp = performance.now();
      next = await step(prompt);
      prefillSamples.push((performance.now() - tp) / 1000);
    }
    const prefillSec = [...prefillSamples].sort((a, b) => a - b)[Math.floor(PREFILL_RUNS / 2)]!;

    // Decode as the engine does (decode-steps.ts): greedy draws on the GPU, each id fed to the next step,
    // pipelined unless options.pipeline is false. Step 1 reruns the prompt's last token; each later step
    // runs the id drawn by the one before.
    say(`Decoding ${decodeTokens} tokens (${options.pipeline === false ? 'simple steps' : 'pipelined steps'})…`);
    session.truncate(prompt.length - 1);
    const td = performance.now();
    const promptLogits = await session.append(prompt.slice(-1), 'last');
    const firstRecordMs = performance.now() - td;
    const steps = await decodeSteps(
      {
        session: session as unknown as ModelSession<unknown, unknown, unknown>,
        params: { temperature: 0 },
        seed: 0,
        maxTokens: decodeTokens,
        topLogprobs: null,
        adjustments: () => null,
        cpuPerToken: false,
        pipeline: options.pipeline !== false,
      },
      promptLogits,
    );
    try {
      let draw = await steps.first();
      for (let i = 1; i < decodeTokens; i++) draw = await steps.next(draw.id);
      next = draw.id;
    } finally {
      await steps.end();
    }
    const decodeSec = (performance.now() - td) / 1000;
    // The simple step records its sampler inside the wait (sampleNext records, submits and waits in one call).
    const decodeEncodeSec = (firstRecordMs + steps.times.recordMs) / 1000;
    const stats = ops.stats();

    let decodeProfile: ModelResult['decodeProfile'] = null;
    if (ops.hasTimestampQueries) {
      const tokens = Math.min(8, decodeTokens);
      say(`Profiling ${tokens} decode steps (timestamps per dispatch)…`);
      session.truncate(prompt.length);
      ops.setProfiling(true);
      for (let i = 0; i < tokens; i++) next = await step([next % Math.min(config.vocabSize, 20000)]);
      const entries = ops.profile();
      ops.setProfiling(false);
      decodeProfile = {
        tokens,
        gpuMsPerToken: (entries.reduce((sum, e) => sum + e.seconds, 0) / tokens) * 1000,
        kernels: entries.map((e) => ({ kernel: e.kernel, callsPerToken: e.calls / tokens, microsPerToken: (e.seconds / tokens) * 1e6 })),
      };
    }

    const perLayer = config.numLayers > 0 ? weights.layers.reduce((s, l) => s + layerBytes(l), 0) / config.numLayers : 0;
    const head = weights.lmHead.bytes + weights.finalNorm.weight.bytes + (weights.finalNorm.bias?.bytes ?? 0);
    const bytesPerToken = perLayer * config.numLayers + head;
    const tps = decodeTokens / decodeSec;
    const msPerToken = (decodeSec / decodeTokens) * 1000;
    // Extrapolate: time per token = fixed (head, sampling) + per-layer x layers.
    const fullLayers = PRESETS[options.preset].numLayers;
    const perLayerSec = (decodeSec / decodeTokens) * (perLayer * config.numLayers / bytesPerToken) / config.numLayers;
    const fixedSec = decodeSec / decodeTokens - perLayerSec * config.numLayers;
    return {
      preset: options.preset,
      family: config.family,
      layers: config.numLayers,
      presetLayers: fullLayers,
      vocab: config.vocabSize,
      hidden: config.hiddenSize,
      weightBytes: bytes,
      bytesPerToken,
      gguf,
      prefill: {
        tokens: prompt.length,
        seconds: prefillSec,
        tokensPerSec: prompt.length / prefillSec,
        flops: prefillFlops(config, prompt.length),
        flopsPerSec: prefillFlops(config, prompt.length) / prefillSec,
        percentOfFma: (100 * prefillFlops(config, prompt.length)) / prefillSec / fmaFlops,
        ttftSeconds: prefillSec,
        samples: prefillSamples,
      },
      decodeProfile,
      decode: {
        tokens: decodeTokens,
        seconds: decodeSec,
        tokensPerSec: tps,
        bytesPerSec: bytesPerToken * tps,
        percentOfRead: (100 * bytesPerToken * tps) / readBps,
        msPerToken,
        dispatchesPerStep: stats.dispatches,
        encodeMsPerToken: (decodeEncodeSec / decodeTokens) * 1000,
        encodeMicrosPerDispatch: stats.dispatches > 0 ? (decodeEncodeSec / decodeTokens / stats.dispatches) * 1e6 : 0,
        pipelined: steps.pipelined,
        gemv: ops.gemv,
        gemvQx: ops.gemvQx,
        waitMsPerToken: steps.times.waitMs / decodeTokens,
      },
      gpuBytes: { allocated: stats.bytesAllocated, weights: stats.weightBytes, kvCache: stats.kvCacheBytes, pool: stats.poolBytes },
      fullModelDecodeEstimate: 1 / (fixedSec + perLayerSec * fullLayers),
    };
  } finally {
    // The session's KV cache goes with ops.dispose() at the end of the run.
    ops.releaseWeights(weights);
  }
}

function layerBytes(l: LayerWeights<GpuWeight>): number {
  let s = 0;
  const add = (w: GpuWeight | undefined) => (s += w?.bytes ?? 0);
  for (const part of [l.attnNorm, l.qkv, l.attnOut, l.postAttnNorm, l.mlpNorm, l.mlpUp, l.mlpDown, l.postMlpNorm]) {
    if (!part) continue;
    add(part.weight);
    add(part.bias);
  }
  return s;
}
