// Hybrid execution: some layers on the GPU, the rest on the CPU, in one forward pass. HybridOps tags
// every tensor and weight with its device and runs each op where its operands live; glm.ts calls
// moveTo() at layer boundaries, which costs one hidden-state transfer at each GPU/CPU seam.
// loadHybridBackend() places layers with the planner and recovers from GPU out-of-memory while
// loading by moving the layers not yet on the GPU (and the head) to the CPU.
import { CpuOps, cpuTensor, type CpuKvCache, type CpuTensor, type CpuWeight } from '../cpu/ops';
import { GpuOps, type GpuOpsOptions } from '../gpu/ops';
import type { GpuKvCache, GpuTensor, GpuWeight } from '../gpu/tensor';
import type { GpuContext } from '../gpu/device';
import type { GlmConfig } from '../model/config';
import type { DeviceSample, DeviceSampleExtras, DeviceSampleParams, DeviceToken, DeviceTokenRef, ForwardBatch, MatmulEpilogue, Ops } from '../model/ops';
import type { ModelFiles } from '../formats/byte-source';
import { loadModelFolder } from '../model/load';
import { quantizeWeightAt, type QuantChoice } from '../model/quantize-weights';
import type { HostWeight } from '../model/weights';
import { planPlacement, type Bandwidth, type Plan } from '../planner/planner';
import { tensorSizes } from '../planner/sizes';
import { ModelSession, PREFILL_CHUNK } from './session';
import { runtimeQuantMatmul } from './backend';
import { InvalidArgumentError } from '../errors';
import type { ModelWeights } from '../model/weights-types';
import type { VisionOps, VisionWeights } from '../model/vision';

export type Device = 'cpu' | 'gpu';
export type HybridTensor = { device: 'cpu'; t: CpuTensor } | { device: 'gpu'; t: GpuTensor };
export type HybridWeight = { device: 'cpu'; w: CpuWeight } | { device: 'gpu'; w: GpuWeight };
export interface HybridKvCache {
  capacity: number;
  cpu: CpuKvCache;
  gpu: GpuKvCache | null;
}

/** Where each part of the model runs. */
export interface Placement {
  layers: Device[];
  /** Final norm + lm_head. */
  head: Device;
  /** The embedding gather (untied models); default the planner's choice, or the CPU with a fixed placement. */
  embedding?: Device;
}

export class HybridOps implements Ops<HybridTensor, HybridWeight, HybridKvCache>, VisionOps<HybridTensor, HybridWeight> {
  readonly name = 'hybrid';
  /** Cache slot of each layer inside its device's cache (layers are numbered per device). */
  private readonly localIndex: number[];

  constructor(
    readonly cpu: CpuOps,
    readonly gpu: GpuOps,
    readonly placement: Placement,
  ) {
    const counters = { cpu: 0, gpu: 0 };
    this.localIndex = placement.layers.map((d) => counters[d]++);
  }

  private same(what: string, ...items: ({ device: Device } | undefined)[]): Device {
    const present = items.filter((i): i is { device: Device } => i !== undefined);
    const device = present[0]!.device;
    if (present.some((i) => i.device !== device)) {
      throw new InvalidArgumentError(`${what}: operands on different devices (${present.map((i) => i.device).join(', ')}); a moveTo() is missing`);
    }
    return device;
  }

