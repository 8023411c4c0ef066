// Argmax and sampling on the GPU, so that a decode step reads back one token id (4 bytes) instead of
// the logits. Same semantics as the CPU sampler (src/runtime/sampler.ts): HF repetition penalty, then
// temperature, then top-k, then top-p on a max-subtracted softmax, then one draw, with the same
// candidate order (value descending, id ascending; id order when nothing is filtered) and the same
// walk over it. The draw's uniform u comes from a counter-based hash of (seed, step) computed on the
// GPU; uniformFor() computes the same u here, bit for bit, so
// `sample(logits, params, () => uniformFor(seed, step))` is the CPU twin of a GPU draw.
//
// Passes, all recorded into the caller's compute pass (parameters go in with queue.writeBuffer):
//   every mode:  sample_partial, one workgroup per 4096 ids: penalty, NaN -> -inf, / temperature into
//                z; per chunk its max, lowest id at the max and sum exp(z - max); in top-k / top-p
//                mode also the chunk's own top k (exact radix select in shared memory).
//   greedy:      argmax (1 workgroup) merges the chunk maxima.
//   top-k:       sample_topk (1 workgroup) selects the global top k from the chunks' candidates,
//                sorts them, applies top-p inside them and draws.
//   top-p only:  the same with k = GPU_TOP_K_CAP candidates and S summed over the whole vocabulary
//                (online softmax over the chunk sums); when the nucleus is larger than the candidates,
//                sample_nucleus (1 workgroup, otherwise a no-op) finds the nucleus end and the drawn id
//                by radix descents over the whole vocabulary with exact fixed-point weight sums.
//   no filter:   sample_index (1 workgroup) walks the chunk sums in id order, then the one chunk.
// GPU time per step for 151552 ids on an H200 (Dawn, timestamp queries, 50 steps in one pass):
// greedy 7 us, no filter 17 us, top-k 50 40 us, top-k 256 70 us, top-p 70 us, top-p with a nucleus of
// thousands of ids (sample_nucleus) about 420 us.
import argmaxWgsl from '../../shaders/argmax.wgsl?raw';
import boundsWgsl from '../../shaders/lib/sampling_bounds.wgsl?raw';
import commonWgsl from '../../shaders/lib/sampling_common.wgsl?raw';
import scanWgsl from '../../shaders/lib/sampling_scan.wgsl?raw';
import selectWgsl from '../../shaders/lib/sampling_select.wgsl?raw';
import sampleIndexWgsl from '../../shaders/sample_index.wgsl?raw';
import sampleNucleusWgsl from '../../shaders/sample_nucleus.wgsl?raw';
import samplePartialWgsl from '../../shaders/sample_partial.wgsl?raw';
import sampleTopkWgsl from '../../shaders/sample_topk.wgsl?raw';
import { InvalidArgumentError } from '../errors';
import { GREEDY_TEMPERATURE, TOP_P_EPSILON, toU32 } from '../runtime/sampler';
import { compileShader, createComputePipeline } from './shader';

/**
 * The largest top-k the GPU sampler takes (0 < topK < vocab; larger values throw a RangeError). It is
 * also how many of the best ids top-p (without top-k) looks at before it falls back to the slower
 * full-vocabulary nucleus pass. sample_topk keeps this many candidates in shared memory and ranks them.
 */
export const GPU_TOP_K_CAP = 256;
/** Written to `result` when every logit is -inf or NaN outside greedy mode (the CPU sampler throws there). */
export const GPU_SAMPLE_INVALID_ID = 0xffffffff;
/** The nucleus pass sums weights in 64-bit fixed point with 2^45 units per 1; the vocabulary must stay below 2^19. */
export const GPU_SAMPLING_MAX_VOCAB = (1 << 19) - 1;

/** The single-workgroup merges (argmax, sample_topk, sample_index): 256 invocations are available everywhere. */
const WORKGROUP_SIZE = 256;
/**
 * ITEMS_PER_THREAD in shaders/sample_partial.wgsl (a WGSL const: the keys live in a private array).
 * Chunks of 4096 ids: 37 workgroups for GLM-4's 151552 ids.
 */
