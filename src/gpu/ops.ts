// GpuOps: the Ops backend on WebGPU. Each method checks shapes in TS (RangeError, same messages as
// CpuOps where they overlap), allocates its output from the pool and records one or more dispatches.
//
// A "step" is everything recorded between two submits: one command encoder and ONE compute pass that
// stays open across ops. read(x) ends the pass, copies x to a staging buffer, writes the step's
// uniform slots, submits once and maps; flush() submits without reading. After the submit every buffer
// the step took from the pool goes back to it (the queue runs submissions in order, so the next step
// cannot overwrite them early) and the step's GpuTensor handles become invalid.
//
// Kernels (shaders/*.wgsl, one per file; pipelines.ts prepends shaders/lib): matmulF32/F16/Q4/Q8 in a
// .gemv (one token) and a .gemm (tiled) variant, both with the bias + residualScale·residual epilogue
// fused; ropeKvAppend (split qkv + RoPE on q and k + K/V append, one dispatch); attention (prefill and
// decode, online softmax over key tiles, GQA/MQA by indexing); rmsNorm, layerNorm, swiglu, gelu, add,
// embedF32/F16/Q4/Q8 (row gather, dequantized on the GPU) and copyRows (sliceRows).
import { DeviceLostError, GlmError, InvalidArgumentError } from '../errors';
import { f16ArrayToF32, f32ArrayToF16 } from '../formats/dtype';
import { ropeInvFreq } from '../cpu/ops';
import type { GlmConfig } from '../model/config';
import type { DeviceSample, DeviceSampleExtras, DeviceSampleParams, DeviceToken, DeviceTokenRef, ForwardBatch, MatmulEpilogue, Ops } from '../model/ops';
import { mergeLogprobs } from './logprobs';
import { GPU_SAMPLE_INVALID_ID, GPU_TOP_K_CAP, GpuSampler } from './sampling';
import type { HostWeight } from '../model/weights';
import { mapWeights, type ModelWeights } from '../model/weights-types';
import type { GpuContext } from './device';
import { gemmTiling } from './gemm-tiling';
import { writeGemv4Params } from './gemv-params';
import { BufferPool, GpuAllocator, ParamWriter, UNIFORM_SLOT_BYTES, UniformSlots, storageUsage } from './buffers';
import { PipelineCache, type Pipeline, type PipelineRequest } from './pipelines';
import { ACT_BYTES, type GpuActDtype, type GpuKvCache, type GpuOpsStats, type GpuTensor, type GpuWeight } from './tensor';
import { uploadWeight, type UploadWeightOptions } from './weights';
import type { VisionOps } from '../model/vision';

/** The caller asked for something this device cannot do (e.g. f16 without `shader-f16`). */
export class GpuFeatureUnavailableError extends GlmError {
  override name = 'GpuFeatureUnavailableError';
}

export interface GpuOpsOptions {
  /**
   * Store activations and the KV cache as f16 (arithmetic stays f32). Needs the device feature
   * `shader-f16`; without it the constructor throws GpuFeatureUnavailableError. Default: float32.
   */
  f16?: boolean;
  /**
   * Largest weight binding, in bytes; default and upper bound: the device's maxStorageBufferBindingSize.
   * Tests lower it to force row-splitting of small matrices.
   */
  maxBindingBytes?: number;
  /**
   * Submit the step's work so far every this many dispatches (default 48), so the GPU starts on the
   * first layers while the CPU records the rest; 0 = one submit per step.
   */
  submitEvery?: number;
  /** Overrides of the decode GEMV's launch shape (the bench's sweep); normally chosen per matrix. */
  tuning?: GpuTuning;
  /**
   * The decode GEMV's arithmetic on Q4 and QX weights (issue #17): 'int8' quantizes each 32-column group of
   * activations to int8 and multiplies with dot4I8Packed (lib/gemv_group_int8.wgsl); 'float' is the f32
   * kernel. Default 'int8' where the WGSL language feature packed_4x8_integer_dot_product exists, else
   * 'float'; asking for 'int8' without it throws GpuFeatureUnavailableError. f32 / f16 / q8 stay float.
   */
  gemv?: GemvArithmetic;
  /**
   * The same for QX weights (GGUF K-quants, Q5: lib/weights_qx_int8.wgsl). Default 'float': with int8,
   * three of the llama.cpp GGUF fixtures (tiny random models with near-tied logits) decode other greedy
   * ids than llama.cpp's float evaluation, so it stays opt-in until its speed is measured (bench --gemv-qx).
   */
  gemvQx?: GemvArithmetic;
}

export type GemvArithmetic = 'int8' | 'float';

export interface GpuTuning {
  gemvThreadsPerRow?: number;
  gemvWorkgroup?: number;
  /** Groups a lane of the decode GEMV takes per loop iteration (1, 2 or 4; GROUPS_PER_ITERATION). */
  gemvGroupsPerIteration?: number;
  /** Overrides GpuOpsOptions.gemv (the bench times both in one run). */
  gemv?: GemvArithmetic;
  /** Overrides GpuOpsOptions.gemvQx. */
  gemvQx?: GemvArithmetic;
}

/** The WGSL language feature the int8 decode GEMV needs. */
export const INT8_DOT_WGSL_FEATURE = 'packed_4x8_integer_dot_product';

/** GPU time of the profiled dispatches, summed per kernel and matrix shape. */
export interface GpuProfileEntry {
  kernel: string;
  calls: number;
  seconds: number;
}

// Workgroup shapes (WGSL override constants). Powers of two where a tree reduction needs it.
const GEMV_WORKGROUP = 128;
/** Lanes per GEMV row set, at most (one NVIDIA warp; more only adds reduction steps). */
const GEMV_MAX_THREADS_PER_ROW = 32;
/** ROWS_PER_THREAD in matmul_gemv.wgsl (the components of a vec4 accumulator). */
const GEMV_ROWS_PER_THREAD = 4;
/** Storage buffers of matmulQ4.gemv4rope (x, q, bias, K, 3 weight buffers, norm gain, V, inv_freq). */
const ROPE_GEMV_STORAGE_BUFFERS = 10;
/**
 * Most key tiles (of ATTENTION_TILE_KEYS) whose partials matmulQ4.gemv4merge merges itself: 2048 keys.
 * Each lane reads tiles · 34 floats per 32 columns from L2 there; past this the merge kernel is cheaper.
 */
const MERGE_MAX_TILES = 16;
/**
 * Norms run one workgroup per token: for decode that is a single workgroup, so it is as wide as the
 * device allows (up to 1024), and each invocation has few loads to wait for.
 */
const NORM_MAX_WORKGROUP = 1024;
const ELEMENTWISE_WORKGROUP = 256;
const ATTENTION_WORKGROUP = 64;
const ATTENTION_MAX_D_PER_INVOCATION = 4; // MAX_D_PER_INVOCATION in attention.wgsl
/** Keys per workgroup of the decode attention (attention_split.wgsl). */
const ATTENTION_TILE_KEYS = 128;
/** Default GpuOpsOptions.submitEvery: ~5 layers of a GLM block per submit. */
const SUBMIT_EVERY = 48;
/** Timestamp pairs per step in profile mode (dispatches past this are not timed). */
const PROFILE_MAX_DISPATCHES = 2048; // a query set holds at most 4096 queries

/** How long a failed map waits for device.lost to say whether the device is the cause. */
const LOST_GRACE_MS = 250;

const WEIGHT_FORMAT_CODES = { f32: 0, f16: 1, q4: 2, q8: 3, qx: 4 } as const;
/** formatCode() values are below this (QX layouts take 8..63), so pipeline variants multiply by it. */
const FORMAT_CODE_COUNT = 64;