  embed(table: HybridWeight, ids: Int32Array, onDevice?: DeviceTokenRef): HybridTensor {
    if (table.device === 'cpu') {
      if (onDevice) throw new InvalidArgumentError('embed: a device-held token id cannot feed a CPU-placed embedding');
      return { device: 'cpu', t: this.cpu.embed(table.w, ids) };
    }
    return { device: 'gpu', t: this.gpu.embed(table.w as GpuWeight, ids, onDevice) };
  }
  layerNorm(x: HybridTensor, weight: HybridWeight, bias: HybridWeight | undefined, eps: number): HybridTensor {
    this.same('layerNorm', x, weight, bias);
    return x.device === 'cpu'
      ? { device: 'cpu', t: this.cpu.layerNorm(x.t, weight.w as CpuWeight, bias?.w as CpuWeight | undefined, eps) }
      : { device: 'gpu', t: this.gpu.layerNorm(x.t, weight.w as GpuWeight, bias?.w as GpuWeight | undefined, eps) };
  }
  rmsNorm(x: HybridTensor, weight: HybridWeight, eps: number): HybridTensor {
    this.same('rmsNorm', x, weight);
    return x.device === 'cpu' ? { device: 'cpu', t: this.cpu.rmsNorm(x.t, weight.w as CpuWeight, eps) } : { device: 'gpu', t: this.gpu.rmsNorm(x.t, weight.w as GpuWeight, eps) };
  }
  matmul(x: HybridTensor, w: HybridWeight, e: MatmulEpilogue<HybridTensor, HybridWeight, HybridKvCache> = {}): HybridTensor {
    this.same('matmul', x, w, e.bias, e.residual, e.rmsNorm?.weight);
    // The same options with each tensor / weight unwrapped (they all live on x's device, checked above).
    const norm = e.rmsNorm;
    const local = {
      rmsNorm: norm && { weight: norm.weight.w, eps: norm.eps },
      bias: e.bias?.w,
      residual: e.residual?.t,
      residualScale: e.residualScale,
      activation: e.activation,
      // The cache part and layer index of x's device (ropeKvAppend below does the same).
      ropeKvAppend: e.ropeKvAppend && this.localCacheArgs(x, e.ropeKvAppend),
      attention: e.attention && this.localCacheArgs(x, e.attention),
    };
    return x.device === 'cpu'
      ? { device: 'cpu', t: this.cpu.matmul(x.t, w.w as CpuWeight, local as MatmulEpilogue<CpuTensor, CpuWeight, CpuKvCache>) }
      : { device: 'gpu', t: this.gpu.matmul(x.t, w.w as GpuWeight, local as MatmulEpilogue<GpuTensor, GpuWeight, GpuKvCache>) };
  }
  ropeKvAppend(qkv: HybridTensor, cache: HybridKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): HybridTensor {
    const local = this.layerSlot(qkv, layer);
    return qkv.device === 'cpu'
      ? { device: 'cpu', t: this.cpu.ropeKvAppend(qkv.t, cache.cpu, local, batch, config) }
      : { device: 'gpu', t: this.gpu.ropeKvAppend(qkv.t, cache.gpu!, local, batch, config) };
  }
  attention(q: HybridTensor, cache: HybridKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): HybridTensor {
    const local = this.layerSlot(q, layer);
    return q.device === 'cpu'
      ? { device: 'cpu', t: this.cpu.attention(q.t, cache.cpu, local, batch, config) }
      : { device: 'gpu', t: this.gpu.attention(q.t, cache.gpu!, local, batch, config) };
  }
  swiglu(x: HybridTensor): HybridTensor {
    return x.device === 'cpu' ? { device: 'cpu', t: this.cpu.swiglu(x.t) } : { device: 'gpu', t: this.gpu.swiglu(x.t) };
  }
  gelu(x: HybridTensor): HybridTensor {
    return x.device === 'cpu' ? { device: 'cpu', t: this.cpu.gelu(x.t) } : { device: 'gpu', t: this.gpu.gelu(x.t) };
  }
  add(a: HybridTensor, b: HybridTensor): HybridTensor {
    this.same('add', a, b);
    return a.device === 'cpu' ? { device: 'cpu', t: this.cpu.add(a.t, b.t as CpuTensor) } : { device: 'gpu', t: this.gpu.add(a.t, b.t as GpuTensor) };
  }
  sliceRows(x: HybridTensor, start: number, count: number): HybridTensor {
    return x.device === 'cpu' ? { device: 'cpu', t: this.cpu.sliceRows(x.t, start, count) } : { device: 'gpu', t: this.gpu.sliceRows(x.t, start, count) };
  }
  createKvCache(config: GlmConfig, capacity: number): HybridKvCache {
    const count = (d: Device) => this.placement.layers.filter((x) => x === d).length;
    const gpuLayers = count('gpu');
    return {
      capacity,
      cpu: this.cpu.createKvCache({ ...config, numLayers: count('cpu') }, capacity),
      gpu: gpuLayers > 0 ? this.gpu.createKvCache({ ...config, numLayers: gpuLayers }, capacity) : null,
    };
  }
  async moveTo(x: HybridTensor, layer: number): Promise<HybridTensor> {
    const target = layer < this.placement.layers.length ? this.placement.layers[layer]! : this.placement.head;
    if (x.device === target) return x;
    if (x.device === 'gpu') {
      const data = await this.gpu.read(x.t); // ends the GPU step: the seam's one readback
      return { device: 'cpu', t: cpuTensor(x.t.rows, x.t.cols, data) };
    }
    return { device: 'gpu', t: this.gpu.upload(x.t.data, x.t.rows, x.t.cols) };
  }
  sampleNext(logits: HybridTensor, params: DeviceSampleParams): Promise<number | null> {
    return logits.device === 'gpu' ? this.gpu.sampleNext(logits.t, params) : Promise.resolve(null);
  }
  sampleNextDetailed(logits: HybridTensor, params: DeviceSampleParams & DeviceSampleExtras): Promise<DeviceSample | null> {
    return logits.device === 'gpu' ? this.gpu.sampleNextDetailed(logits.t, params) : Promise.resolve(null);
  }