const ITEMS_PER_THREAD = 16;
const PARAMS_BYTES = 48;
const NUCLEUS_STATE_BYTES = 16;

export interface GpuSampleParams {
  /** <= 1e-5 is greedy argmax (ties -> lowest id), as the CPU sampler. */
  temperature: number;
  /** 0 = off; values >= the vocabulary size are off too. At most GPU_TOP_K_CAP otherwise. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** HF repetition penalty; 1 = off. */
  repetitionPenalty: number;
  /** Ids to penalise (each once however often it occurs), e.g. the last 64. */
  recentIds: Int32Array;
  /** With `step`, the counter hashed into the draw's uniform; a seeded run repeats exactly. */
  seed: number;
  step: number;
}

/** Where the logits are: f32 [vocab] starting `offset` bytes into `buffer` (a multiple of minStorageBufferOffsetAlignment, 256). */
export interface GpuLogits {
  buffer: GPUBuffer;
  offset: number;
}

export type GpuSampleMode = 'greedy' | 'top-k' | 'top-p' | 'full';

const MODE_CODE: Record<GpuSampleMode, number> = { greedy: 0, 'top-k': 1, 'top-p': 2, full: 3 };

// uniformFor (the draw's uniform, bit for bit the WGSL uniform_for) lives beside the CPU sampler, which draws
// with it too: one random stream for both devices.
export { uniformFor } from '../runtime/sampler';

interface Plan {
  mode: GpuSampleMode;
  kSel: number;
  penalise: boolean;
}

interface SamplingPipelines {
  partial: GPUComputePipeline;
  argmax: GPUComputePipeline;
  topk: GPUComputePipeline;
  nucleus: GPUComputePipeline;
  index: GPUComputePipeline;
  /** Ids per sample_partial workgroup: its workgroup size times ITEMS_PER_THREAD. */
  chunkSize: number;
}

// The kernels do not depend on the vocabulary (it is a uniform), so every sampler of a device shares them;
// compiling them takes seconds on SwiftShader.
const pipelineCache = new WeakMap<GPUDevice, Promise<SamplingPipelines>>();

/**
 * The nucleus pass is one workgroup reading the whole vocabulary: as wide as the device allows, up to
 * 1024 (a power of two). sample_partial stays at 256: measured on an H200, 1024-wide chunks left most
 * of the GPU idle and made the pass 2.5x slower.
 */