function sameBuffers(a: readonly GPUBuffer[], b: readonly GPUBuffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The sampler's verdict: an id, or the marker written when every logit was -inf or NaN. */
function checkedId(id: number): number {
  if (id === GPU_SAMPLE_INVALID_ID) throw new GlmError('the GPU sampler found no finite logit (all -inf or NaN)');
  return id;
}

/** GpuOps' DeviceTokenRef: the sampler's result buffer, readable by the embed of step `step`. */
interface GpuTokenRef extends DeviceTokenRef {
  owner: GpuOps;
  buffer: GPUBuffer;
  step: number;
}

// Step ids are unique across GpuOps instances, so a tensor of another instance is refused like a stale one.
let nextStep = 1;

export class GpuOps implements Ops<GpuTensor, GpuWeight, GpuKvCache>, VisionOps<GpuTensor, GpuWeight> {
  readonly name = 'webgpu';
  /** Storage type of activations and KV caches. */
  readonly act: GpuActDtype;
  readonly maxBindingBytes: number;

  private readonly device: GPUDevice;
  private readonly alloc: GpuAllocator;
  private readonly pool: BufferPool;
  private readonly uniforms: UniformSlots;
  private readonly pipelines: PipelineCache;
  private readonly maxWorkgroupsPerDimension: number;
  private readonly normWorkgroup: number;
  private readonly maxStorageBinding: number;
  private readonly maxBufferSize: number;
  private readonly maxStorageBuffers: number;
  private readonly dummy: GPUBuffer;
  private readonly invFreqs = new Map<string, GPUBuffer>();
  private readonly pipelineMemo = new Map<string, Map<number, Pipeline>>();
  /** The decode GEMV's launch shape overrides (the bench's sweep sets them between steps). */
  tuning: GpuTuning;
  /** The decode GEMV's arithmetic on Q4 weights unless tuning.gemv overrides it (GpuOpsOptions.gemv). */
  readonly gemv: GemvArithmetic;
  /** The same for QX weights (GpuOpsOptions.gemvQx). */
  readonly gemvQx: GemvArithmetic;
  private readonly hasInt8Dot: boolean;
  private readonly submitEvery: number;
  private profiler: { querySet: GPUQuerySet; resolve: GPUBuffer; labels: string[]; totals: Map<string, GpuProfileEntry> } | undefined;
  /** Whether setProfiling(true) can work (the device has `timestamp-query`). */
  readonly hasTimestampQueries: boolean;
  private sinceSubmit = 0;
  private profiling = false;
  private lostError: DeviceLostError | undefined;
  private sampler: GpuSampler | undefined;
  /** A second sampler whose top-k pass gives the logprobs (its parameters differ from the draw's). */
  private logprobSampler: GpuSampler | undefined;
  private disposed = false;
  private readonly lost: Promise<DeviceLostError>;

  private step = nextStep++;
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private stepBuffers: GPUBuffer[] = [];
  private dispatches = 0;
  private lastDispatches = 0;
  private steps = 0;
  private weightBytes = 0;
  private kvCacheBytes = 0;

  /** Whether `{ gemv: 'int8' }` can be used on this device (WGSL has packed_4x8_integer_dot_product). */
  static supportsInt8Gemv(ctx: GpuContext): boolean {
    return ctx.wgslFeatures?.has(INT8_DOT_WGSL_FEATURE) ?? false;
  }

  /** Whether `{ f16: true }` can be used on this device. */
  static supportsF16(ctx: GpuContext): boolean {
    return ctx.features.has('shader-f16') && ctx.device.features.has('shader-f16');
  }

  constructor(ctx: GpuContext, options: GpuOpsOptions = {}) {
    if (options.f16 && !GpuOps.supportsF16(ctx)) {
      throw new GpuFeatureUnavailableError(
        `f16 activations need the WebGPU feature "shader-f16", which this device (${ctx.adapter.description || ctx.adapter.vendor || 'unknown adapter'}) ` +
          'does not have. Use the float32 path ({ f16: false }); under Node on NVIDIA, Dawn exposes it with the toggle ' +
          'enable-dawn-features=vulkan_enable_f16_on_nvidia.',
      );
    }
    this.hasInt8Dot = GpuOps.supportsInt8Gemv(ctx);
    for (const key of ['gemv', 'gemvQx'] as const) {
      const v = options[key];
      if (v !== undefined && v !== 'int8' && v !== 'float') throw new InvalidArgumentError(`${key} must be 'int8' or 'float', got ${JSON.stringify(v)}`);
      if (v === 'int8' && !this.hasInt8Dot) throw this.noInt8Dot(ctx.adapter.description || ctx.adapter.vendor);
    }
    this.gemv = options.gemv ?? (this.hasInt8Dot ? 'int8' : 'float');
    this.gemvQx = options.gemvQx ?? 'float';
    this.device = ctx.device;
    this.act = options.f16 ? 'f16' : 'f32';
    this.maxStorageBinding = ctx.limits.maxStorageBufferBindingSize;
    this.maxBufferSize = ctx.limits.maxBufferSize;
    this.maxStorageBuffers = ctx.limits.maxStorageBuffersPerShaderStage;
    const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    if (options.maxBindingBytes !== undefined && !(options.maxBindingBytes >= 16)) {
      throw new InvalidArgumentError(`maxBindingBytes must be at least 16, got ${options.maxBindingBytes}`);
    }
    this.maxBindingBytes = Math.min(options.maxBindingBytes ?? maxBinding, maxBinding);
    this.maxWorkgroupsPerDimension = ctx.limits.maxComputeWorkgroupsPerDimension;
    const widest = Math.min(NORM_MAX_WORKGROUP, ctx.limits.maxComputeInvocationsPerWorkgroup, ctx.limits.maxComputeWorkgroupSizeX);
    this.normWorkgroup = 2 ** Math.floor(Math.log2(widest)); // the tree reduction needs a power of two
    this.alloc = new GpuAllocator(this.device, ctx.limits.maxBufferSize);
    this.pool = new BufferPool(this.alloc);
    this.uniforms = new UniformSlots(this.alloc);
    this.pipelines = new PipelineCache(this.device);
    this.dummy = this.alloc.create(16, storageUsage(), 'unused binding');
    this.tuning = options.tuning ?? {};
    this.submitEvery = options.submitEvery ?? SUBMIT_EVERY;
    this.hasTimestampQueries = ctx.features.has('timestamp-query');
    this.lost = ctx.lost;
    void ctx.lost.then((err) => {
      this.lostError = err;
    });
  }

  // ---------------------------------------------------------------- weights, cache, transfers

  /** Uploads one host weight (usable as loadModelFolder's `convert`). Throws GpuOutOfMemoryError naming it. */
  async uploadWeight(host: HostWeight, name: string, options: UploadWeightOptions = {}): Promise<GpuWeight> {
    this.alive();
    // Vectors are never split (kernels bind them whole), so only the device's real limit applies to them.
    const vector = host.dtype === 'f32' && host.shape.length === 1;
    const limit = vector ? Math.min(this.maxStorageBinding, this.maxBufferSize) : this.maxBindingBytes;
    const w = await uploadWeight(this.device, this.alloc, host, name, limit, options);
    this.weightBytes += w.bytes;
    return w;
  }

  /** Uploads a whole weight set, one tensor at a time; a tied lm head stays one upload. */
  async uploadWeights(weights: ModelWeights<HostWeight>, options: UploadWeightOptions = {}): Promise<ModelWeights<GpuWeight>> {
    const todo: [string, HostWeight][] = [];
    mapWeights(weights, (w, path) => todo.push([path, w]));
    const done = new Map<string, GpuWeight>();
    for (const [path, host] of todo) done.set(path, await this.uploadWeight(host, path, options));
    return mapWeights(weights, (_, path) => done.get(path)!);
  }

  /** Frees the GPU buffers of weights uploaded by this GpuOps. */
  releaseWeights(weights: ModelWeights<GpuWeight>): void {
    const seen = new Set<GpuWeight>();
    mapWeights(weights, (w) => seen.add(w));
    for (const w of seen) this.releaseWeight(w);
  }

  /** Frees one uploaded weight (e.g. a layer moved to the CPU after an out-of-memory error). */
  releaseWeight(w: GpuWeight): void {
    for (const p of w.parts) for (const b of p.buffers) this.alloc.destroy(b);
    this.weightBytes -= w.bytes;
  }

  createKvCache(config: GlmConfig, capacity: number): GpuKvCache {
    this.alive();
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`KV cache capacity must be a positive integer, got ${capacity}`);
    const width = config.numKvHeads * config.headDim;
    const bytes = capacity * width * ACT_BYTES[this.act];
    if (bytes > this.maxStorageBinding) {
      throw new RangeError(
        `KV cache of ${capacity} tokens x ${width} values needs ${bytes} bytes per layer, over this device's ` +
          `maxStorageBufferBindingSize (${this.maxStorageBinding}); use a shorter context`,
      );
    }
    // Storage bindings must be a multiple of 4 bytes (an f16 cache with an odd width is not).
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const make = (kind: string) =>
      Array.from({ length: config.numLayers }, (_, l) => this.alloc.create(size, storageUsage(), `KV cache layer ${l} ${kind} (${bytes} bytes)`));
    const cache = { capacity, width, dtype: this.act, k: make('K'), v: make('V') };
    this.kvCacheBytes += 2 * config.numLayers * size;
    return cache;
  }

  releaseKvCache(cache: GpuKvCache): void {
    for (const b of [...cache.k, ...cache.v]) {
      this.kvCacheBytes -= b.size;
      this.alloc.destroy(b);
    }
  }

  /** A float32 host array as a tensor of the current step (e.g. a hidden state crossing from CPU layers). */
  upload(data: Float32Array, rows: number, cols: number): GpuTensor {
    this.alive();
    if (data.length !== rows * cols) throw new RangeError(`[${rows}, ${cols}] tensor needs ${rows * cols} values, got ${data.length}`);
    const t = this.newTensor(rows, cols, 'uploaded tensor');
    const bytes = this.act === 'f16' ? f32ArrayToF16(data) : data;
    // writeBuffer needs a multiple of 4 bytes; pool buffers are at least 256, so pad the source.
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.device.queue.writeBuffer(t.buffer, 0, padded);
    return t;
  }

  async read(x: GpuTensor): Promise<Float32Array> {
    this.alive();
    this.use(x, 'read');
    const count = x.rows * x.cols;
    const bytes = Math.ceil((count * ACT_BYTES[x.dtype]) / 4) * 4;
    const staging = this.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    const raw = await this.submitAndMap([{ src: x.buffer, dst: staging, bytes }]);
    return this.toF32(raw[0]!, count, x.dtype);
  }

  /**
   * Records extra work into the step's open compute pass, after everything recorded so far (e.g. the
   * GPU sampler of src/gpu/sampling.ts over a logits tensor of this step: `tensor.buffer`). The callback
   * must leave the pass open; parameters it writes with queue.writeBuffer land before the step's submit.
   */
  encode(record: (pass: GPUComputePassEncoder) => void): void {
    this.alive();
    record(this.openPass());
  }

  /**
   * The next token from a [1, vocab] logits tensor of this step, drawn on the GPU (src/gpu/sampling.ts):
   * the step reads back 4 bytes instead of the logits (f16 logits are widened on the GPU first). Null when
   * the sampler cannot take the request (top-k over its cap): the caller reads the logits instead.
   */
  async sampleNext(logits: GpuTensor, params: DeviceSampleParams): Promise<number | null> {
    this.alive();
    if (logits.rows !== 1) throw new RangeError(`sampleNext: logits must be one row, got ${logits.rows}`);
    if (params.topK > GPU_TOP_K_CAP && params.topK < logits.cols) return null;
    const sampler = await this.encodeSample(logits, params);
    return checkedId(new Uint32Array(await this.readBuffer(sampler.result, 4))[0]!);
  }

  /**
   * Ops.sampleAhead (pipelined decode): the draw of sampleNext, then the step is submitted and this
   * returns without waiting. The id stays in the sampler's `result` buffer, which the next step's embed
   * reads (its dispatch runs before that step's own draw overwrites it, queue and pass order); its 4 bytes
   * are copied to a MAP_READ buffer from the pool and mapped asynchronously. At most a step or two are in
   * flight, so the pool's MAP_READ buffers act as a small ring.
   */
  async sampleAhead(logits: GpuTensor, params: DeviceSampleParams): Promise<DeviceToken | null> {
    this.alive();
    if (logits.rows !== 1) throw new RangeError(`sampleAhead: logits must be one row, got ${logits.rows}`);
    if (params.topK > GPU_TOP_K_CAP && params.topK < logits.cols) return null;
    const sampler = await this.encodeSample(logits, params);
    const staging = this.pool.acquire(4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'id readback');
    // submitAndMap submits and recycles the step synchronously, before its first await.
    const read = this.submitAndMap([{ src: sampler.result, dst: staging, bytes: 4 }]);
    const ref: GpuTokenRef = { kind: 'device-token', owner: this, buffer: sampler.result, step: this.step };
    return { id: read.then(([raw]) => checkedId(new Uint32Array(raw!)[0]!)), ref };
  }

  /** Records the sampler over [1, vocab] logits of this step (widening f16 logits first); the id lands in `result`. */
  private async encodeSample(logits: GpuTensor, params: DeviceSampleParams): Promise<GpuSampler> {
    if (!this.sampler || this.sampler.vocabSize !== logits.cols) {
      this.sampler?.destroy();
      this.sampler = await GpuSampler.create(this.device, logits.cols);
    }
    const sampler = this.sampler;
    let source = logits.buffer;
    if (logits.dtype === 'f16') {
      // The sampler reads f32: widen the logits first (one dispatch) rather than read them back.
      const count = logits.cols;
      source = this.scratch(count * 4, 'f32 logits');
      this.dispatch(
        this.pipeline('toF32', 0, () => ({ kernel: 'toF32', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
        (p) => p.u32(count),
        [logits.buffer, source],
        this.grid1d(Math.ceil(count / ELEMENTWISE_WORKGROUP)),
      );
    }
    this.encode((pass) => sampler.encode(pass, { buffer: source, offset: 0 }, params));
    return sampler;
  }

  /**
   * sampleNext with a request's logit adjustments applied on the GPU first (shaders/logit_adjust.wgsl:
   * bias, penalties, JSON mask) and, when asked, the logprobs computed there: the step reads back the id,
   * the chosen logit, and the logprob pass's chunk sums and candidates (a few KiB), not the logits.
   */
  async sampleNextDetailed(logits: GpuTensor, params: DeviceSampleParams & DeviceSampleExtras): Promise<DeviceSample | null> {
    this.alive();
    if (logits.rows !== 1) throw new RangeError(`sampleNextDetailed: logits must be one row, got ${logits.rows}`);
    const vocab = logits.cols;
    if (params.topK > GPU_TOP_K_CAP && params.topK < vocab) return null;
    const topN = params.topLogprobs;
    if (topN !== null && !(vocab > Math.max(1, topN))) return null;
    if (!this.sampler || this.sampler.vocabSize !== vocab) {
      this.sampler?.destroy();
      this.sampler = await GpuSampler.create(this.device, vocab);
    }
    const sampler = this.sampler;
    // Adjusted f32 logits (also the f16 -> f32 widening the sampler needs).
    const adjusted = this.scratch(vocab * 4, 'adjusted logits');
    const adj = params.adjust;
    const numBias = adj ? adj.biasIds.length : 0;
    const bias = new Uint32Array(Math.max(2, numBias * 2));
    if (adj) {
      const values = new Uint32Array(adj.biasValues.buffer, adj.biasValues.byteOffset, adj.biasValues.length);
      for (let j = 0; j < numBias; j++) {
        bias[2 * j] = adj.biasIds[j]!;
        bias[2 * j + 1] = values[j]!;
      }
    }
    const mask = adj?.mask ?? null;
    this.dispatch(
      this.pipeline('logitAdjust', 0, () => ({ kernel: 'logitAdjust', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
      (p) => p.u32(vocab).u32(numBias).u32(mask ? 1 : 0).u32(0xff800000),
      [logits.buffer, adjusted, this.stepData(bias, 'logit bias'), mask ? this.stepData(mask, 'logit mask') : this.dummy],
      this.grid1d(Math.ceil(vocab / ELEMENTWISE_WORKGROUP)),
    );
    this.encode((pass) => sampler.encode(pass, { buffer: adjusted, offset: 0 }, params));
    if (topN === null) {
      const id = new Uint32Array(await this.readBuffer(sampler.result, 4))[0]!;
      if (id === GPU_SAMPLE_INVALID_ID) throw new GlmError('the GPU sampler found no finite logit (all -inf or NaN)');
      return { id };
    }
    if (!this.logprobSampler || this.logprobSampler.vocabSize !== vocab) {
      this.logprobSampler?.destroy();
      this.logprobSampler = await GpuSampler.create(this.device, vocab);
    }
    const lp = this.logprobSampler;
    const k = Math.max(1, topN);
    // Top-k mode at temperature 1 without penalty: per-chunk max, sum exp and top k of the adjusted logits.
    const plain = { temperature: 1, topK: k, topP: 1, repetitionPenalty: 1, recentIds: new Int32Array(0), seed: 0, step: 0 };
    this.encode((pass) => lp.encode(pass, { buffer: adjusted, offset: 0 }, plain));
    const chosen = this.scratch(4, 'chosen logit');
    this.dispatch(
      this.pipeline('logprobGather', 0, () => ({ kernel: 'logprobGather' })),
      (p) => p.u32(vocab).u32(0xff800000),
      [adjusted, chosen, sampler.result],
      [1, 1, 1],
    );
    const usage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    const partialBytes = lp.numChunks * 16;
    const candidateBytes = lp.numChunks * k * 8;
    const [idRaw, chosenRaw, partialsRaw, candidatesRaw] = await this.submitAndMap([
      { src: sampler.result, dst: this.pool.acquire(4, usage, 'readback'), bytes: 4 },
      { src: chosen, dst: this.pool.acquire(4, usage, 'readback'), bytes: 4 },
      { src: lp.partials, dst: this.pool.acquire(partialBytes, usage, 'readback'), bytes: partialBytes },
      { src: lp.candidates, dst: this.pool.acquire(candidateBytes, usage, 'readback'), bytes: candidateBytes },
    ]);
    const id = new Uint32Array(idRaw!)[0]!;
    if (id === GPU_SAMPLE_INVALID_ID) throw new GlmError('the GPU sampler found no finite logit (all -inf or NaN)');
    const logprobs = mergeLogprobs(new Uint32Array(partialsRaw!), new Uint32Array(candidatesRaw!), k, topN, new Float32Array(chosenRaw!)[0]!);
    return { id, logprobs };
  }

  /** Ends the step like read(), but returns `bytes` raw bytes of any buffer (e.g. a sampled id). */
  async readBuffer(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    this.alive();
    const size = Math.ceil(bytes / 4) * 4;
    if (!Number.isInteger(bytes) || bytes < 1 || size > buffer.size) throw new RangeError(`readBuffer: ${bytes} bytes of a ${buffer.size}-byte buffer`);
    const staging = this.pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback');
    const [raw] = await this.submitAndMap([{ src: buffer, dst: staging, bytes: size }]);
    return raw!.slice(0, bytes);
  }

  /** Ops.settle: submits what the step recorded so far (the step goes on) and waits until the GPU ran it. */
  async settle(): Promise<void> {
    this.alive();
    this.submitPartial();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Submits the recorded step without reading anything (e.g. a prefill whose logits are not needed). */
  async flush(): Promise<void> {
    this.alive();
    await this.submitAndMap([]);
  }

  /** Reads layer `layer` of a KV cache back (tests, debugging): [capacity, width] each. Submits the step. */
  async readKvCache(cache: GpuKvCache, layer: number): Promise<{ k: Float32Array; v: Float32Array }> {
    this.alive();
    this.checkLayer(cache, layer);
    const count = cache.capacity * cache.width;
    const bytes = Math.ceil((count * ACT_BYTES[cache.dtype]) / 4) * 4;
    const usage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    const sk = this.pool.acquire(bytes, usage, 'KV readback');
    const sv = this.pool.acquire(bytes, usage, 'KV readback');
    const [k, v] = await this.submitAndMap([
      { src: cache.k[layer]!, dst: sk, bytes },
      { src: cache.v[layer]!, dst: sv, bytes },
    ]);
    return { k: this.toF32(k!, count, cache.dtype), v: this.toF32(v!, count, cache.dtype) };
  }

  stats(): GpuOpsStats {
    return {
      dispatches: this.lastDispatches,
      steps: this.steps,
      bytesAllocated: this.alloc.bytes,
      weightBytes: this.weightBytes,
      kvCacheBytes: this.kvCacheBytes,
      poolBytes: this.pool.bytes,
    };
  }

  /**
   * Profile mode (the bench): GPU time of every dispatch from timestamp queries (needs `timestamp-query`).
   * Each dispatch then gets a compute pass of its own and steps are not split, which costs a little:
   * time whole steps with it off. Turning it on starts an empty profile; turning it off keeps the profile for profile().
   */
  setProfiling(on: boolean): void {
    this.alive();
    if (on && !this.hasTimestampQueries) {
      throw new GpuFeatureUnavailableError('profiling needs the WebGPU feature "timestamp-query", which this device does not have');
    }
    if (on && !this.profiler) {
      this.profiler = {
        querySet: this.device.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_MAX_DISPATCHES, label: 'GpuOps profile' }),
        resolve: this.alloc.create(16 * PROFILE_MAX_DISPATCHES, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'profile timestamps'),
        labels: [],
        totals: new Map(),
      };
    }
    if (on) this.profiler?.totals.clear();
    this.profiling = on;
  }

  /** Profile mode: GPU seconds per kernel and shape since setProfiling(true), largest first. */
  profile(): GpuProfileEntry[] {
    return [...(this.profiler?.totals.values() ?? [])].sort((a, b) => b.seconds - a.seconds);
  }

  /**
   * Frees every GPU buffer this GpuOps made (weights, KV caches, pools); later calls throw. The device
   * itself belongs to whoever created the GpuContext.
   */
  dispose(): void {
    if (this.disposed) return;
    this.pass?.end();
    this.encoder = undefined;
    this.pass = undefined;
    this.stepBuffers = [];
    this.invFreqs.clear();
    this.profiler?.querySet.destroy();
    this.logprobSampler?.destroy();
    this.logprobSampler = undefined;
    this.alloc.destroyAll();
    this.weightBytes = 0;
    this.kvCacheBytes = 0;
    this.pool.bytes = 0;
    this.disposed = true;
  }

  /** Destroys the free pool buffers (the step's live ones are kept). */
  trimPool(): void {
    this.pool.trim();
  }

  // ---------------------------------------------------------------- ops

  embed(table: GpuWeight, ids: Int32Array, onDevice?: DeviceTokenRef): GpuTensor {
    this.alive();
    if (table.shape.length !== 2) throw new RangeError(`embed: expected a 2-D table, got shape [${table.shape}]`);
    const { rows: vocab, cols: hidden } = table;
    const n = ids.length;
    if (n === 0) throw new RangeError('embed: no token ids');
    const fed = onDevice ? this.deviceToken(onDevice, n) : null;
    // A device-held id is checked when it is read back (the sampler writes only ids < vocab, or the invalid marker).
    if (!fed) {
      for (const id of ids) {
        if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
      }
    }
    const out = this.newTensor(n, hidden, 'embed output');
    const idBuffer = fed ?? this.stepData(new Uint32Array(ids.buffer, ids.byteOffset, n), 'token ids');
    const pipeline = this.pipeline('embed', this.formatCode(table), () => ({
      kernel: 'embed',
      format: table.format,
      constants: this.weightConstants(table, { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP }),
    }));
    for (const part of table.parts) {
      // Parts of a split table that hold none of the ids cost nothing (a device-held id may be in any part).
      if (!fed && !ids.some((id) => id >= part.rowStart && id < part.rowStart + part.rows)) continue;
      this.dispatch(
        pipeline,
        (p) => p.u32(n).u32(hidden).u32(part.rowStart).u32(part.rows),
        [idBuffer, out.buffer, ...this.weightBuffers(table, part.buffers)],
        this.grid1d(Math.ceil((n * hidden) / ELEMENTWISE_WORKGROUP)),
      );
    }
    return out;
  }

  rmsNorm(x: GpuTensor, weight: GpuWeight, eps: number): GpuTensor {
    this.alive();
    this.use(x, 'rmsNorm input');
    const w = this.vector(weight, x.cols, 'rmsNorm weight');
    const out = this.newTensor(x.rows, x.cols, 'rmsNorm output');
    this.dispatch(
      this.pipeline('rmsNorm', 0, () => ({ kernel: 'rmsNorm', constants: { WORKGROUP_SIZE: this.normWorkgroup } })),
      (p) => p.u32(x.rows).u32(x.cols).f32(eps).u32(0),
      [x.buffer, out.buffer, w],
      this.grid1d(x.rows),
    );
    return out;
  }

  layerNorm(x: GpuTensor, weight: GpuWeight, bias: GpuWeight | undefined, eps: number): GpuTensor {
    this.alive();
    this.use(x, 'layerNorm input');
    const w = this.vector(weight, x.cols, 'layerNorm weight');
    const b = bias ? this.vector(bias, x.cols, 'layerNorm bias') : this.dummy;
    const out = this.newTensor(x.rows, x.cols, 'layerNorm output');
    this.dispatch(
      this.pipeline('layerNorm', 0, () => ({ kernel: 'layerNorm', constants: { WORKGROUP_SIZE: this.normWorkgroup } })),
      (p) => p.u32(x.rows).u32(x.cols).f32(eps).u32(bias ? 1 : 0),
      [x.buffer, out.buffer, w, b],
      this.grid1d(x.rows),
    );
    return out;
  }

  /**
   * out = x·Wᵀ + bias + residualScale·residual in one dispatch per weight part: GEMV for one token
   * (matmulQ4.gemv4 for Q4 rows of whole groups, else matmul*.gemv), tiled GEMM (matmul*.gemm) for
   * more. An `rmsNorm` prologue and an `activation` epilogue are fused into matmulQ4.gemv4; elsewhere
   * each is a dispatch of its own.
   */
  matmul(x: GpuTensor, w: GpuWeight, epilogue: MatmulEpilogue<GpuTensor, GpuWeight, GpuKvCache> = {}): GpuTensor {
    this.alive();
    this.use(x, 'matmul input');
    if (w.shape.length !== 2) throw new RangeError(`expected a 2-D weight, got shape [${w.shape}]`);
    if (w.cols !== x.cols) throw new RangeError(`matmul: x has ${x.cols} columns but the weight [${w.shape}] expects ${w.cols}`);
    const n = x.rows;
    const outFeatures = w.rows;
    const { activation, residual } = epilogue;
    if (activation && residual) throw new RangeError('matmul: an activation epilogue cannot take a residual');
    const attend = epilogue.attention;
    if (attend) {
      const { attention: _, ...rest } = epilogue;
      if (rest.rmsNorm || rest.activation) throw new RangeError('matmul: an attention prologue cannot take an rmsNorm or an activation');
      if (!this.canFuseMerge(x, w, attend.batch, attend.config)) {
        return this.matmul(this.attention(x, attend.cache, attend.layer, attend.batch, attend.config), w, rest);
      }
      return this.matmulAttentionMerge(x, w, rest, attend);
    }
    const rope = epilogue.ropeKvAppend;
    if (rope) {
      if (residual || activation) throw new RangeError('matmul: a ropeKvAppend epilogue cannot take a residual or an activation');
      if (!this.canFuseRope(x, w, rope.batch, rope.config)) {
        const { ropeKvAppend: _, ...rest } = epilogue;
        return this.ropeKvAppend(this.matmul(x, w, rest), rope.cache, rope.layer, rope.batch, rope.config);
      }
    }
    if (activation === 'swiglu' && outFeatures % 2 !== 0) throw new RangeError(`swiglu: width ${outFeatures} is odd`);
    const bias = epilogue.bias ? this.vector(epilogue.bias, outFeatures, 'matmul bias') : this.dummy;
    if (residual) {
      this.use(residual, 'matmul residual');
      if (residual.rows !== n || residual.cols !== outFeatures) {
        throw new RangeError(`matmul: residual is [${residual.rows}, ${residual.cols}], expected [${n}, ${outFeatures}]`);
      }
    }
    // QX rows are always whole groups (GGUF blocks); its lib supplies the same pre-scaled group dot.
    const fastGemv = n === 1 && (w.format === 'q4' || w.format === 'qx') && w.cols % 32 === 0 && (activation !== 'swiglu' || w.parts.length === 1);
    const norm = epilogue.rmsNorm;
    if (norm && !fastGemv) {
      const { rmsNorm: _, ...rest } = epilogue;
      return this.matmul(this.rmsNorm(x, norm.weight, norm.eps), w, rest);
    }
    const normWeight = norm ? this.vector(norm.weight, x.cols, 'matmul rmsNorm weight') : this.dummy;
    if (activation && !fastGemv) {
      const y = this.matmul(x, w, { bias: epilogue.bias });
      return activation === 'swiglu' ? this.swiglu(y) : this.gelu(y);
    }
    if (rope) return this.matmulRopeKvAppend(x, w, epilogue, bias, normWeight, rope);
    const scale = epilogue.residualScale ?? 1;
    const swiglu = activation === 'swiglu';
    const outWidth = swiglu ? outFeatures / 2 : outFeatures;
    const out = this.newTensor(n, outWidth, `matmul ${w.name} output`);
    const params = (part: { rows: number; rowStart: number }) => (p: ParamWriter) =>
      p
        .u32(n)
        .u32(w.cols)
        .u32(swiglu ? outWidth : part.rows)
        .u32(part.rowStart)
        .u32(outWidth)
        .u32(epilogue.bias ? 1 : 0)
        .u32(residual ? 1 : 0)
        .f32(scale)
        .u32(outWidth)
        .f32(norm?.eps ?? 0);
    const buffers = (part: { buffers: readonly GPUBuffer[] }) => [
      x.buffer, out.buffer, bias, residual ? residual.buffer : this.dummy, ...this.weightBuffers(w, part.buffers),
    ];
    const gemv4Buffers = (part: { buffers: readonly GPUBuffer[] }) => [...buffers(part), normWeight]; // matmulQ4.gemv4 also binds the gain
    const shape = `${w.rows}x${w.cols}`;

    if (fastGemv) {
      const { threadsPerRow, workgroup, groupsPerIteration } = this.gemvQ4Shape(w.cols / 32, outWidth);
      const activationCode = activation === 'swiglu' ? 1 : activation === 'gelu' ? 2 : 0;
      const int8 = this.gemvInt8(w);
      const shapeCode = ((threadsPerRow * 2048 + workgroup) * 8 + groupsPerIteration) * 3 + activationCode;
      const variant = ((shapeCode * 2 + (norm ? 1 : 0)) * 2 + (int8 ? 1 : 0)) * FORMAT_CODE_COUNT + this.formatCode(w);
      const pipeline = this.pipeline('matmulGemvQ4', variant, () => ({
        kernel: 'matmulGemvQ4',
        format: w.format,
        int8,
        constants: this.weightConstants(w, {
          WORKGROUP_SIZE: workgroup, THREADS_PER_ROW: threadsPerRow, GROUPS_PER_ITERATION: groupsPerIteration, ACTIVATION: activationCode, NORM: norm ? 1 : 0,
        }),
      }));
      const rowsPerWorkgroup = (workgroup / threadsPerRow) * GEMV_ROWS_PER_THREAD;
      for (const part of w.parts) {
        const rows = swiglu ? outWidth : part.rows;
        const gemv4Params = (p: ParamWriter) =>
          writeGemv4Params(p, {
            n, cols: w.cols, rows, row_offset: part.rowStart, out_stride: outWidth, has_bias: epilogue.bias ? 1 : 0,
            has_residual: residual ? 1 : 0, residual_scale: scale, half: outWidth, norm_eps: norm?.eps ?? 0,
          });
        this.dispatch(pipeline, gemv4Params, gemv4Buffers(part), this.grid1d(Math.ceil(rows / rowsPerWorkgroup), n), shape);
      }
      return out;
    }

    const gemv = n === 1;
    // GEMV: as many lanes per row set as the row has 32-column groups (rounded up to a power of two,
    // capped), so short rows pack many per workgroup instead of idling most of it.
    const groups = Math.ceil(w.cols / 32);
    const threadsPerRow = Math.min(GEMV_MAX_THREADS_PER_ROW, 2 ** Math.ceil(Math.log2(groups)));
    const rowsPerWorkgroup = (GEMV_WORKGROUP / threadsPerRow) * GEMV_ROWS_PER_THREAD;
    // GEMM: tile shape and grid from src/gpu/gemm-tiling.ts (shrinks to few tokens / rows).
    const gemm = gemmTiling(n, outFeatures, this.maxWorkgroupsPerDimension, this.device.limits.maxComputeWorkgroupStorageSize);
    const c: Record<string, number> = gemm.constants;
    const pipeline = gemv
      ? this.pipeline('matmulGemv', threadsPerRow * FORMAT_CODE_COUNT + this.formatCode(w), () => ({
          kernel: 'matmulGemv',
          format: w.format,
          constants: this.weightConstants(w, { WORKGROUP_SIZE: GEMV_WORKGROUP, THREADS_PER_ROW: threadsPerRow }),
        }))
      : // Prefill: a dispatch serves many tokens, so the PipelineCache's own string key is cheap enough.
        this.pipelines.get({ kernel: 'matmulGemm', format: w.format, act: this.act, constants: this.weightConstants(w, c) });
    for (const part of w.parts) {
      const grid: [number, number, number] = gemv
        ? this.grid1d(Math.ceil(part.rows / rowsPerWorkgroup), n)
        : gemm.grid(part.rows);
      this.checkGrid(grid, `matmul ${w.name}`);
      this.dispatch(pipeline, params(part), buffers(part), grid, shape);
    }
    return out;
  }

  /**
   * Whether matmul's ropeKvAppend epilogue runs fused (matmulQ4.gemv4rope): one token, the fast GEMV's
   * formats, interleaved RoPE with D % 4 == 0 (a thread's four rows then hold whole rotated pairs of one
   * head), a weight of one part, and a device that binds its 10 storage buffers.
   */
  private canFuseRope(x: GpuTensor, w: GpuWeight, batch: ForwardBatch, config: GlmConfig): boolean {
    const { rope, headDim: D } = config;
    return (
      x.rows === 1 && batch.ids.length === 1 && (w.format === 'q4' || w.format === 'qx') && w.cols % 32 === 0 && w.parts.length === 1 &&
      rope.style === 'interleaved' && D % 4 === 0 && rope.rotaryDim % 2 === 0 && rope.rotaryDim <= D &&
      w.rows === (config.numHeads + 2 * config.numKvHeads) * D && this.maxStorageBuffers >= ROPE_GEMV_STORAGE_BUFFERS
    );
  }

  /** The qkv projection of one token with bias + RoPE + KV append fused (lib/gemv_store_rope.wgsl); returns q. */
  private matmulRopeKvAppend(
    x: GpuTensor, w: GpuWeight, epilogue: MatmulEpilogue<GpuTensor, GpuWeight, GpuKvCache>, bias: GPUBuffer, normWeight: GPUBuffer,
    r: { cache: GpuKvCache; layer: number; batch: ForwardBatch; config: GlmConfig },
  ): GpuTensor {
    const { numHeads: H, numKvHeads: Hkv, headDim: D, rope } = r.config;
    this.checkCache(r.cache, r.layer, r.batch, 1, r.config);
    const q = this.newTensor(1, H * D, 'matmul ropeKvAppend q');
    const norm = epilogue.rmsNorm;
    const { threadsPerRow, workgroup, groupsPerIteration } = this.gemvQ4Shape(w.cols / 32, w.rows);
    const int8 = this.gemvInt8(w);
    const shapeCode = (threadsPerRow * 2048 + workgroup) * 8 + groupsPerIteration;
    const variant = ((shapeCode * 2 + (norm ? 1 : 0)) * 2 + (int8 ? 1 : 0)) * FORMAT_CODE_COUNT + this.formatCode(w);
    const pipeline = this.pipeline('matmulGemvQ4Rope', variant, () => ({
      kernel: 'matmulGemvQ4Rope',
      format: w.format,
      int8,
      constants: this.weightConstants(w, {
        WORKGROUP_SIZE: workgroup, THREADS_PER_ROW: threadsPerRow, GROUPS_PER_ITERATION: groupsPerIteration, NORM: norm ? 1 : 0,
      }),
    }));
    const part = w.parts[0]!;
    const params = (p: ParamWriter) =>
      writeGemv4Params(p, {
        n: 1, cols: w.cols, rows: w.rows, out_stride: H * D, has_bias: epilogue.bias ? 1 : 0, norm_eps: norm?.eps ?? 0,
        num_heads: H, num_kv_heads: Hkv, head_dim: D, rotary_dim: rope.rotaryDim, slot: r.batch.start, position: r.batch.positions[0]!,
      });
    const buffers = [
      x.buffer, q.buffer, bias, r.cache.k[r.layer]!, ...this.weightBuffers(w, part.buffers), normWeight,
      r.cache.v[r.layer]!, this.invFreq(rope.rotaryDim, rope.base, rope.f16InvFreq),
    ];
    const rowsPerWorkgroup = (workgroup / threadsPerRow) * GEMV_ROWS_PER_THREAD;
    this.dispatch(pipeline, params, buffers, this.grid1d(Math.ceil(w.rows / rowsPerWorkgroup)), `${w.rows}x${w.cols}`);
    return q;
  }

  /**
   * Whether matmul's attention prologue runs fused (attentionSplit, then matmulQ4.gemv4merge): one
   * token on the split-K decode attention, the fast GEMV's formats, heads of whole 32-column groups, and
   * at most MERGE_MAX_TILES key tiles (each lane re-reads its head's partials, so long contexts keep the
   * merge kernel).
   */
  private canFuseMerge(q: GpuTensor, w: GpuWeight, batch: ForwardBatch, config: GlmConfig): boolean {
    const D = config.headDim;
    return (
      q.rows === 1 && batch.ids.length === 1 && this.splitAttention(1, D) && D % 32 === 0 && q.cols === config.numHeads * D &&
      D <= ATTENTION_WORKGROUP * ATTENTION_MAX_D_PER_INVOCATION && Number.isInteger(batch.bidirectionalPrefix) && batch.bidirectionalPrefix >= 0 &&
      (w.format === 'q4' || w.format === 'qx') && w.cols === q.cols && Math.ceil((batch.start + 1) / ATTENTION_TILE_KEYS) <= MERGE_MAX_TILES
    );
  }

  /** Decode attention (split over key tiles) merged inside the output projection's GEMV (lib/gemv_input_merge.wgsl). */
  private matmulAttentionMerge(
    q: GpuTensor, w: GpuWeight, epilogue: MatmulEpilogue<GpuTensor, GpuWeight, GpuKvCache>,
    a: { cache: GpuKvCache; layer: number; batch: ForwardBatch; config: GlmConfig },
  ): GpuTensor {
    const { partials, tiles } = this.attentionPartials(q, a.cache, a.layer, a.batch, a.config);
    const residual = epilogue.residual;
    if (residual) {
      this.use(residual, 'matmul residual');
      if (residual.rows !== 1 || residual.cols !== w.rows) throw new RangeError(`matmul: residual is [${residual.rows}, ${residual.cols}], expected [1, ${w.rows}]`);
    }
    const bias = epilogue.bias ? this.vector(epilogue.bias, w.rows, 'matmul bias') : this.dummy;
    const out = this.newTensor(1, w.rows, `matmul ${w.name} output`);
    const { threadsPerRow, workgroup, groupsPerIteration } = this.gemvQ4Shape(w.cols / 32, w.rows);
    const int8 = this.gemvInt8(w);
    const variant = (((threadsPerRow * 2048 + workgroup) * 8 + groupsPerIteration) * 2 + (int8 ? 1 : 0)) * FORMAT_CODE_COUNT + this.formatCode(w);
    const pipeline = this.pipeline('matmulGemvQ4Merge', variant, () => ({
      kernel: 'matmulGemvQ4Merge',
      format: w.format,
      int8,
      constants: this.weightConstants(w, { WORKGROUP_SIZE: workgroup, THREADS_PER_ROW: threadsPerRow, GROUPS_PER_ITERATION: groupsPerIteration }),
    }));
    const rowsPerWorkgroup = (workgroup / threadsPerRow) * GEMV_ROWS_PER_THREAD;
    for (const part of w.parts) {
      const params = (p: ParamWriter) =>
        writeGemv4Params(p, {
          n: 1, cols: w.cols, rows: part.rows, row_offset: part.rowStart, out_stride: w.rows, has_bias: epilogue.bias ? 1 : 0,
          has_residual: residual ? 1 : 0, residual_scale: epilogue.residualScale ?? 1, head_dim: a.config.headDim, tiles,
        });
      const buffers = [partials, out.buffer, bias, residual ? residual.buffer : this.dummy, ...this.weightBuffers(w, part.buffers)];
      this.dispatch(pipeline, params, buffers, this.grid1d(Math.ceil(part.rows / rowsPerWorkgroup)), `${w.rows}x${w.cols}`);
    }
    return out;
  }

  /** Whether the decode GEMV over `w` runs the int8 group dot (Q4: GpuOpsOptions.gemv, QX: gemvQx; tuning overrides). */
  private gemvInt8(w: GpuWeight): boolean {
    const mode = w.format === 'q4' ? (this.tuning.gemv ?? this.gemv) : w.format === 'qx' ? (this.tuning.gemvQx ?? this.gemvQx) : 'float';
    if (mode === 'int8' && !this.hasInt8Dot) throw this.noInt8Dot('this device');
    return mode === 'int8';
  }

  private noInt8Dot(adapter: string): GpuFeatureUnavailableError {
    return new GpuFeatureUnavailableError(
      `the int8 decode GEMV needs the WGSL language feature "${INT8_DOT_WGSL_FEATURE}", which ${adapter || 'this adapter'} does not have ` +
        "(navigator.gpu.wgslLanguageFeatures). Use { gemv: 'float' }, or a current Chrome / Dawn.",
    );
  }

  /**
   * Lanes per row set and workgroup size of matmulQ4.gemv4 for rows of `groups` 32-column groups.
   * Decode GEMVs are short (a few microseconds at full bandwidth), so the grid must put enough loads in
   * flight to cover memory latency: more lanes per row when there are few rows. Tuned on an NVIDIA H200
   * (bench: `glm-webgpu bench --sweep`); the bench can override it.
   */
  private gemvQ4Shape(groups: number, rows: number): { threadsPerRow: number; workgroup: number; groupsPerIteration: number } {
    const workgroup = this.tuning.gemvWorkgroup ?? 128;
    const groupsPerIteration = this.tuning.gemvGroupsPerIteration ?? 1;
    if (![1, 2, 4].includes(groupsPerIteration)) throw new InvalidArgumentError(`gemvGroupsPerIteration must be 1, 2 or 4, got ${groupsPerIteration}`);
    const fixed = this.tuning.gemvThreadsPerRow;
    if (fixed) return { threadsPerRow: Math.min(fixed, workgroup), workgroup, groupsPerIteration };
    // At least 2 groups per lane, at most 128 lanes per row set, about 2^20 / rows lanes per row set but
    // never fewer than 16 (the H200 sweep's winners: 64 lanes for the 4096-row projections of GLM-4-9B,
    // 128 for its 13696-wide down projection, 16 for its 151552-row lm_head, whose rows alone fill the GPU).
    const pow2Floor = (v: number) => 2 ** Math.floor(Math.log2(Math.max(1, v)));
    const byWork = pow2Floor(groups / 2);
    const byGrid = pow2Floor(2 ** 20 / Math.max(1, rows));
    return { threadsPerRow: Math.max(1, Math.min(128, workgroup, byWork, Math.max(16, byGrid))), workgroup, groupsPerIteration };
  }

  ropeKvAppend(qkv: GpuTensor, cache: GpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): GpuTensor {
    this.alive();
    this.use(qkv, 'ropeKvAppend input');
    const { numHeads: H, numKvHeads: Hkv, headDim: D, rope } = config;
    const n = qkv.rows;
    if (qkv.cols !== (H + 2 * Hkv) * D) throw new RangeError(`ropeKvAppend: qkv width ${qkv.cols}, expected ${(H + 2 * Hkv) * D}`);
    this.checkCache(cache, layer, batch, n, config);
    if (rope.style === 'chatglm1-2d' && (D % 4 !== 0 || rope.rotaryDim !== D / 2)) {
      throw new RangeError(`ropeKvAppend: 2-D RoPE needs headDim % 4 == 0 and rotaryDim == headDim / 2, got ${D} and ${rope.rotaryDim}`);
    }
    if (rope.style === 'interleaved' && (rope.rotaryDim % 2 !== 0 || rope.rotaryDim > D)) {
      throw new RangeError(`ropeKvAppend: rotaryDim ${rope.rotaryDim} must be even and at most headDim ${D}`);
    }
    const positions = this.stepData(batch.positions, 'positions');
    const blocks = batch.blockPositions;
    if (blocks && blocks.length !== n) throw new RangeError(`ropeKvAppend: ${blocks.length} block positions for ${n} tokens`);
    const blockBuffer = blocks ? this.stepData(blocks, 'block positions') : this.dummy;
    const q = this.newTensor(n, H * D, 'ropeKvAppend q');
    const width = (H + 2 * Hkv) * D;
    this.dispatch(
      this.pipeline('ropeKvAppend', 0, () => ({ kernel: 'ropeKvAppend', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
      (p) =>
        p
          .u32(n)
          .u32(H)
          .u32(Hkv)
          .u32(D)
          .u32(rope.rotaryDim)
          .u32(rope.style === 'interleaved' ? 0 : 1)
          .u32(batch.start)
          .u32(blocks ? 1 : 0),
      [qkv.buffer, q.buffer, cache.k[layer]!, cache.v[layer]!, this.invFreq(rope.rotaryDim, rope.base, rope.f16InvFreq), positions, blockBuffer],
      this.grid1d(Math.ceil((n * width) / ELEMENTWISE_WORKGROUP)),
    );
    return q;
  }

  attention(q: GpuTensor, cache: GpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): GpuTensor {
    this.alive();
    this.use(q, 'attention query');
    const { numHeads: H, numKvHeads: Hkv, headDim: D } = config;
    const n = q.rows;
    if (q.cols !== H * D) throw new RangeError(`attention: q width ${q.cols}, expected ${H * D}`);
    this.checkCache(cache, layer, batch, n, config);
    if (H % Hkv !== 0) throw new RangeError(`attention: ${H} query heads is not a multiple of ${Hkv} KV heads`);
    if (D > ATTENTION_WORKGROUP * ATTENTION_MAX_D_PER_INVOCATION) {
      throw new RangeError(`attention: head dimension ${D} is over the kernel's maximum of ${ATTENTION_WORKGROUP * ATTENTION_MAX_D_PER_INVOCATION}`);
    }
    if (!Number.isInteger(batch.bidirectionalPrefix) || batch.bidirectionalPrefix < 0) {
      throw new RangeError(`attention: bidirectionalPrefix must be a non-negative integer, got ${batch.bidirectionalPrefix}`);
    }
    if (this.splitAttention(n, D)) {
      // Decode: every tile of keys in its own workgroup, then one merge per head (attention_combine.wgsl).
      const { partials, tiles } = this.attentionPartials(q, cache, layer, batch, config);
      const out = this.newTensor(n, H * D, 'attention output');
      const params = (p: ParamWriter) => p.u32(1).u32(batch.start).u32(batch.bidirectionalPrefix).u32(H).u32(Hkv).u32(D).f32(1 / Math.sqrt(D)).u32(tiles);
      this.dispatch(this.pipeline('attentionCombine', 0, () => ({ kernel: 'attentionCombine', constants: { WORKGROUP_SIZE: ATTENTION_TILE_KEYS } })), params, [partials, out.buffer], this.grid1d(H));
      return out;
    }
    const out = this.newTensor(n, H * D, 'attention output');
    this.dispatch(
      this.pipeline('attention', 0, () => ({ kernel: 'attention', constants: { WORKGROUP_SIZE: ATTENTION_WORKGROUP } })),
      (p) => p.u32(n).u32(batch.start).u32(batch.bidirectionalPrefix).u32(H).u32(Hkv).u32(D).f32(1 / Math.sqrt(D)).u32(0),
      [q.buffer, out.buffer, cache.k[layer]!, cache.v[layer]!],
      this.grid1d(n * H),
    );
    return out;
  }

  /** Whether attention of n queries with head dim D takes the split-K decode path (attention_split.wgsl). */
  private splitAttention(n: number, D: number): boolean {
    return n === 1 && D % 4 === 0 && D / 4 <= ATTENTION_TILE_KEYS;
  }

  /**
   * The split-K half of decode attention: one workgroup per (head, tile of keys), each leaving its softmax
   * partials (m, l, P·V) in a scratch buffer [H, tiles, D + 2] for attention_combine.wgsl or the output
   * projection's merge prologue. Checks as attention() does.
   */
  private attentionPartials(q: GpuTensor, cache: GpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): { partials: GPUBuffer; tiles: number } {
    this.alive();
    this.use(q, 'attention query');
    const { numHeads: H, numKvHeads: Hkv, headDim: D } = config;
    if (q.cols !== H * D) throw new RangeError(`attention: q width ${q.cols}, expected ${H * D}`);
    this.checkCache(cache, layer, batch, q.rows, config);
    if (H % Hkv !== 0) throw new RangeError(`attention: ${H} query heads is not a multiple of ${Hkv} KV heads`);
    const tiles = Math.ceil((batch.start + 1) / ATTENTION_TILE_KEYS);
    const partials = this.scratch(H * tiles * (D + 2) * 4, 'attention partials');
    this.dispatch(
      this.pipeline('attentionSplit', D, () => ({ kernel: 'attentionSplit', constants: { WORKGROUP_SIZE: ATTENTION_TILE_KEYS, HEAD_DIM: D } })),
      (p) => p.u32(1).u32(batch.start).u32(batch.bidirectionalPrefix).u32(H).u32(Hkv).u32(D).f32(1 / Math.sqrt(D)).u32(tiles),
      [q.buffer, partials, cache.k[layer]!, cache.v[layer]!],
      this.grid1d(H * tiles),
    );
    return { partials, tiles };
  }

  swiglu(x: GpuTensor): GpuTensor {
    this.alive();
    this.use(x, 'swiglu input');
    if (x.cols % 2 !== 0) throw new RangeError(`swiglu: width ${x.cols} is odd`);
    const f = x.cols / 2;
    const out = this.newTensor(x.rows, f, 'swiglu output');
    this.dispatch(
      this.pipeline('swiglu', 0, () => ({ kernel: 'swiglu', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
      (p) => p.u32(x.rows).u32(f),
      [x.buffer, out.buffer],
      this.grid1d(Math.ceil((x.rows * f) / ELEMENTWISE_WORKGROUP)),
    );
    return out;
  }

  /** GELU, tanh form (ChatGLM-6B). */
  gelu(x: GpuTensor): GpuTensor {
    return this.geluForm(x, 'tanh');
  }

  /** GELU, exact erf form (GLM-4V's vision tower). */
  geluErf(x: GpuTensor): GpuTensor {
    return this.geluForm(x, 'erf');
  }

  /** Both GELU forms run gelu.wgsl; GELU_ERF picks the formula, one pipeline per form. */
  private geluForm(x: GpuTensor, form: 'tanh' | 'erf'): GpuTensor {
    this.alive();
    const name = form === 'erf' ? 'geluErf' : 'gelu';
    this.use(x, `${name} input`);
    const out = this.newTensor(x.rows, x.cols, `${name} output`);
    const count = x.rows * x.cols;
    const erf = form === 'erf' ? 1 : 0;
    this.dispatch(
      this.pipeline('gelu', erf, () => ({ kernel: 'gelu', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP, GELU_ERF: erf } })),
      (p) => p.u32(count),
      [x.buffer, out.buffer],
      this.grid1d(Math.ceil(count / ELEMENTWISE_WORKGROUP)),
    );
    return out;
  }

  add(a: GpuTensor, b: GpuTensor): GpuTensor {
    this.alive();
    this.use(a, 'add input a');
    this.use(b, 'add input b');
    if (a.rows !== b.rows || a.cols !== b.cols) throw new RangeError(`add: [${a.rows}, ${a.cols}] + [${b.rows}, ${b.cols}]`);
    const out = this.newTensor(a.rows, a.cols, 'add output');
    const count = a.rows * a.cols;
    this.dispatch(
      this.pipeline('add', 0, () => ({ kernel: 'add', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
      (p) => p.u32(count),
      [a.buffer, b.buffer, out.buffer],
      this.grid1d(Math.ceil(count / ELEMENTWISE_WORKGROUP)),
    );
    return out;
  }

  sliceRows(x: GpuTensor, start: number, count: number): GpuTensor {
    this.alive();
    this.use(x, 'sliceRows input');
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > x.rows) {
      throw new RangeError(`sliceRows: rows ${start}..${start + count - 1} of a tensor with ${x.rows} rows`);
    }
    const out = this.newTensor(count, x.cols, 'sliceRows output');
    const elements = count * x.cols;
    this.dispatch(
      this.pipeline('copyRows', 0, () => ({ kernel: 'copyRows', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
      (p) => p.u32(elements).u32(start * x.cols),
      [x.buffer, out.buffer],
      this.grid1d(Math.ceil(elements / ELEMENTWISE_WORKGROUP)),
    );
    return out;
  }

  // ---------------------------------------------------------------- GLM-4V's vision tower (issue #21)

  fromHost(data: Float32Array, rows: number, cols: number): GpuTensor {
    return this.upload(data, rows, cols);
  }

  /** Every row of a (small) weight as an activation: the embed kernel over ids 0..rows-1 (dequantizes any format). */
  weightRows(w: GpuWeight): GpuTensor {
    if (w.shape.length !== 2) throw new RangeError(`weightRows: expected a 2-D weight, got shape [${w.shape}]`);
    return this.embed(w, Int32Array.from({ length: w.rows }, (_, i) => i));
  }

  concatRows(parts: GpuTensor[]): GpuTensor {
    this.alive();
    if (parts.length === 0) throw new RangeError('concatRows: no parts');
    const cols = parts[0]!.cols;
    for (const p of parts) {
      this.use(p, 'concatRows part');
      if (p.cols !== cols) throw new RangeError(`concatRows: a part has ${p.cols} columns, the first has ${cols}`);
    }
    const out = this.newTensor(parts.reduce((s, p) => s + p.rows, 0), cols, 'concatRows output');
    const pipeline = this.pipeline('copyInto', 0, () => ({ kernel: 'copyInto', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } }));
    let offset = 0;
    for (const p of parts) {
      const count = p.rows * cols;
      this.dispatch(pipeline, (w) => w.u32(count).u32(offset), [p.buffer, out.buffer], this.grid1d(Math.ceil(count / ELEMENTWISE_WORKGROUP)));
      offset += count;
    }
    return out;
  }

  attentionFull(qkv: GpuTensor, numHeads: number): GpuTensor {
    this.alive();
    this.use(qkv, 'attentionFull input');
    if (qkv.cols % (3 * numHeads) !== 0) throw new RangeError(`attentionFull: width ${qkv.cols} is not 3 x ${numHeads} heads x headDim`);
    const D = qkv.cols / (3 * numHeads);
    if (D > ATTENTION_MAX_D_PER_INVOCATION * ATTENTION_WORKGROUP) {
      throw new RangeError(`attentionFull: head dimension ${D} is over ${ATTENTION_MAX_D_PER_INVOCATION * ATTENTION_WORKGROUP}`);
    }
    const out = this.newTensor(qkv.rows, numHeads * D, 'attentionFull output');
    this.dispatch(
      this.pipeline('attentionFull', 0, () => ({ kernel: 'attentionFull', constants: { WORKGROUP_SIZE: ATTENTION_WORKGROUP } })),
      (p) => p.u32(qkv.rows).u32(numHeads).u32(D).f32(1 / Math.sqrt(D)),
      [qkv.buffer, out.buffer],
      this.grid1d(qkv.rows * numHeads),
    );
    return out;
  }

  blocks2x2(x: GpuTensor, grid: number): GpuTensor {
    this.alive();
    this.use(x, 'blocks2x2 input');
    if (x.rows !== grid * grid) throw new RangeError(`blocks2x2: ${x.rows} rows is not a ${grid}x${grid} grid`);
    const half = Math.floor(grid / 2);
    const out = this.newTensor(half * half, 4 * x.cols, 'blocks2x2 output');
    const count = half * half * 4 * x.cols;
    this.dispatch(
      this.pipeline('blocks2x2', 0, () => ({ kernel: 'blocks2x2', constants: { WORKGROUP_SIZE: ELEMENTWISE_WORKGROUP } })),
      (p) => p.u32(grid).u32(half).u32(x.cols).u32(count),
      [x.buffer, out.buffer],
      this.grid1d(Math.ceil(count / ELEMENTWISE_WORKGROUP)),
    );
    return out;
  }

  // ---------------------------------------------------------------- internals

  /** The buffer of a DeviceToken's id, valid only in the step right after the draw that wrote it (sampleAhead). */
  private deviceToken(ref: DeviceTokenRef, n: number): GPUBuffer {
    const token = ref as Partial<GpuTokenRef>;
    if (token.owner !== this || n !== 1) throw new InvalidArgumentError('embed: a device-held token id belongs to another GpuOps, or came with more than one id');
    if (token.step !== this.step) {
      throw new InvalidArgumentError('embed: a device-held token id is valid only in the step right after its draw (another step was submitted in between)');
    }
    return token.buffer!;
  }

  private alive(): void {
    if (this.lostError) throw this.lostError;
    if (this.disposed) throw new InvalidArgumentError('this GpuOps was disposed; its buffers are gone');
  }

  private use(t: GpuTensor, what: string): void {
    if (t.step !== this.step) {
      throw new InvalidArgumentError(
        `${what}: this tensor belongs to an earlier step (or another GpuOps); its buffer went back to the pool when read() or flush() submitted that step`,
      );
    }
    if (t.dtype !== this.act) throw new InvalidArgumentError(`${what}: a ${t.dtype} tensor given to a GpuOps whose activations are ${this.act}`);
  }

  private vector(w: GpuWeight, length: number, what: string): GPUBuffer {
    if (w.shape.length !== 1 || w.cols !== length || w.format !== 'f32') {
      throw new RangeError(`${what}: expected ${length} values, got ${w.format} shape [${w.shape}]`);
    }
    return w.parts[0]!.buffers[0]!;
  }

  private checkLayer(cache: GpuKvCache, layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= cache.k.length) {
      throw new RangeError(`layer ${layer} is outside the KV cache's ${cache.k.length} layers`);
    }
  }

  private checkCache(cache: GpuKvCache, layer: number, batch: ForwardBatch, n: number, config: GlmConfig): void {
    this.checkLayer(cache, layer);
    if (cache.width !== config.numKvHeads * config.headDim) {
      throw new RangeError(`KV cache rows hold ${cache.width} values, the config needs ${config.numKvHeads * config.headDim}`);
    }
    if (cache.dtype !== this.act) throw new InvalidArgumentError(`a ${cache.dtype} KV cache given to a GpuOps whose activations are ${this.act}`);
    if (batch.positions.length !== n) throw new RangeError(`${batch.positions.length} positions for ${n} tokens`);
    if (!Number.isInteger(batch.start) || batch.start < 0) throw new RangeError(`batch start must be a non-negative integer, got ${batch.start}`);
    if (batch.start + n > cache.capacity) throw new RangeError(`KV cache full: ${batch.start + n} tokens > capacity ${cache.capacity}`);
  }

  private newTensor(rows: number, cols: number, what: string): GpuTensor {
    const bytes = rows * cols * ACT_BYTES[this.act];
    if (bytes > this.maxStorageBinding) {
      throw new RangeError(
        `${what} [${rows}, ${cols}] needs ${bytes} bytes, over this device's maxStorageBufferBindingSize (${this.maxStorageBinding}); ` +
          'run fewer tokens per step',
      );
    }
    const buffer = this.pool.acquire(bytes, storageUsage(), what);
    this.stepBuffers.push(buffer);
    return { rows, cols, dtype: this.act, buffer, step: this.step };
  }

  /** A storage buffer of the step for a kernel's intermediate results (not a tensor). */
  private scratch(bytes: number, what: string): GPUBuffer {
    const buffer = this.pool.acquire(bytes, storageUsage(), what);
    this.stepBuffers.push(buffer);
    return buffer;
  }

  /** Small per-step inputs (ids, positions), written now: the buffer is this step's alone. */
  private stepData(data: Int32Array | Uint32Array, what: string): GPUBuffer {
    const buffer = this.pool.acquire(data.byteLength, storageUsage(), what);
    this.stepBuffers.push(buffer);
    this.device.queue.writeBuffer(buffer, 0, data as Uint32Array<ArrayBuffer>);
    return buffer;
  }

  private invFreq(rotaryDim: number, base: number, f16: boolean): GPUBuffer {
    const key = `${rotaryDim}|${base}|${f16}`;
    let buffer = this.invFreqs.get(key);
    if (!buffer) {
      const data = ropeInvFreq(rotaryDim, base, f16);
      buffer = this.alloc.create(Math.max(16, data.byteLength), storageUsage(), `RoPE inv_freq ${key}`);
      this.device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
      this.invFreqs.set(key, buffer);
    }
    return buffer;
  }

  /**
   * The pipeline of a call site: `site` (a literal) and `variant` (a number that tells the site's requests
   * apart) key a memo in front of the PipelineCache, because building string keys from a request's
   * constants measured several microseconds per dispatch; `make` runs only on a miss.
   */
  private pipeline(site: string, variant: number, make: () => Omit<PipelineRequest, 'act'>): Pipeline {
    let bySite = this.pipelineMemo.get(site);
    if (!bySite) this.pipelineMemo.set(site, (bySite = new Map()));
    let p = bySite.get(variant);
    if (!p) bySite.set(variant, (p = this.pipelines.get({ ...make(), act: this.act })));
    return p;
  }

  /** A number per (format, asymmetric / QX layout) for pipeline variants, below FORMAT_CODE_COUNT. */
  private formatCode(w: GpuWeight): number {
    if (w.format === 'qx') {
      const l = w.qx!;
      return 8 + (l.bits - 4) * 16 + (l.subgroup === 16 ? 8 : 0) + (l.superGroups === 8 ? 4 : 0) + (l.hasSubs ? 2 : 0) + (l.hasMins ? 1 : 0);
    }
    return WEIGHT_FORMAT_CODES[w.format] * 2 + (w.format === 'q4' && w.asymmetric ? 1 : 0);
  }

  private weightConstants(w: GpuWeight, constants: Record<string, number>): Record<string, number> {
    if (w.format === 'qx') {
      const l = w.qx!;
      return { ...constants, QX_BITS: l.bits, QX_SUBGROUP: l.subgroup, QX_SUPER_GROUPS: l.superGroups, QX_MINS: l.hasMins ? 1 : 0, QX_SUBS: l.hasSubs ? 1 : 0 };
    }
    return w.format === 'q4' ? { ...constants, W_ASYMMETRIC: w.asymmetric ? 1 : 0 } : constants;
  }

  /** A part's buffers in binding order; symmetric Q4 and QX without sub-scales bind a dummy third buffer. */
  private weightBuffers(w: GpuWeight, buffers: readonly GPUBuffer[]): GPUBuffer[] {
    if (w.format === 'q4' && !w.asymmetric) return [...buffers, this.dummy];
    if (w.format === 'qx' && !w.qx!.hasSubs) return [...buffers, this.dummy];
    return [...buffers];
  }

  /** A 1-D count of workgroups as a 2-D grid within maxComputeWorkgroupsPerDimension; z passes through. */
  private grid1d(workgroups: number, z = 1): [number, number, number] {
    const max = this.maxWorkgroupsPerDimension;
    const x = Math.min(Math.max(1, workgroups), max);
    const grid: [number, number, number] = [x, Math.ceil(Math.max(1, workgroups) / x), z];
    this.checkGrid(grid, 'dispatch');
    return grid;
  }

  private checkGrid(grid: [number, number, number], what: string): void {
    if (grid.some((g) => g > this.maxWorkgroupsPerDimension)) {
      throw new RangeError(`${what}: grid [${grid}] exceeds maxComputeWorkgroupsPerDimension ${this.maxWorkgroupsPerDimension}`);
    }
  }

  private dispatch(p: Pipeline, params: (w: ParamWriter) => void, buffers: GPUBuffer[], grid: [number, number, number], what = ''): void {
    if (buffers.length !== p.bindings.length - 1) {
      throw new GlmError(`internal: ${p.label} binds ${p.bindings.length - 1} buffers, got ${buffers.length}`);
    }
    const slot = this.uniforms.take();
    params(new ParamWriter(slot.view));
    // Bind groups are remembered per parameter slot, and a decode step takes the same slots and pool
    // buffers in the same order as the step before, so after the first steps every lookup hits. The slot
    // is bound at a static offset: Dawn validates dynamic offsets on every setBindGroup (~5 µs measured),
    // and string cache keys cost as much again.
    let group: GPUBindGroup;
    const cached = slot.cached;
    if (cached && cached.layout === p.layout && sameBuffers(cached.buffers, buffers)) {
      group = cached.group;
    } else {
      group = this.device.createBindGroup({
        label: p.label,
        layout: p.layout,
        entries: [
          { binding: 0, resource: { buffer: slot.buffer, offset: slot.offset, size: UNIFORM_SLOT_BYTES } },
          ...buffers.map((buffer, i) => ({ binding: p.bindings[i + 1]!, resource: { buffer } })),
        ],
      });
      slot.remember({ layout: p.layout, buffers, group });
    }
    const profiled = this.profiling && this.profiler !== undefined && this.profiler.labels.length < PROFILE_MAX_DISPATCHES;
    if (profiled) this.endPass(); // a pass of its own, timed at its beginning and end
    const pass = this.openPass(profiled ? `${p.label}${what ? ` ${what}` : ''}` : undefined);
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    this.dispatches++;
    if (profiled) this.endPass();
    if (this.submitEvery > 0 && ++this.sinceSubmit >= this.submitEvery) this.submitPartial();
  }

  /**
   * The step's compute pass, begun (with its encoder) by the step's first dispatch. In profile mode a
   * timed pass is labelled by the kernel it holds.
   */
  private openPass(timedLabel?: string): GPUComputePassEncoder {
    if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder({ label: `step ${this.step}` });
      if (timedLabel !== undefined && this.profiler) {
        const i = this.profiler.labels.push(timedLabel) - 1;
        this.pass = this.encoder.beginComputePass({
          label: timedLabel,
          timestampWrites: { querySet: this.profiler.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
      } else {
        this.pass = this.encoder.beginComputePass({ label: `step ${this.step}` });
      }
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /**
   * Submits what the step recorded so far without ending the step (its buffers stay taken): the GPU
   * works on it while the CPU records the rest. The uniform slots used so far are written first; queue
   * order keeps them ahead of the work that reads them.
   */
  private submitPartial(): void {
    this.sinceSubmit = 0;
    if (!this.encoder || this.profiling) return; // profiled steps resolve their queries once, at the end
    this.endPass();
    this.uniforms.upload(this.device.queue);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
  }

  /**
   * Ends the step: closes the pass, records the copies, writes the uniform slots, submits, recycles the
   * step's buffers, then maps the copy targets and returns their bytes. Errors of the step (shader
   * compile, out of memory, validation, device loss) are thrown here.
   */
  private async submitAndMap(copies: { src: GPUBuffer; dst: GPUBuffer; bytes: number }[]): Promise<ArrayBuffer[]> {
    const encoder = this.encoder ?? this.device.createCommandEncoder({ label: `step ${this.step}` });
    this.pass?.end();
    const timed = this.profiler?.labels ?? [];
    if (this.profiler && timed.length > 0) {
      // The step's timestamps travel with its other read-backs.
      const bytes = 16 * timed.length;
      encoder.resolveQuerySet(this.profiler.querySet, 0, 2 * timed.length, this.profiler.resolve, 0);
      copies = [...copies, { src: this.profiler.resolve, dst: this.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'profile readback'), bytes }];
      this.profiler.labels = [];
    }
    for (const c of copies) encoder.copyBufferToBuffer(c.src, 0, c.dst, 0, c.bytes);
    this.uniforms.upload(this.device.queue);
    this.device.pushErrorScope('validation');
    this.device.queue.submit([encoder.finish()]);
    const validation = this.device.popErrorScope();

    // In reverse, so the pool hands them out in this step's order again (see BufferPool).
    for (let i = this.stepBuffers.length - 1; i >= 0; i--) this.pool.release(this.stepBuffers[i]!);
    this.stepBuffers = [];
    this.uniforms.recycle();
    this.lastDispatches = this.dispatches;
    this.dispatches = 0;
    this.sinceSubmit = 0;
    this.steps++;
    this.step = nextStep++;
    this.encoder = undefined;
    this.pass = undefined;

    try {
      await this.pipelines.takeErrors();
      await this.alloc.takeErrors();
      const err = await validation;
      if (err) throw new GlmError(`WebGPU rejected the step: ${err.message}`);
      const out: ArrayBuffer[] = [];
      for (const c of copies) {
        await c.dst.mapAsync(GPUMapMode.READ, 0, c.bytes);
        out.push(c.dst.getMappedRange(0, c.bytes).slice(0));
        c.dst.unmap();
      }
      if (timed.length > 0) this.addProfile(timed, new BigUint64Array(out.pop()!));
      return out;
    } catch (err) {
      if ((err as Error).name === 'GpuOutOfMemoryError') {
        // Buffers made during the refused step may be invalid: start the next step from fresh ones, so the
        // caller (e.g. the hybrid loader) can retry with fewer GPU layers on a working GpuOps.
        this.pool.trim();
        this.uniforms.reset();
        throw err;
      }
      // A lost device makes mapAsync reject before device.lost resolves; report the loss, not its symptom.
      const lost = await Promise.race([this.lost, new Promise<undefined>((r) => setTimeout(r, LOST_GRACE_MS))]);
      throw lost ?? err;
    } finally {
      for (const c of copies) if (c.dst.mapState === 'unmapped') this.pool.release(c.dst);
    }
  }

  private addProfile(labels: string[], stamps: BigUint64Array): void {
    for (const [i, kernel] of labels.entries()) {
      const seconds = Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e9;
      const entry = this.profiler!.totals.get(kernel) ?? { kernel, calls: 0, seconds: 0 };
      entry.calls++;
      // Timestamps of an unordered or reset counter can come back reversed; count the call, not the time.
      if (seconds > 0 && seconds < 10) entry.seconds += seconds;
      this.profiler!.totals.set(kernel, entry);
    }
  }

  private toF32(raw: ArrayBuffer, count: number, dtype: GpuActDtype): Float32Array {
    if (dtype === 'f32') return new Float32Array(raw, 0, count);
    return f16ArrayToF32(new Uint16Array(raw, 0, count));
  }
}