  /**
   * Pipelined decode only where the whole step stays on the GPU: with the embedding, a layer or the head
   * on the CPU every step waits for a transfer anyway, so those placements keep the simple step.
   */
  async sampleAhead(logits: HybridTensor, params: DeviceSampleParams, embedding: HybridWeight): Promise<DeviceToken | null> {
    const allGpu = this.placement.layers.every((d) => d === 'gpu') && embedding.device === 'gpu';
    return allGpu && logits.device === 'gpu' ? this.gpu.sampleAhead(logits.t, params) : null;
  }

  settle(): Promise<void> {
    return this.gpu.settle();
  }
  read(x: HybridTensor): Promise<Float32Array> {
    return x.device === 'cpu' ? this.cpu.read(x.t) : this.gpu.read(x.t);
  }

  /** A matmul option's cache and layer, as the part of the cache and the layer index on x's device. */
  private localCacheArgs(x: HybridTensor, a: { cache: HybridKvCache; layer: number; batch: ForwardBatch; config: GlmConfig }) {
    return { ...a, cache: x.device === 'cpu' ? a.cache.cpu : a.cache.gpu!, layer: this.layerSlot(x, a.layer) };
  }

  // ---- GLM-4V's vision tower: it runs where the head runs (its weights follow the head's device, see deviceOf) ----
  fromHost(data: Float32Array, rows: number, cols: number): HybridTensor {
    return this.placement.head === 'cpu' ? { device: 'cpu', t: this.cpu.fromHost(data, rows, cols) } : { device: 'gpu', t: this.gpu.fromHost(data, rows, cols) };
  }
  weightRows(w: HybridWeight): HybridTensor {
    return w.device === 'cpu' ? { device: 'cpu', t: this.cpu.weightRows(w.w) } : { device: 'gpu', t: this.gpu.weightRows(w.w) };
  }
  concatRows(parts: HybridTensor[]): HybridTensor {
    const device = this.same('concatRows', ...parts);
    return device === 'cpu'
      ? { device: 'cpu', t: this.cpu.concatRows(parts.map((p) => p.t as CpuTensor)) }
      : { device: 'gpu', t: this.gpu.concatRows(parts.map((p) => p.t as GpuTensor)) };
  }
  attentionFull(qkv: HybridTensor, numHeads: number): HybridTensor {
    return qkv.device === 'cpu' ? { device: 'cpu', t: this.cpu.attentionFull(qkv.t, numHeads) } : { device: 'gpu', t: this.gpu.attentionFull(qkv.t, numHeads) };
  }
  geluErf(x: HybridTensor): HybridTensor {
    return x.device === 'cpu' ? { device: 'cpu', t: this.cpu.geluErf(x.t) } : { device: 'gpu', t: this.gpu.geluErf(x.t) };
  }
  blocks2x2(x: HybridTensor, grid: number): HybridTensor {
    return x.device === 'cpu' ? { device: 'cpu', t: this.cpu.blocks2x2(x.t, grid) } : { device: 'gpu', t: this.gpu.blocks2x2(x.t, grid) };
  }

  private layerSlot(x: HybridTensor, layer: number): number {
    const d = this.placement.layers[layer];
    if (d !== x.device) throw new InvalidArgumentError(`layer ${layer} runs on the ${d}, but its input is on the ${x.device}`);
    return this.localIndex[layer]!;
  }
}