function wideWorkgroupSize(device: GPUDevice): number {
  const max = Math.min(1024, device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
  return 2 ** Math.floor(Math.log2(max));
}

async function buildPipelines(device: GPUDevice): Promise<SamplingPipelines> {
  const build = async (name: string, kernel: string, libs: string[], constants: Record<string, number>): Promise<GPUComputePipeline> => {
    const module = await compileShader(device, [...libs, kernel].join('\n'), name);
    return createComputePipeline(device, module, name, constants);
  };
  const wg = { WORKGROUP_SIZE };
  const wide = wideWorkgroupSize(device);
  // One after the other: compileShader's error scopes would interleave and blame the wrong kernel.
  const partial = await build('sample_partial', samplePartialWgsl, [commonWgsl, scanWgsl, boundsWgsl, selectWgsl], wg);
  const argmax = await build('argmax', argmaxWgsl, [commonWgsl], wg);
  const topk = await build('sample_topk', sampleTopkWgsl, [commonWgsl, scanWgsl, boundsWgsl, selectWgsl], { ...wg, MAX_CANDIDATES: GPU_TOP_K_CAP });
  const nucleus = await build('sample_nucleus', sampleNucleusWgsl, [commonWgsl, boundsWgsl], { WORKGROUP_SIZE: wide });
  const index = await build('sample_index', sampleIndexWgsl, [commonWgsl, scanWgsl], wg);
  return { partial, argmax, topk, nucleus, index, chunkSize: WORKGROUP_SIZE * ITEMS_PER_THREAD };
}

export class GpuSampler {
  /** 4 bytes: the chosen id (u32) after the encoded passes ran. STORAGE | COPY_SRC: copy it to a staging buffer. */
  readonly result: GPUBuffer;
  readonly numChunks: number;

  private readonly params: GPUBuffer;
  private recent: GPUBuffer;
  private recentCapacity: number;
  private readonly scaled: GPUBuffer;
  /** [numChunks] (max key, its id, bits of f32 sum exp(z - max), 0): read by the logprobs pass. */
  readonly partials: GPUBuffer;
  /** [numChunks * k] (key, id) per chunk in top-k mode: read by the logprobs pass. */
  readonly candidates: GPUBuffer;
  private readonly nucleusState: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly argmaxGroup: GPUBindGroup;
  private readonly topkGroup: GPUBindGroup;
  private readonly nucleusGroup: GPUBindGroup;
  private readonly indexGroup: GPUBindGroup;
  /** sample_partial binds the caller's logits: one bind group per (buffer, offset), made on first use. */
  private partialGroups = new WeakMap<GPUBuffer, Map<number, GPUBindGroup>>();
  private readonly paramBytes = new ArrayBuffer(PARAMS_BYTES);
  private pendingSample: Promise<unknown> = Promise.resolve();
  private destroyed = false;

  private constructor(
    readonly device: GPUDevice,
    readonly vocabSize: number,
    private readonly pipelines: SamplingPipelines,
  ) {
    const storage = GPUBufferUsage.STORAGE;
    this.numChunks = Math.ceil(vocabSize / pipelines.chunkSize);
    this.params = device.createBuffer({ label: 'sampler.params', size: PARAMS_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.recentCapacity = 64;
    this.recent = device.createBuffer({ label: 'sampler.recent', size: this.recentCapacity * 4, usage: storage | GPUBufferUsage.COPY_DST });
    this.scaled = device.createBuffer({ label: 'sampler.z', size: vocabSize * 4, usage: storage });
    this.partials = device.createBuffer({ label: 'sampler.partials', size: this.numChunks * 16, usage: storage | GPUBufferUsage.COPY_SRC });
    this.candidates = device.createBuffer({ label: 'sampler.candidates', size: this.numChunks * GPU_TOP_K_CAP * 8, usage: storage | GPUBufferUsage.COPY_SRC });
    this.nucleusState = device.createBuffer({ label: 'sampler.nucleus', size: NUCLEUS_STATE_BYTES, usage: storage });
    this.result = device.createBuffer({ label: 'sampler.result', size: 4, usage: storage | GPUBufferUsage.COPY_SRC });
    this.staging = device.createBuffer({ label: 'sampler.staging', size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

    const group = (pipeline: GPUComputePipeline, label: string, buffers: GPUBuffer[]): GPUBindGroup =>
      device.createBindGroup({
        label,
        layout: pipeline.getBindGroupLayout(0),
        entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
    this.argmaxGroup = group(pipelines.argmax, 'sampler.argmax', [this.params, this.partials, this.result]);
    this.topkGroup = group(pipelines.topk, 'sampler.topk', [this.params, this.partials, this.candidates, this.nucleusState, this.result]);
    this.nucleusGroup = group(pipelines.nucleus, 'sampler.nucleus', [this.params, this.scaled, this.nucleusState, this.result]);
    this.indexGroup = group(pipelines.index, 'sampler.index', [this.params, this.partials, this.scaled, this.result]);
  }

  /** A sampler for logits of `vocabSize` f32 values. The kernels are compiled once per device. */
  static async create(device: GPUDevice, vocabSize: number): Promise<GpuSampler> {
    if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > GPU_SAMPLING_MAX_VOCAB) {
      throw new RangeError(`GpuSampler: vocabSize must be an integer in [1, ${GPU_SAMPLING_MAX_VOCAB}], got ${vocabSize}`);
    }
    const maxInvocations = device.limits.maxComputeInvocationsPerWorkgroup;
    if (maxInvocations < WORKGROUP_SIZE) {
      throw new RangeError(`GpuSampler needs ${WORKGROUP_SIZE} invocations per workgroup; this device allows ${maxInvocations}`);
    }
    let pipelines = pipelineCache.get(device);
    if (!pipelines) {
      pipelines = buildPipelines(device);
      pipelineCache.set(device, pipelines);
      // A failed build must not stick: the next create() tries again.
      pipelines.catch(() => pipelineCache.delete(device));
    }
    return new GpuSampler(device, vocabSize, await pipelines);
  }

  /**
   * Checks `params` (the CPU sampler's rules, plus the top-k cap) and writes them, with the ids to
   * penalise, into this sampler's buffers via queue.writeBuffer, so they are in place for the next
   * submit. Returns the passes `encode` records for them. `encode` calls it; call it yourself only to
   * learn the mode.
   */
  writeParams(params: GpuSampleParams): GpuSampleMode {
    const plan = this.plan(params);
    const recent = params.recentIds;
    const numRecent = plan.penalise ? recent.length : 0;
    if (numRecent > this.recentCapacity) this.growRecent(numRecent);
    const view = new DataView(this.paramBytes);
    const u32 = (offset: number, v: number): void => view.setUint32(offset, v >>> 0, true);
    const f32 = (offset: number, v: number): void => view.setFloat32(offset, v, true);
    u32(0, this.vocabSize);
    u32(4, this.numChunks);
    u32(8, this.pipelines.chunkSize);
    u32(12, MODE_CODE[plan.mode]);
    u32(16, plan.kSel);
    u32(20, numRecent);
    f32(24, plan.penalise ? params.repetitionPenalty : 1);
    f32(28, plan.mode === 'greedy' ? 1 : params.temperature);
    f32(32, params.topP - TOP_P_EPSILON);
    u32(36, params.topP < 1 ? 1 : 0);
    u32(40, toU32(params.seed, 'seed'));
    u32(44, toU32(params.step, 'step'));
    this.device.queue.writeBuffer(this.params, 0, this.paramBytes);
    if (numRecent > 0) {
      const ids = new Uint32Array(recent.buffer, recent.byteOffset, recent.length);
      this.device.queue.writeBuffer(this.recent, 0, ids as Uint32Array<ArrayBuffer>);
    }
    return plan.mode;
  }

  /**
   * Records the sampling dispatches into `pass` (no submit, no readback) after writing `params` with
   * writeParams. After the submit, `result` holds the id: copy its 4 bytes to a staging buffer.
   * The parameters live in this sampler's buffers, so encode once per submit and sampler.
   */
  encode(pass: GPUComputePassEncoder, logits: GpuLogits, params: GpuSampleParams): GpuSampleMode {
    if (this.destroyed) throw new InvalidArgumentError('GpuSampler: used after destroy()');
    const mode = this.writeParams(params);
    pass.setPipeline(this.pipelines.partial);
    pass.setBindGroup(0, this.partialGroup(logits));
    pass.dispatchWorkgroups(this.numChunks);
    const single = (pipeline: GPUComputePipeline, group: GPUBindGroup): void => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1);
    };
    switch (mode) {
      case 'greedy':
        single(this.pipelines.argmax, this.argmaxGroup);
        break;
      case 'top-k':
        single(this.pipelines.topk, this.topkGroup);
        break;
      case 'top-p':
        single(this.pipelines.topk, this.topkGroup);
        single(this.pipelines.nucleus, this.nucleusGroup);
        break;
      case 'full':
        single(this.pipelines.index, this.indexGroup);
        break;
    }
    return mode;
  }

  /**
   * Convenience for tests and one-off use: its own encoder and submit, then maps the 4-byte result.
   * Calls are serialised (one staging buffer). Throws InvalidArgumentError where the CPU sampler does
   * (every logit -inf or NaN outside greedy mode).
   */
  async sample(logits: GPUBuffer | GpuLogits, params: GpuSampleParams): Promise<number> {
    const run = this.pendingSample.then(async () => {
      const where = 'buffer' in logits ? logits : { buffer: logits, offset: 0 };
      const encoder = this.device.createCommandEncoder({ label: 'sampler.sample' });
      const pass = encoder.beginComputePass({ label: 'sampler.sample' });
      this.encode(pass, where, params);
      pass.end();
      encoder.copyBufferToBuffer(this.result, 0, this.staging, 0, 4);
      this.device.queue.submit([encoder.finish()]);
      await this.staging.mapAsync(GPUMapMode.READ);
      const id = new Uint32Array(this.staging.getMappedRange(0, 4))[0]!;
      this.staging.unmap();
      if (id === GPU_SAMPLE_INVALID_ID) {
        throw new InvalidArgumentError('every logit is -Infinity or NaN: nothing can be sampled');
      }
      return id;
    });
    this.pendingSample = run.catch(() => undefined);
    return run;
  }

  destroy(): void {
    this.destroyed = true;
    for (const b of [this.params, this.recent, this.scaled, this.partials, this.candidates, this.nucleusState, this.result, this.staging]) {
      b.destroy();
    }
  }

  private plan(params: GpuSampleParams): Plan {
    const n = this.vocabSize;
    const { temperature, topK, topP, repetitionPenalty } = params;
    if (!Number.isFinite(temperature) || temperature < 0) {
      throw new InvalidArgumentError(`temperature must be a finite number >= 0, got ${temperature}`);
    }
    if (!Number.isInteger(topK) || topK < 0) throw new InvalidArgumentError(`topK must be an integer >= 0, got ${topK}`);
    if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError(`topP must be in (0, 1], got ${topP}`);
    if (!(repetitionPenalty > 0 && Number.isFinite(repetitionPenalty))) {
      throw new InvalidArgumentError(`repetitionPenalty must be a positive finite number, got ${repetitionPenalty}`);
    }
    const penalise = repetitionPenalty !== 1 && params.recentIds.length > 0;
    if (penalise) {
      for (const id of params.recentIds) {
        if (id < 0 || id >= n) throw new InvalidArgumentError(`recent id ${id} is outside the vocabulary [0, ${n})`);
      }
    }
    if (temperature <= GREEDY_TEMPERATURE) return { mode: 'greedy', kSel: 0, penalise };
    if (topK > 0 && topK < n) {
      if (topK > GPU_TOP_K_CAP) {
        throw new RangeError(
          `topK ${topK} is over the GPU sampler's cap of ${GPU_TOP_K_CAP}; use topK <= ${GPU_TOP_K_CAP}, 0 (off), or the CPU sampler`,
        );
      }
      return { mode: 'top-k', kSel: topK, penalise };
    }
    if (topP < 1) return { mode: 'top-p', kSel: Math.min(GPU_TOP_K_CAP, n), penalise };
    return { mode: 'full', kSel: 0, penalise };
  }

  private growRecent(count: number): void {
    let capacity = this.recentCapacity;
    while (capacity < count) capacity *= 2;
    this.recent.destroy();
    this.recentCapacity = capacity;
    this.recent = this.device.createBuffer({
      label: 'sampler.recent',
      size: capacity * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    // Cached sample_partial bind groups point at the old buffer.
    this.partialGroups = new WeakMap();
  }

  private partialGroup(logits: GpuLogits): GPUBindGroup {
    const { buffer, offset } = logits;
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    if (!Number.isInteger(offset) || offset < 0 || offset % align !== 0) {
      throw new InvalidArgumentError(`logits offset ${offset} must be a non-negative multiple of ${align} bytes`);
    }
    const bytes = this.vocabSize * 4;
    if (offset + bytes > buffer.size) {
      throw new InvalidArgumentError(`logits buffer of ${buffer.size} bytes has no ${this.vocabSize} f32 values at offset ${offset}`);
    }
    let byOffset = this.partialGroups.get(buffer);
    if (!byOffset) {
      byOffset = new Map();
      this.partialGroups.set(buffer, byOffset);
    }
    let group = byOffset.get(offset);
    if (!group) {
      group = this.device.createBindGroup({
        label: 'sampler.partial',
        layout: this.pipelines.partial.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer, offset, size: bytes } },
          { binding: 1, resource: { buffer: this.recent } },
          { binding: 2, resource: { buffer: this.params } },
          { binding: 3, resource: { buffer: this.scaled } },
          { binding: 4, resource: { buffer: this.partials } },
          { binding: 5, resource: { buffer: this.candidates } },
        ],
      });
      byOffset.set(offset, group);
    }
    return group;
  }
}