export interface HybridLoadOptions {
  quant: QuantChoice;
  /** The weights' format on the device when it differs from `quant` ('none' keeps a q4 package q4): sizes the plan. */
  plannedQuant?: QuantChoice;
  /** Measured speeds (runtime/calibration.ts); default: the planner's assumptions. */
  bandwidth?: Partial<Bandwidth>;
  /** As LoadOptions.cpuMinParallelGroups (backend.ts). */
  cpuMinParallelGroups?: number;
  /** GPU bytes the planner may use (the caller's guess, override or probe result). */
  gpuBudget: number;
  cpuBudget: number;
  contextLength: number;
  /** Fixed placement instead of the planner's (tests; still subject to out-of-memory recovery). */
  placement?: Placement;
  gpuOptions?: GpuOpsOptions;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface HybridModel {
  ops: HybridOps;
  config: GlmConfig;
  weights: ModelWeights<HybridWeight>;
  /** GLM-4V: the vision tower's weights, on the head's device. */
  vision?: VisionWeights<HybridWeight>;
  rawConfig: Record<string, unknown>;
  /** The planner's plan (null with a fixed placement). */
  plan: Plan | null;
  /** The placement actually used (after any out-of-memory recovery). */
  placement: Placement;
  contextLength: number;
  /** What changed while loading, e.g. layers moved to the CPU after the GPU refused memory. */
  changes: string[];
  newSession(capacity?: number): ModelSession<HybridTensor, HybridWeight, HybridKvCache>;
  /** Releases the CPU kernels' memory (wasm arenas, threads). */
  disposeCpu(): void;
  /** The CPU kernels' description (FastMatmul.description), shown by stats(). */
  cpuKernels: string;
}

function layerOf(path: string): number | null {
  const m = /^layers\.(\d+)\./.exec(path);
  return m ? Number(m[1]) : null;
}

function planFor(config: GlmConfig, ctx: GpuContext, options: HybridLoadOptions): Plan {
  return planPlacement({
    config,
    sizes: tensorSizes(config, options.plannedQuant ?? options.quant),
    device: { maxBufferSize: ctx.limits.maxBufferSize, maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, features: [...ctx.features] },
    budgets: { gpuBytes: options.gpuBudget, cpuBytes: options.cpuBudget },
    contextLength: Math.min(options.contextLength, config.maxSequenceLength),
    ...(options.bandwidth ? { bandwidth: options.bandwidth } : {}),
  });
}

/** The plan loadHybridModel would follow, without loading anything (reads config.json). */
export async function planHybrid(files: ModelFiles, ctx: GpuContext, options: HybridLoadOptions): Promise<Plan> {
  const { normalizeConfig } = await import('../model/config');
  return planFor(normalizeConfig(await files.readText('config.json')), ctx, options);
}

/**
 * Loads a model with each layer on the device the planner (or `options.placement`) chose. When the
 * GPU refuses an allocation, that layer and every later one, and the head, go to the CPU instead;
 * tensors of the failed layer that were already on the GPU are replaced by their host copies.
 */
export async function loadHybridModel(files: ModelFiles, ctx: GpuContext, options: HybridLoadOptions): Promise<HybridModel> {
  const { normalizeConfig } = await import('../model/config');
  const config = normalizeConfig(await files.readText('config.json'));
  let plan: Plan | null = null;
  let placement: Placement;
  let contextLength = Math.min(options.contextLength, config.maxSequenceLength);
  if (options.placement) {
    if (options.placement.layers.length !== config.numLayers) throw new InvalidArgumentError(`placement has ${options.placement.layers.length} layers, the model ${config.numLayers}`);
    placement = { layers: [...options.placement.layers], head: options.placement.head };
  } else {
    plan = planFor(config, ctx, options);
    placement = { layers: plan.layers.map((l) => l.device), head: plan.lmHead };
    contextLength = plan.contextLength;
  }
  // The embedding is a row gather: the CPU unless the planner wants it elsewhere.
  const embeddingDevice: Device = options.placement?.embedding ?? plan?.embedding ?? 'cpu';
  const gpu = new GpuOps(ctx, options.gpuOptions);
  const fastCpu = await runtimeQuantMatmul(options.cpuMinParallelGroups);
  const cpu = new CpuOps(fastCpu);
  const changes: string[] = [];
  // Uploaded tensors by path: a re-load after a re-plan keeps what stays on the GPU instead of uploading it again.
  const uploaded = new Map<string, GpuWeight>();

  const deviceOf = (path: string): Device => {
    const l = layerOf(path);
    if (l !== null) return placement.layers[l]!;
    if (path === 'embedding') return embeddingDevice;
    // A tied head shares the embedding's tensor; the head's own device is honoured below.
    return placement.head;
  };
  const isOom = (err: unknown) => (err as Error)?.name === 'GpuOutOfMemoryError';
  /** Moves `from`.. (layers) and the head to the CPU; returns a description. */
  const demoteFrom = (from: number): string => {
    const moved = placement.layers.map((d, i) => (i >= from && d === 'gpu' ? i : -1)).filter((i) => i >= 0);
    for (const i of moved) placement.layers[i] = 'cpu';
    const head = placement.head === 'gpu';
    placement.head = 'cpu';
    return [moved.length > 0 ? `layers ${moved[0]}-${moved.at(-1)}` : '', head ? 'the final norm and lm_head' : ''].filter(Boolean).join(' and ');
  };

  let weights: ModelWeights<HybridWeight>;
  let vision: VisionWeights<HybridWeight> | undefined;
  let rawConfig: Record<string, unknown>;
  let embeddingHost: HostWeight | null = null;
  for (;;) {
    const convert = async (w: HostWeight, path: string): Promise<HybridWeight> => {
      const host = quantizeWeightAt(w, path, options.quant);
      if (path === 'embedding') embeddingHost = host;
      const have = uploaded.get(path);
      if (deviceOf(path) === 'cpu') {
        if (have) {
          gpu.releaseWeight(have);
          uploaded.delete(path);
        }
        return { device: 'cpu', w: host };
      }
      if (have) return { device: 'gpu', w: have };
      try {
        const w2 = await gpu.uploadWeight(host, path);
        uploaded.set(path, w2);
        return { device: 'gpu', w: w2 };
      } catch (err) {
        if (!isOom(err)) throw err;
        const what = demoteFrom(layerOf(path) ?? config.numLayers);
        changes.push(`The GPU refused memory while loading ${path}; re-planned: ${what} now run on the CPU.`);
        return { device: 'cpu', w: host };
      }
    };
    const model = await loadModelFolder<HybridWeight>(files, { convert, onProgress: options.onProgress });
    weights = model.weights;
    vision = model.vision;
    rawConfig = model.rawConfig;
    // Tensors of a layer that were uploaded before the refusal moved with it: read again, now to the CPU.
    const stale = [...uploaded.keys()].filter((p) => deviceOf(p) === 'cpu');
    if (stale.length > 0) continue;
    // A tied lm_head is the embedding's handle; when head and embedding are apart, the head gets its own copy.
    if (weights.lmHead === weights.embedding && weights.embedding.device !== placement.head) {
      weights.lmHead = placement.head === 'gpu' ? { device: 'gpu', w: await gpu.uploadWeight(embeddingHost!, 'lmHead') } : { device: 'cpu', w: embeddingHost! };
    }
    // Probe: one token through the model allocates the KV cache and the step's scratch buffers. If the
    // GPU refuses those, the last GPU layer (or first the head) moves to the CPU and the model is re-read.
    let probeCache: HybridKvCache | null = null;
    try {
      const probeOps = new HybridOps(cpu, gpu, placement);
      const cache = (probeCache = probeOps.createKvCache(config, contextLength));
      const { forward } = await import('../model/glm');
      const { makeBatch } = await import('../model/positions');
      // A full prefill chunk: the largest scratch a session asks for (ModelSession prefills in chunks).
      const filler = Array.from({ length: Math.min(PREFILL_CHUNK, contextLength) - 2 }, () => 0);
      const probeIds = config.family === 'chatglm1' ? [...filler, config.tokens.gmask ?? 0, config.tokens.bos ?? 0] : [...filler, 0, 0];
      const result = await forward(probeOps, config, weights, cache, makeBatch(config, probeIds, 0), 'last');
      await probeOps.read(result.logits!);
      break;
    } catch (err) {
      if (!isOom(err)) throw err;
      gpu.trimPool(); // scratch buffers of the failed step: give the memory back before trying a smaller GPU share
      const lastGpu = placement.layers.lastIndexOf('gpu');
      if (placement.head === 'cpu' && lastGpu < 0) throw err; // nothing left to move
      const what = placement.head === 'gpu' ? demoteFrom(config.numLayers) : demoteFrom(lastGpu);
      changes.push(`The GPU refused memory for the KV cache or scratch buffers; re-planned: ${what} now run on the CPU.`);
    } finally {
      if (probeCache?.gpu) gpu.releaseKvCache(probeCache.gpu);
    }
  }
  const ops = new HybridOps(cpu, gpu, placement);
  return {
    ops,
    config,
    weights,
    rawConfig,
    plan,
    placement,
    contextLength,
    changes,
    ...(vision ? { vision } : {}),
    newSession: (capacity = contextLength) => new ModelSession(ops, config, weights, capacity, vision),
    disposeCpu: () => fastCpu.dispose(),
    cpuKernels: fastCpu.description,
  };
}
