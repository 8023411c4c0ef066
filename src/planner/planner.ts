// The budget planner: before anything is downloaded, decide which layers run on the GPU and which on the
// CPU fallback so that the model fits the browser's memory and binding limits, and estimate what that
// costs per decoded token. A pure function of (config, tensor sizes, device caps, budgets): no I/O, no
// clock, no randomness, so the same input always gives a deep-equal plan.
//
// Cost model (decode, one token at the end of a full granted context):
//   time = gpuBytesRead / gpuBandwidth + cpuBytesRead / cpuBandwidth
//        + seams x (transferLatency + hidden-state bytes / transferBandwidth)
// Decode is bandwidth-bound: every weight of every layer is read once per token, and attention reads the
// layer's whole KV cache. A seam is a device change between consecutive stages of the token's path
// (layer 0 .. layer L-1, then the head = final norm + lm_head); each costs one hidden-state transfer.
//
// Search: WebGPU cannot tell how much memory is free, so the budgets are hard caps. The planner enumerates
// every placement with one contiguous CPU block (at the start or the end of the stack), the head on either
// device and the embedding on either device, keeps those that fit both budgets and the binding limits, and
// takes the fastest. All layers of a model have the same size, so a block's position changes only the seams:
//   - head on the GPU: the CPU block goes at the START. The embedding gather already runs on the CPU, so
//     CPU layers there continue from it, and the only seam is an upload of the hidden state (CPU -> GPU).
//     A block at the end would need a readback and another upload before lm_head: two seams for the same
//     bytes.
//   - head on the CPU (when the GPU budget is better spent on layers than on the big vocab matrix): the CPU
//     block goes at the END, contiguous with the head: one seam.
//   A block in the middle holds the same bytes as one at either end with two seams, so it is never listed.
import { GlmError, InvalidArgumentError } from '../errors';
import type { GlmConfig } from '../model/config';
import { visionActivationBytes } from '../model/vision';
import { kvBytesPerTokenPerLayer, tensorBytes, type ModelSizes, type TensorSize, type WeightQuant } from './sizes';
import { formatBytes, GiB, MiB } from './units';

export type PlacementDevice = 'gpu' | 'cpu';

/** What the adapter allows (GPUSupportedLimits and the granted features). */
export interface DeviceCaps {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  features: readonly string[];
}

/** Hard caps in bytes. WebGPU reports no VRAM size, so the GPU budget is a guess (defaultGpuBudget) or the user's. */
export interface MemoryBudgets {
  gpuBytes: number;
  cpuBytes: number;
}

export interface Bandwidth {
  /** Bytes per second a decode kernel reads from GPU memory. */
  gpuBytesPerSec: number;
  /** Bytes per second the CPU fallback's matmul streams through quantized weights. */
  cpuBytesPerSec: number;
  /** Bytes per second of a hidden-state copy between the devices. */
  transferBytesPerSec: number;
  /** Fixed cost of one transfer (submit + mapAsync round trip). */
  transferLatencySec: number;
  /**
   * Fixed costs (issue #16), 0 unless measured (runtime/calibration.ts): what one op (a dispatch on the
   * GPU, a kernel call on the CPU) costs beside the bytes it reads, and what one decoded token costs on a
   * device that computes anything (the GPU's submit + readback of the sampled id). On a small model or a
   * software adapter these, not the bandwidth, decide the speed.
   */
  gpuOpSec?: number;
  cpuOpSec?: number;
  gpuTokenSec?: number;
  /**
   * The attention's cost per context token (issue #16), 0 unless measured: seconds per layer x query head x
   * head dim x cached position (the Q.K and P.V products of one decode step). A decode step at context n
   * pays it n times per layer and head: on the CPU's JS attention a few hundred tokens of context cost as
   * much as the small demo model's weights.
   */
  gpuAttentionSec?: number;
  cpuAttentionSec?: number;
  /**
   * Seconds per vocabulary entry of the GPU's sampler kernels (issue #16), 0 unless measured: a head on the
   * GPU draws the next id there, reading every logit; on a software adapter the demo's 8,192 logits cost
   * as much as several layers. (A CPU head reads the logits back and draws in JS: within its op cost.)
   */
  gpuSampleSec?: number;
  /**
   * Prefill rates in weight bytes per second per prompt token (a batched matmul reuses each weight for
   * many tokens, so this is far above the decode bandwidth). Without them no prefill speed is estimated.
   */
  gpuPrefillBytesPerSec?: number;
  cpuPrefillBytesPerSec?: number;
}

/**
 * Conservative defaults for a browser tab on a laptop, used when nothing was measured:
 * - GPU 100 GB/s: integrated GPUs reach 50-120 GB/s, discrete ones several hundred; WebGPU kernels get
 *   a good fraction of that (DESIGN.md: about 4.2 TB/s measured through Dawn on an H200).
 * - CPU 2 GB/s: the fallback is plain JS loops on one worker thread, dequantizing as it goes; it is
 *   compute-bound well below the memory bandwidth.
 * - transfer 2 GB/s and 0.5 ms: a small mapAsync readback is 0.03-0.05 ms under Dawn natively but costs
 *   a task hop or more in a browser.
 */
export const DEFAULT_BANDWIDTH: Readonly<Bandwidth> = {
  gpuBytesPerSec: 100e9,
  cpuBytesPerSec: 2e9,
  transferBytesPerSec: 2e9,
  transferLatencySec: 0.5e-3,
};

/**
 * Memory the planner sets aside beside weights and KV cache, stated so the runtime can hold itself to it:
 * - fixed: GPU 32 MiB (uniform and readback buffers, bind groups, driver slack); CPU 64 MiB (tokenizer,
 *   JS heap, upload staging: the loader writes weights in chunks, never a whole tensor at once).
 * - activations on each device that runs layers or the head: a prefill chunk of `prefillChunkTokens`
 *   tokens of f32 activations (x, residual, normed x, attention output, qkv, attention context, MLP up
 *   and activation), one row of attention scores per head over the whole context (prefill attention must
 *   stream keys, online softmax, to stay within it) and the f32 logits of one token.
 */
export const SCRATCH = {
  gpuFixedBytes: 32 * MiB,
  cpuFixedBytes: 64 * MiB,
  // Large enough for the prefill GEMM to fill a big GPU with 64 x 64 tiles (9B qkv: 4 x 72 workgroups).
  prefillChunkTokens: 256,
} as const;

/** Activation scratch of one device that runs layers or the head (see SCRATCH). */
export function activationBytes(config: GlmConfig, contextLength: number): number {
  const { hiddenSize: hidden, numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: F, vocabSize: V } = config;
  const qkvRows = (H + 2 * Hkv) * D;
  const upRows = config.mlp === 'swiglu' ? 2 * F : F;
  const perToken = 4 * (4 * hidden + qkvRows + H * D + upRows + F);
  return SCRATCH.prefillChunkTokens * perToken + 4 * H * contextLength + 4 * V;
}

export interface PlanInput {
  config: GlmConfig;
  /** From tensorSizes(config, quant). */
  sizes: ModelSizes;
  device: DeviceCaps;
  budgets: MemoryBudgets;
  /** Requested context (tokens). Clamped to the model's maximum sequence length. */
  contextLength: number;
  /** Shortest context the caller accepts; when below contextLength the planner may trade context for GPU layers. */
  minContextLength?: number;
  bandwidth?: Partial<Bandwidth>;
  /** GPU KV cache in f16. Default: when the device has 'shader-f16'. The CPU KV cache is always f32. */
  kvF16?: boolean;
  /** Where the embedding may go. 'auto' (default): whichever is faster, the CPU on a tie (always, in practice). */
  embedding?: 'auto' | PlacementDevice;
  /** Shown in explainPlan and in error messages. */
  modelName?: string;
  /** Carried into plan.notes (e.g. why the budget was lowered). */
  notes?: readonly string[];
  /** Restricts the placement to one device (backend 'gpu' or 'cpu'): the estimate of that choice. */
  only?: PlacementDevice;
  /** Where the bandwidth figures come from, for explainPlan (e.g. "measured on this adapter"). */
  speedBasis?: string;
}

export interface LayerPlacement {
  index: number;
  device: PlacementDevice;
  weightBytes: number;
  /** This layer's K and V cache at the granted context; it lives with the layer. */
  kvBytes: number;
}

/** A GPU buffer bigger than one binding allows, split by rows into parts that each fit. */
export interface TensorSplit {
  path: string;
  rows: number;
  cols: number;
  bytes: number;
  parts: number;
  /** Rows of every part but the last, which holds the rest. */
  rowsPerPart: number;
  partRows: number[];
  partBytes: number[];
}

export interface DeviceTotals {
  weightBytes: number;
  kvBytes: number;
  scratchBytes: number;
  totalBytes: number;
  budgetBytes: number;
  /** Weights and KV cache read per decoded token. */
  bytesReadPerToken: number;
}

export interface DecodeEstimate {
  /** The estimate is for a token at the end of a full context of this length (the slowest one). */
  contextLength: number;
  gpuSeconds: number;
  cpuSeconds: number;
  transferSeconds: number;
  seams: number;
  secondsPerToken: number;
  msPerToken: number;
  tokensPerSecond: number;
  /**
   * The same early in a conversation, at startContextLength tokens of context (the KV cache read and the
   * attention over it at that length): what a short chat's first reply sees.
   */
  tokensPerSecondAtStart: number;
  /** The context tokensPerSecondAtStart is for: START_CONTEXT_TOKENS, or the whole context when shorter. */
  startContextLength: number;
  /** Prompt tokens per second (null without measured prefill rates). */
  prefillTokensPerSecond: number | null;
  /** Where the figures come from (PlanInput.speedBasis, or "assumed defaults"). */
  basis: string;
}

export interface KvCachePlan {
  gpuF16: boolean;
  bytesPerTokenPerLayer: { gpu: number; cpu: number };
  /** One GPU layer's K (or V) buffer, split by positions when it exceeds a binding. */
  gpuBuffer: { bytes: number; parts: number; positionsPerPart: number };
}

export type CpuBlockPosition = 'none' | 'start' | 'end' | 'all';

export interface Plan {
  feasible: true;
  modelName: string | null;
  family: GlmConfig['family'];
  quant: WeightQuant;
  numLayers: number;
  layers: LayerPlacement[];
  /** The CPU layers: `count` layers from `first` (first = -1 when none). */
  cpuBlock: { position: CpuBlockPosition; first: number; count: number };
  gpuLayerCount: number;
  embedding: PlacementDevice;
  /** Final norm + lm_head (+ the sampler's logits). */
  lmHead: PlacementDevice;
  lmHeadTied: boolean;
  splits: TensorSplit[];
  kvCache: KvCachePlan;
  requestedContextLength: number;
  contextLength: number;
  contextTraded: boolean;
  seams: number;
  totals: { gpu: DeviceTotals; cpu: DeviceTotals };
  estimate: DecodeEstimate;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxPartBytes: number };
  bandwidth: Bandwidth;
  notes: string[];
}

/** No placement fits the budgets. The message names the needed and the available bytes per device. */
export class PlanInfeasibleError extends GlmError {
  override name = 'PlanInfeasibleError';
  constructor(
    message: string,
    readonly needed: { gpuBytes: number; cpuBytes: number },
    readonly available: { gpuBytes: number; cpuBytes: number },
  ) {
    super(message);
  }
}

// Split parts hold a multiple of this many rows (a matmul workgroup's tile) unless a binding is smaller.
const SPLIT_ROW_ALIGN = 64;
// A traded context is rounded down to a multiple of this (kernel tiles, and a number people recognise).
const CONTEXT_STEP = 256;
// After an out-of-memory error the GPU budget drops to this fraction of what had been allocated.
const OOM_BUDGET_FACTOR = 0.85;

// ---------------------------------------------------------------------------------------------------

function check(ok: boolean, message: string): void {
  if (!ok) throw new InvalidArgumentError(`planPlacement: ${message}`);
}

function validate(input: PlanInput): void {
  const { contextLength, minContextLength, budgets, device, sizes, config } = input;
  check(Number.isInteger(contextLength) && contextLength > 0, `contextLength must be a positive integer, got ${contextLength}`);
  if (minContextLength !== undefined) {
    check(Number.isInteger(minContextLength) && minContextLength > 0, `minContextLength must be a positive integer, got ${minContextLength}`);
  }
  for (const [name, v] of Object.entries(budgets)) check(Number.isFinite(v) && v >= 0, `budget ${name} must be a finite number >= 0, got ${v}`);
  check(device.maxBufferSize > 0 && device.maxStorageBufferBindingSize > 0, 'device limits must be positive');
  check(sizes.layers.length === config.numLayers, `sizes has ${sizes.layers.length} layers, the config ${config.numLayers}`);
  for (const [name, v] of Object.entries(input.bandwidth ?? {})) {
    const fixedCost = name === 'transferLatencySec' || name.endsWith('OpSec') || name.endsWith('TokenSec') || name.endsWith('AttentionSec') || name.endsWith('SampleSec');
    if (v !== undefined) check(Number.isFinite(v) && (fixedCost ? v >= 0 : v > 0), `bandwidth ${name} must be ${fixedCost ? '>= 0' : 'positive'}, got ${v}`);
  }
}

/** Row split of a tensor for GPU buffers of at most `maxPartBytes`; null when one row is already too big. */
function splitTensor(t: TensorSize, maxPartBytes: number): TensorSplit | 'whole' | null {
  if (t.bytes <= maxPartBytes) return 'whole';
  const rowBytes = tensorBytes(t.format, 1, t.cols);
  if (rowBytes > maxPartBytes || t.rows === 1) return null;
  // Largest row count that fits (q4/q8 scales pack two per word, so test the real size, not rows x rowBytes).
  let maxRows = Math.floor(maxPartBytes / rowBytes);
  while (maxRows > 1 && tensorBytes(t.format, maxRows, t.cols) > maxPartBytes) maxRows--;
  const parts = Math.ceil(t.rows / maxRows);
  // Balance the parts, then round up to the row tile when that still fits.
  let rowsPerPart = Math.ceil(t.rows / parts);
  const aligned = Math.ceil(rowsPerPart / SPLIT_ROW_ALIGN) * SPLIT_ROW_ALIGN;
  if (aligned <= maxRows && Math.ceil(t.rows / aligned) === parts) rowsPerPart = aligned;
  const partRows: number[] = [];
  for (let done = 0; done < t.rows; done += rowsPerPart) partRows.push(Math.min(rowsPerPart, t.rows - done));
  const partBytes = partRows.map((r) => tensorBytes(t.format, r, t.cols));
  return { path: t.path, rows: t.rows, cols: t.cols, bytes: partBytes.reduce((a, b) => a + b, 0), parts: partRows.length, rowsPerPart, partRows, partBytes };
}

/** A group of tensors that moves between devices as one (a layer, the head, the embedding). */
interface Stage {
  tensors: TensorSize[];
  /** Bytes on the CPU (unsplit). */
  cpuBytes: number;
  /** Bytes on the GPU (split parts included), or null when some row exceeds a binding. */
  gpuBytes: number | null;
  splits: TensorSplit[];
}

function stageOf(tensors: TensorSize[], maxPartBytes: number): Stage {
  let cpuBytes = 0;
  let gpuBytes: number | null = 0;
  const splits: TensorSplit[] = [];
  for (const t of tensors) {
    cpuBytes += t.bytes;
    const s = splitTensor(t, maxPartBytes);
    if (s === null) gpuBytes = null;
    else if (gpuBytes !== null) {
      if (s === 'whole') gpuBytes += t.bytes;
      else {
        gpuBytes += s.bytes;
        splits.push(s);
      }
    }
  }
  return { tensors, cpuBytes, gpuBytes, splits };
}

interface Prepared {
  input: PlanInput;
  config: GlmConfig;
  bandwidth: Bandwidth;
  maxPartBytes: number;
  kvF16: boolean;
  kvGpuPerToken: number;
  kvCpuPerToken: number;
  layers: Stage[];
  /** Final norm + lm_head; for a tied model also the embedding (one tensor serves both). */
  head: Stage;
  /** Untied models only. */
  embedding: Stage | null;
  /** GLM-4V's vision tower (with the head), and one image's activations through it. */
  vision: Stage | null;
  visionScratch: number;
  transferSeconds: number;
}

function prepare(input: PlanInput): Prepared {
  const { config, sizes, device } = input;
  const bandwidth = { ...DEFAULT_BANDWIDTH, ...definedOnly(input.bandwidth ?? {}) };
  const maxPartBytes = Math.min(device.maxStorageBufferBindingSize, device.maxBufferSize);
  const kvF16 = input.kvF16 ?? device.features.includes('shader-f16');
  const headTensors = [...sizes.finalNorm, sizes.lmHead];
  return {
    input,
    config,
    bandwidth,
    maxPartBytes,
    kvF16,
    kvGpuPerToken: kvBytesPerTokenPerLayer(config, kvF16),
    kvCpuPerToken: kvBytesPerTokenPerLayer(config, false),
    layers: sizes.layers.map((l) => stageOf(l.tensors, maxPartBytes)),
    head: stageOf(headTensors, maxPartBytes),
    // GLM-4V: the tower lives on the head's device (HybridOps runs it there); it runs once per image, so
    // it costs memory (weights + one image's activations) but no bytes per generated token.
    vision: sizes.vision?.length ? stageOf(sizes.vision, maxPartBytes) : null,
    visionScratch: config.vision ? visionActivationBytes(config.vision) : 0,
    embedding: sizes.lmHeadTied ? null : stageOf([sizes.embedding], maxPartBytes),
    // The hidden state crosses as f32.
    transferSeconds: bandwidth.transferLatencySec + (config.hiddenSize * 4) / bandwidth.transferBytesPerSec,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

interface Candidate {
  cpuLayers: number;
  position: 'start' | 'end';
  head: PlacementDevice;
  embedding: PlacementDevice;
}

interface Evaluated {
  candidate: Candidate;
  devices: PlacementDevice[];
  gpu: DeviceTotals;
  cpu: DeviceTotals;
  seams: number;
  seconds: number;
  gpuOk: boolean;
  fits: boolean;
}

function layerDevices(L: number, c: Candidate): PlacementDevice[] {
  const firstCpu = c.position === 'start' ? 0 : L - c.cpuLayers;
  return Array.from({ length: L }, (_, i) => (i >= firstCpu && i < firstCpu + c.cpuLayers ? 'cpu' : 'gpu'));
}

function evaluate(p: Prepared, c: Candidate, context: number): Evaluated {
  const { config, input, bandwidth } = p;
  const L = config.numLayers;
  const devices = layerDevices(L, c);
  const gpu = { weightBytes: 0, kvBytes: 0, scratchBytes: 0, totalBytes: 0, budgetBytes: input.budgets.gpuBytes, bytesReadPerToken: 0 };
  const cpu = { weightBytes: 0, kvBytes: 0, scratchBytes: 0, totalBytes: 0, budgetBytes: input.budgets.cpuBytes, bytesReadPerToken: 0 };
  let gpuOk = true;
  const place = (stage: Stage, device: PlacementDevice, kvBytes: number, readsPerToken: boolean) => {
    if (device === 'gpu') {
      if (stage.gpuBytes === null) gpuOk = false;
      const w = stage.gpuBytes ?? stage.cpuBytes;
      gpu.weightBytes += w;
      gpu.kvBytes += kvBytes;
      if (readsPerToken) gpu.bytesReadPerToken += w + kvBytes;
    } else {
      cpu.weightBytes += stage.cpuBytes;
      cpu.kvBytes += kvBytes;
      if (readsPerToken) cpu.bytesReadPerToken += stage.cpuBytes + kvBytes;
    }
  };
  devices.forEach((d, i) => place(p.layers[i]!, d, context * (d === 'gpu' ? p.kvGpuPerToken : p.kvCpuPerToken), true));
  place(p.head, c.head, 0, true);
  // The embedding gather reads one row (a few KiB) per token: below the cost model's resolution on either
  // device, so it costs nothing here and the tie-break (CPU, which leaves GPU memory to layers) decides.
  if (p.embedding) place(p.embedding, c.embedding, 0, false);
  if (p.vision) place(p.vision, c.head, 0, false);

  const computesOn = (d: PlacementDevice) => devices.includes(d) || c.head === d;
  const activations = activationBytes(config, context);
  const gpuUsed = computesOn('gpu') || c.embedding === 'gpu';
  gpu.scratchBytes = gpuUsed ? SCRATCH.gpuFixedBytes + (computesOn('gpu') ? activations : 0) : 0;
  cpu.scratchBytes = SCRATCH.cpuFixedBytes + (computesOn('cpu') ? activations : 0);
  (c.head === 'gpu' ? gpu : cpu).scratchBytes += p.visionScratch;
  gpu.totalBytes = gpu.weightBytes + gpu.kvBytes + gpu.scratchBytes;
  cpu.totalBytes = cpu.weightBytes + cpu.kvBytes + cpu.scratchBytes;

  const path = [...devices, c.head];
  let seams = 0;
  for (let i = 1; i < path.length; i++) if (path[i] !== path[i - 1]) seams++;
  const fixed = fixedSeconds(p, devices, c.head, context);
  const seconds =
    gpu.bytesReadPerToken / bandwidth.gpuBytesPerSec + cpu.bytesReadPerToken / bandwidth.cpuBytesPerSec + seams * p.transferSeconds + fixed;
  const fits = gpuOk && gpu.totalBytes <= input.budgets.gpuBytes && cpu.totalBytes <= input.budgets.cpuBytes;
  return { candidate: c, devices, gpu, cpu, seams, seconds, gpuOk, fits };
}

/** Ops one layer's decode step runs (glm.ts): qkv, rope + KV append, attention, output, up, down, plus separate norms. */
export function opsPerLayer(config: GlmConfig): number {
  return 6 + (config.residualAlpha !== null ? 2 : 0) + (config.sandwichNorms ? 4 : 0);
}
/** The head: final norm and lm_head (and the embedding gather, counted here). */
export const HEAD_OPS = 3;

/**
 * A short chat's first reply decodes at about this many tokens of context (a system prompt, a question with
 * any knowledge-base entry, the reply so far: 70-100 tokens for the demo model's first answer): the context
 * of the estimate the pages show (DecodeEstimate.tokensPerSecondAtStart).
 */
export const START_CONTEXT_TOKENS = 128;

/**
 * Per-token costs of a placement beside the weight bytes: ops on each device, the GPU's per-token submit +
 * readback, the GPU sampler over the vocabulary, and each layer's attention over `context` cached positions.
 */
function fixedSeconds(p: Prepared, devices: readonly PlacementDevice[], head: PlacementDevice, context: number): number {
  const b = p.bandwidth;
  const perLayer = opsPerLayer(p.config);
  const gpuLayers = devices.filter((d) => d === 'gpu').length;
  const cpuLayers = devices.length - gpuLayers;
  const gpuOps = gpuLayers * perLayer + (head === 'gpu' ? HEAD_OPS : 0);
  const cpuOps = cpuLayers * perLayer + (head === 'cpu' ? HEAD_OPS : 0);
  const attention = p.config.numHeads * p.config.headDim * context;
  return (
    gpuOps * (b.gpuOpSec ?? 0) + cpuOps * (b.cpuOpSec ?? 0) + (gpuOps > 0 ? (b.gpuTokenSec ?? 0) : 0) +
    (head === 'gpu' ? p.config.vocabSize * (b.gpuSampleSec ?? 0) : 0) +
    attention * (gpuLayers * (b.gpuAttentionSec ?? 0) + cpuLayers * (b.cpuAttentionSec ?? 0))
  );
}

/**
 * Which placements a search considers: 'any', 'allLayers' (no CPU layer) or 'wholeModel' (no CPU layer
 * and the head on the GPU too): the targets a context trade aims for.
 */
type SearchScope = 'any' | 'allLayers' | 'wholeModel';

function scopeOf(e: Evaluated): SearchScope {
  if (e.candidate.cpuLayers > 0) return 'any';
  return e.candidate.head === 'gpu' ? 'wholeModel' : 'allLayers';
}

const SCOPE_RANK: Record<SearchScope, number> = { any: 0, allLayers: 1, wholeModel: 2 };

function candidates(p: Prepared, scope: SearchScope): Candidate[] {
  const L = p.config.numLayers;
  const tied = p.embedding === null;
  const embeddingChoice = p.input.embedding ?? 'auto';
  const out: Candidate[] = [];
  const only = p.input.only;
  if (only) {
    // One device for everything (the user chose GPU or CPU): a single candidate, the embedding on the CPU
    // unless a tied head needs it on the GPU.
    const embedding: PlacementDevice = tied ? only : embeddingChoice === 'auto' ? 'cpu' : embeddingChoice;
    return scope === 'any' || only === 'gpu' ? [{ cpuLayers: only === 'cpu' ? L : 0, position: 'start', head: only, embedding }] : [];
  }
  for (const head of scope === 'wholeModel' ? (['gpu'] as const) : (['gpu', 'cpu'] as const)) {
    // A tied embedding is the lm_head's tensor: it lives wherever the head does.
    const embeddings: PlacementDevice[] = tied ? [head] : embeddingChoice === 'auto' ? ['cpu', 'gpu'] : [embeddingChoice];
    if (tied && embeddingChoice !== 'auto' && embeddingChoice !== head) continue;
    for (const embedding of embeddings) {
      for (let cpuLayers = 0; cpuLayers <= (scope === 'any' ? L : 0); cpuLayers++) {
        // With no CPU layers, or all of them, the block's position means nothing: list it once.
        const positions = cpuLayers === 0 || cpuLayers === L ? (['start'] as const) : (['start', 'end'] as const);
        for (const position of positions) out.push({ cpuLayers, position, head, embedding });
      }
    }
  }
  return out;
}

/** Deterministic order: faster, then fewer seams, then the embedding on the CPU, then less GPU memory. */
function better(a: Evaluated, b: Evaluated): boolean {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds;
  if (a.seams !== b.seams) return a.seams < b.seams;
  if (a.candidate.embedding !== b.candidate.embedding) return a.candidate.embedding === 'cpu';
  if (a.gpu.totalBytes !== b.gpu.totalBytes) return a.gpu.totalBytes < b.gpu.totalBytes;
  return false; // keep the earlier candidate (enumeration order is fixed)
}

function overflow(e: Evaluated): number {
  return Math.max(0, e.gpu.totalBytes - e.gpu.budgetBytes) + Math.max(0, e.cpu.totalBytes - e.cpu.budgetBytes);
}

interface Search {
  best: Evaluated | null;
  /** When nothing fits: the placement that misses the budgets by the fewest bytes. */
  closest: Evaluated | null;
}

function search(p: Prepared, context: number, scope: SearchScope): Search {
  let best: Evaluated | null = null;
  let closest: Evaluated | null = null;
  for (const c of candidates(p, scope)) {
    const e = evaluate(p, c, context);
    if (e.fits) {
      if (!best || better(e, best)) best = e;
    } else if (e.gpuOk && (!closest || overflow(e) < overflow(closest))) closest = e;
  }
  return { best, closest };
}

/** Largest context in [lo, hi] for which a placement fits (feasibility only shrinks as the context grows). */
function largestFittingContext(p: Prepared, lo: number, hi: number, scope: SearchScope): number | null {
  if (!search(p, lo, scope).best) return null;
  let ok = lo;
  let bad = hi + 1;
  while (bad - ok > 1) {
    const mid = Math.floor((ok + bad) / 2);
    if (search(p, mid, scope).best) ok = mid;
    else bad = mid;
  }
  const rounded = Math.floor(ok / CONTEXT_STEP) * CONTEXT_STEP;
  return rounded >= lo ? rounded : ok;
}

function describeCandidate(e: Evaluated, L: number): string {
  const gpuLayers = e.devices.filter((d) => d === 'gpu').length;
  return `${gpuLayers} of ${L} layers on the GPU, lm_head on the ${e.candidate.head.toUpperCase()}`;
}

function bytesWithExact(n: number): string {
  return `${formatBytes(n)} (${n} bytes)`;
}

function infeasible(p: Prepared, context: number, requested: number): PlanInfeasibleError {
  const { config, input } = p;
  const name = input.modelName ?? `${config.family} model`;
  const { gpuBytes, cpuBytes } = input.budgets;
  const { closest } = search(p, context, 'any');
  // The all-CPU placement has no GPU tensor, so it is always a candidate: `closest` exists.
  if (!closest) throw new Error('planPlacement: no candidate placement at all (a bug)');
  const at = context < requested ? `even at the shortest accepted context of ${context} tokens` : `at a context of ${context} tokens`;
  const quant = input.sizes.quant;
  const smaller = quant === 'none' ? ', or quantize the weights (q4 or q8)' : quant === 'q8' ? ', or use q4 weights' : '';
  const device = (label: string, t: DeviceTotals) =>
    `${label} needs ${bytesWithExact(t.totalBytes)} (weights ${formatBytes(t.weightBytes)}, KV cache ${formatBytes(t.kvBytes)}, ` +
    `scratch ${formatBytes(t.scratchBytes)}) but has ${bytesWithExact(t.budgetBytes)}`;
  return new PlanInfeasibleError(
    `${name} (${quant}) does not fit the memory budgets ${at}: it needs about ${formatBytes(closest.gpu.totalBytes + closest.cpu.totalBytes)} ` +
      `in all and the budgets give ${formatBytes(gpuBytes + cpuBytes)} (GPU ${formatBytes(gpuBytes)} + CPU ${formatBytes(cpuBytes)}). ` +
      `Closest placement (${describeCandidate(closest, config.numLayers)}): ${device('GPU', closest.gpu)}; ${device('CPU', closest.cpu)}. ` +
      `Raise the GPU or CPU budget, allow a shorter context${smaller}.`,
    { gpuBytes: closest.gpu.totalBytes, cpuBytes: closest.cpu.totalBytes },
    { gpuBytes, cpuBytes },
  );
}

function kvPlan(p: Prepared, context: number): KvCachePlan {
  const perPosition = p.kvGpuPerToken / 2; // one of K or V
  const bytes = context * perPosition;
  const positionsPerPart = bytes <= p.maxPartBytes ? context : Math.max(1, Math.floor(p.maxPartBytes / perPosition));
  return {
    gpuF16: p.kvF16,
    bytesPerTokenPerLayer: { gpu: p.kvGpuPerToken, cpu: p.kvCpuPerToken },
    gpuBuffer: { bytes, parts: Math.ceil(context / positionsPerPart), positionsPerPart },
  };
}

function buildPlan(p: Prepared, e: Evaluated, context: number, requested: number, notes: string[]): Plan {
  const { config, input } = p;
  const L = config.numLayers;
  const layers: LayerPlacement[] = e.devices.map((device, index) => ({
    index,
    device,
    weightBytes: device === 'gpu' ? p.layers[index]!.gpuBytes! : p.layers[index]!.cpuBytes,
    kvBytes: context * (device === 'gpu' ? p.kvGpuPerToken : p.kvCpuPerToken),
  }));
  const cpuCount = e.candidate.cpuLayers;
  const position: CpuBlockPosition = cpuCount === 0 ? 'none' : cpuCount === L ? 'all' : e.candidate.position;
  const first = cpuCount === 0 ? -1 : e.devices.indexOf('cpu');
  const splits: TensorSplit[] = [];
  e.devices.forEach((d, i) => {
    if (d === 'gpu') splits.push(...p.layers[i]!.splits);
  });
  if (e.candidate.head === 'gpu') splits.push(...p.head.splits);
  if (p.embedding && e.candidate.embedding === 'gpu') splits.push(...p.embedding.splits);
  const embedding = p.embedding ? e.candidate.embedding : e.candidate.head;

  if (position === 'start' && e.candidate.head === 'gpu') {
    notes.push(`CPU layers 0-${cpuCount - 1} run first, after the CPU embedding gather, so the only seam is one upload of the hidden state.`);
  }
  if (position === 'end' && e.candidate.head === 'cpu') {
    notes.push(`CPU layers ${first}-${L - 1} run last, next to the CPU lm_head, so the only seam is one readback of the hidden state.`);
  }
  const kv = kvPlan(p, context);
  if (kv.gpuBuffer.parts > 1 && e.devices.includes('gpu')) {
    notes.push(`Each GPU layer's K and V buffers are split into ${kv.gpuBuffer.parts} parts of ${kv.gpuBuffer.positionsPerPart} positions (binding limit ${formatBytes(p.maxPartBytes)}).`);
  }
  const gpuSeconds = e.gpu.bytesReadPerToken / p.bandwidth.gpuBytesPerSec;
  const cpuSeconds = e.cpu.bytesReadPerToken / p.bandwidth.cpuBytesPerSec;
  const transferSeconds = e.seams * p.transferSeconds;
  // Early in a chat: the same placement at a short chat's context (its KV cache and attention).
  const startContext = Math.min(START_CONTEXT_TOKENS, context);
  const atStart = evaluate(p, e.candidate, startContext);
  const b = p.bandwidth;
  // Prefill: weight bytes only (at context 0 nothing else is read).
  const weightsOnly = evaluate(p, e.candidate, 0);
  const gpuWeights = weightsOnly.gpu.bytesReadPerToken;
  const cpuWeights = weightsOnly.cpu.bytesReadPerToken;
  const prefillSeconds =
    (gpuWeights > 0 && !b.gpuPrefillBytesPerSec) || (cpuWeights > 0 && !b.cpuPrefillBytesPerSec)
      ? null
      : gpuWeights / (b.gpuPrefillBytesPerSec ?? 1) + cpuWeights / (b.cpuPrefillBytesPerSec ?? 1);
  return {
    feasible: true,
    modelName: input.modelName ?? null,
    family: config.family,
    quant: input.sizes.quant,
    numLayers: L,
    layers,
    cpuBlock: { position, first, count: cpuCount },
    gpuLayerCount: L - cpuCount,
    embedding,
    lmHead: e.candidate.head,
    lmHeadTied: input.sizes.lmHeadTied,
    splits,
    kvCache: kv,
    requestedContextLength: requested,
    contextLength: context,
    contextTraded: context < requested,
    seams: e.seams,
    totals: { gpu: e.gpu, cpu: e.cpu },
    estimate: {
      contextLength: context,
      gpuSeconds,
      cpuSeconds,
      transferSeconds,
      seams: e.seams,
      secondsPerToken: e.seconds,
      msPerToken: e.seconds * 1000,
      tokensPerSecond: 1 / e.seconds,
      tokensPerSecondAtStart: 1 / atStart.seconds,
      startContextLength: startContext,
      prefillTokensPerSecond: prefillSeconds === null ? null : 1 / prefillSeconds,
      basis: input.speedBasis ?? 'assumed defaults (nothing measured)',
    },
    limits: { maxBufferSize: input.device.maxBufferSize, maxStorageBufferBindingSize: input.device.maxStorageBufferBindingSize, maxPartBytes: p.maxPartBytes },
    bandwidth: { ...p.bandwidth },
    notes,
  };
}

/**
 * Places every layer, the embedding and the lm_head on the GPU or the CPU so that both budgets and the
 * binding limits hold and the estimated decode time per token is lowest. Throws PlanInfeasibleError when
 * no placement fits.
 *
 * Context: the requested context (clamped to the model's maximum) is granted when any placement fits it.
 * When minContextLength allows a shorter one, the planner trades context for speed only to move the model
 * up a placement class: the whole model (layers and lm_head) on the GPU, or failing that every layer; it
 * takes the largest context that reaches the class (rounded down to a multiple of 256), and only when that
 * is faster. When nothing fits the requested context at all, it takes the largest context that fits.
 * plan.notes says what was traded.
 */
export function planPlacement(input: PlanInput): Plan {
  validate(input);
  const p = prepare(input);
  const notes: string[] = [...(input.notes ?? [])];
  const max = input.config.maxSequenceLength;
  const requested = Math.min(input.contextLength, max);
  if (input.contextLength > max) notes.push(`Context ${input.contextLength} clamped to the model's maximum of ${max} tokens.`);
  const minContext = Math.min(input.minContextLength ?? requested, requested);

  let chosen = search(p, requested, 'any').best;
  let context = requested;
  if (minContext < requested) {
    // Trade context only to reach the next placement class: the whole model on the GPU, else every layer.
    for (const scope of ['wholeModel', 'allLayers'] as const) {
      if (chosen && SCOPE_RANK[scopeOf(chosen)] >= SCOPE_RANK[scope]) break;
      const shorter = largestFittingContext(p, minContext, requested - 1, scope);
      if (shorter === null) continue;
      const traded = search(p, shorter, scope).best!;
      if (chosen && traded.seconds >= chosen.seconds) break;
      const what = scope === 'wholeModel' ? `every layer and lm_head` : `all ${p.config.numLayers} layers`;
      notes.push(
        chosen
          ? `Context traded for speed: ${shorter} tokens instead of ${requested} puts ${what} on the GPU ` +
              `(at ${requested} tokens ${describeCandidate(chosen, p.config.numLayers)}: ${(chosen.seconds * 1000).toFixed(1)} ms/token ` +
              `instead of ${(traded.seconds * 1000).toFixed(1)}).`
          : `Context shortened to ${shorter} tokens (requested ${requested}): nothing fits the requested context; this one puts ${what} on the GPU.`,
      );
      chosen = traded;
      context = shorter;
      break;
    }
    if (!chosen) {
      const shorter = largestFittingContext(p, minContext, requested - 1, 'any');
      if (shorter !== null) {
        chosen = search(p, shorter, 'any').best!;
        context = shorter;
        notes.push(`Context shortened to ${shorter} tokens (requested ${requested}): nothing fits the requested context.`);
      }
    }
  }
  if (!chosen) throw infeasible(p, minContext, requested);
  return buildPlan(p, embeddingForPipelining(p, chosen, context, notes), context, requested, notes);
}

/**
 * Pipelined decode steps (src/runtime/decode-steps.ts) need the whole step on the GPU, the embedding's
 * gather of the fed-back id included. So when every layer and the head are on the GPU and the embedding
 * fits there too, it goes there (the search, which cannot tell the two apart in speed, keeps it on the CPU).
 */
function embeddingForPipelining(p: Prepared, chosen: Evaluated, context: number, notes: string[]): Evaluated {
  const c = chosen.candidate;
  if (p.embedding === null || (p.input.embedding ?? 'auto') !== 'auto' || c.embedding === 'gpu' || c.cpuLayers > 0 || c.head !== 'gpu') return chosen;
  const moved = evaluate(p, { ...c, embedding: 'gpu' }, context);
  if (!moved.fits) return chosen;
  notes.push('The embedding joins the layers and lm_head on the GPU: the sampled id then feeds the next decode step there (pipelined steps).');
  return moved;
}

/**
 * Out-of-memory recovery: the GPU refused an allocation after `failedAtBytes` bytes (everything allocated
 * so far plus the failed request). The real limit is below that, so re-plan with the GPU budget lowered to
 * a fraction of it (never above the old budget): more layers move to the CPU. Throws PlanInfeasibleError
 * when the CPU cannot take them.
 */
export function replanWithMoreCpu(input: PlanInput, failedAtBytes: number): Plan {
  check(Number.isFinite(failedAtBytes) && failedAtBytes >= 0, `failedAtBytes must be a finite number >= 0, got ${failedAtBytes}`);
  const lowered = Math.floor(Math.min(input.budgets.gpuBytes, failedAtBytes) * OOM_BUDGET_FACTOR);
  return planPlacement({
    ...input,
    budgets: { ...input.budgets, gpuBytes: lowered },
    notes: [
      ...(input.notes ?? []),
      `GPU budget lowered from ${formatBytes(input.budgets.gpuBytes)} to ${formatBytes(lowered)} after a GPU allocation failed at ${formatBytes(failedAtBytes)}.`,
    ],
  });
}

// ---------------------------------------------------------------------------------------------------
// Default GPU budgets. WebGPU exposes neither the memory size nor the free memory, and adapter info is
// often reduced to vendor + architecture (description is empty unless the page is allowed to unmask it).
// So the default is a deliberately low guess per adapter class; an allocation failure re-plans with less
// (replanWithMoreCpu), while a guess that is too high would first have to fail. The user can always override.

export interface AdapterClassInfo {
  vendor: string;
  architecture: string;
  description: string;
  isFallback: boolean;
}

export interface AdapterMemoryLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export type AdapterClass = 'software' | 'apple' | 'discrete' | 'integrated' | 'mobile' | 'unknown';

/** Which budget class an adapter falls in, and why. */
export function classifyAdapter(info: AdapterClassInfo): { adapterClass: AdapterClass; reason: string } {
  const vendor = info.vendor.toLowerCase();
  const arch = info.architecture.toLowerCase();
  const desc = info.description.toLowerCase();
  const all = `${vendor} ${arch} ${desc}`;
  if (info.isFallback || /swiftshader|llvmpipe|lavapipe|warp|basic render/.test(all)) {
    return { adapterClass: 'software', reason: 'software rasteriser: GPU buffers live in ordinary process memory' };
  }
  if (vendor === 'apple' || /apple|metal-3|common-3/.test(arch) || /apple m\d/.test(desc)) {
    return { adapterClass: 'apple', reason: 'Apple silicon: the GPU shares unified memory with the system' };
  }
  if (vendor === 'nvidia' || desc.includes('nvidia')) {
    // Tegra/Jetson are the only integrated NVIDIA parts and rarely run a WebGPU browser.
    return { adapterClass: 'discrete', reason: 'NVIDIA: a discrete card' };
  }
  if (vendor === 'amd' || vendor === 'ati' || /radeon|amd/.test(desc)) {
    // APUs name themselves "Radeon(TM) Graphics", "Radeon Vega 8" or "Radeon 780M"; discrete cards carry RX/Pro.
    if (/radeon\s*(\(tm\))?\s*graphics|vega\s*\d+\b|radeon\s*\d{3}m\b/.test(desc) && !/\brx\b|\bpro\b/.test(desc)) {
      return { adapterClass: 'integrated', reason: 'AMD APU graphics: shares system memory' };
    }
    return { adapterClass: 'discrete', reason: 'AMD Radeon: assumed discrete (APUs usually say so in the description)' };
  }
  if (vendor === 'intel' || desc.includes('intel')) {
    // Discrete Arc cards are Xe-HPG (A-series) or Xe2-HPG (B-series) with a model number; Meteor/Lunar Lake
    // integrated graphics are also called "Arc(TM) Graphics" but have none.
    if (/xe2?-hpg/.test(arch) || /arc(\(tm\))?\s+[ab]\d{3}/.test(desc)) return { adapterClass: 'discrete', reason: 'Intel Arc: a discrete card' };
    return { adapterClass: 'integrated', reason: 'Intel integrated graphics: shares system memory' };
  }
  if (/qualcomm|adreno|arm|mali|imagination|powervr|samsung|xclipse|mediatek/.test(all)) {
    return { adapterClass: 'mobile', reason: 'mobile GPU: a phone or tablet, or an ARM laptop sharing system memory' };
  }
  return { adapterClass: 'unknown', reason: 'unrecognised adapter' };
}

/**
 * A GPU budget (bytes) for an adapter when nothing else is known:
 * - software (SwiftShader): 1 GiB. Its "GPU memory" is the process heap, which the CPU fallback needs too.
 * - discrete (NVIDIA, AMD Radeon, Intel Arc): 4 GiB. The smallest cards still in use have 4-6 GB, and the
 *   compositor, the browser and other tabs hold part of it.
 * - Apple silicon: half of the unified memory, guessed as 8 GiB (every Apple-silicon Mac has at least that)
 *   unless `deviceMemoryBytes` says otherwise; macOS lets the GPU use about two thirds of it at most.
 * - integrated (Intel, AMD APU): a quarter of the system memory when known, between 1.5 and 2 GiB: drivers
 *   carve shared GPU memory out of RAM and the tab's CPU side needs the rest.
 * - mobile: 1 GiB. unknown: 1.5 GiB.
 * An adapter whose maxBufferSize and maxStorageBufferBindingSize are only the WebGPU defaults (256 / 128 MiB)
 * is almost always a phone or a low-end part: capped at 1 GiB.
 * `deviceMemoryBytes` is navigator.deviceMemory x 1 GiB where the browser offers it (Chrome caps it at 8).
 */
export function defaultGpuBudget(info: AdapterClassInfo, limits: AdapterMemoryLimits, hints: { deviceMemoryBytes?: number } = {}): number {
  const { adapterClass } = classifyAdapter(info);
  const memory = hints.deviceMemoryBytes;
  let budget = GPU_BUDGET_BY_CLASS[adapterClass];
  if (adapterClass === 'apple' && memory !== undefined) budget = Math.floor(0.5 * memory);
  if (adapterClass === 'integrated' && memory !== undefined) budget = Math.min(2 * GiB, Math.max(1.5 * GiB, Math.floor(memory / 4)));
  if (limits.maxBufferSize <= 256 * MiB && limits.maxStorageBufferBindingSize <= 128 * MiB) budget = Math.min(budget, 1 * GiB);
  return budget;
}

/** The budget of each class when no memory size is known (see defaultGpuBudget for the reasons). */
export const GPU_BUDGET_BY_CLASS: Readonly<Record<AdapterClass, number>> = {
  software: 1 * GiB,
  discrete: 4 * GiB,
  apple: 4 * GiB, // half of a guessed 8 GiB
  integrated: 1.5 * GiB,
  mobile: 1 * GiB,
  unknown: 1.5 * GiB,
};

// ---------------------------------------------------------------------------------------------------

function range(first: number, count: number): string {
  if (count === 0) return '-';
  return count === 1 ? `${first}` : `${first}-${first + count - 1}`;
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

/** A human table of the plan: layer ranges per device, bytes per device, splits, context and speed. */
export function explainPlan(plan: Plan): string {
  const lines: string[] = [];
  const L = plan.numLayers;
  const title = plan.modelName ?? plan.family;
  const ctx = plan.contextTraded ? `context ${plan.contextLength} (requested ${plan.requestedContextLength})` : `context ${plan.contextLength}`;
  lines.push(`${title} · ${plan.quant} · ${L} layers · ${ctx} · KV cache ${plan.kvCache.gpuF16 ? 'f16' : 'f32'} on the GPU, f32 on the CPU`);
  lines.push('');
  const gpuRanges = gpuLayerRanges(plan);
  const header = ['device', 'layers', 'weights', 'KV cache', 'scratch', 'total', 'budget', 'used'];
  const row = (label: string, layers: string, t: DeviceTotals) => [
    label,
    layers,
    formatBytes(t.weightBytes),
    formatBytes(t.kvBytes),
    formatBytes(t.scratchBytes),
    formatBytes(t.totalBytes),
    formatBytes(t.budgetBytes),
    t.budgetBytes > 0 ? `${((100 * t.totalBytes) / t.budgetBytes).toFixed(0)}%` : '-',
  ];
  const rows = [
    header,
    row('GPU', `${gpuRanges} (${plan.gpuLayerCount})`, plan.totals.gpu),
    row('CPU', `${range(plan.cpuBlock.first, plan.cpuBlock.count)} (${plan.cpuBlock.count})`, plan.totals.cpu),
  ];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(pad(r, widths));
  lines.push('');
  lines.push(
    `embedding: ${plan.embedding.toUpperCase()}${plan.embedding === 'cpu' ? ' (one row gathered per token)' : ''}` +
      ` · lm_head: ${plan.lmHead.toUpperCase()}${plan.lmHeadTied ? ' (tied to the embedding)' : ''}`,
  );
  const kv = plan.kvCache;
  lines.push(`KV cache per layer at ${plan.contextLength} tokens: GPU ${formatBytes(kv.bytesPerTokenPerLayer.gpu * plan.contextLength)}, CPU ${formatBytes(kv.bytesPerTokenPerLayer.cpu * plan.contextLength)} (it stays with its layer)`);
  if (plan.splits.length === 0) {
    lines.push(`splits: none (every GPU tensor fits one ${formatBytes(plan.limits.maxPartBytes)} binding)`);
  } else {
    lines.push(`splits (binding limit ${formatBytes(plan.limits.maxPartBytes)}):`);
    for (const s of groupSplits(plan.splits)) lines.push(`  ${s}`);
  }
  const e = plan.estimate;
  lines.push(
    `seams: ${plan.seams}` + (plan.seams > 0 ? ` (${(e.transferSeconds * 1000).toFixed(2)} ms/token in hidden-state transfers)` : ''),
  );
  lines.push(
    `estimate at a full ${e.contextLength}-token context: ${e.msPerToken.toFixed(1)} ms/token (${e.tokensPerSecond.toFixed(1)} tok/s): ` +
      `GPU reads ${formatBytes(plan.totals.gpu.bytesReadPerToken)} (${(e.gpuSeconds * 1000).toFixed(1)} ms at ${gbps(plan.bandwidth.gpuBytesPerSec)} GB/s), ` +
      `CPU reads ${formatBytes(plan.totals.cpu.bytesReadPerToken)} (${(e.cpuSeconds * 1000).toFixed(1)} ms at ${gbps(plan.bandwidth.cpuBytesPerSec)} GB/s)`,
  );
  lines.push(
    `early in a chat (${e.startContextLength} tokens of context): ${formatRateOf(e.tokensPerSecondAtStart)} tok/s decode` +
      (e.prefillTokensPerSecond !== null ? `, ${formatRateOf(e.prefillTokensPerSecond)} tok/s prefill` : '') +
      `; speeds: ${e.basis}`,
  );
  for (const note of plan.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

function gbps(bytesPerSec: number): string {
  const g = bytesPerSec / 1e9;
  return g >= 10 ? g.toFixed(0) : g >= 1 ? g.toFixed(1) : g.toFixed(3);
}

function formatRateOf(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function gpuLayerRanges(plan: Plan): string {
  const ranges: string[] = [];
  let start = -1;
  plan.layers.forEach((l, i) => {
    if (l.device === 'gpu' && start < 0) start = i;
    if (start >= 0 && (l.device !== 'gpu' || i === plan.layers.length - 1)) {
      const end = l.device === 'gpu' ? i : i - 1;
      ranges.push(range(start, end - start + 1));
      start = -1;
    }
  });
  return ranges.length ? ranges.join(', ') : '-';
}

/** "layers.N.mlpUp.weight" repeated for 40 layers -> one line naming the layer count. */
function groupSplits(splits: TensorSplit[]): string[] {
  const groups = new Map<string, { split: TensorSplit; layers: number[] }>();
  for (const s of splits) {
    const m = /^layers\.(\d+)\.(.*)$/.exec(s.path);
    const key = m ? `layers.*.${m[2]} ${s.partRows.join(',')}` : s.path;
    const g = groups.get(key) ?? { split: s, layers: [] };
    if (m) g.layers.push(Number(m[1]));
    groups.set(key, g);
  }
  return [...groups.values()].map(({ split: s, layers }) => {
    const name = layers.length ? `${s.path.replace(/^layers\.\d+\./, '')} of ${layers.length} GPU layer${layers.length > 1 ? 's' : ''}` : s.path;
    const last = s.partRows.at(-1)!;
    const shape = last === s.rowsPerPart ? `${s.parts} x ${s.rowsPerPart} rows` : `${s.parts - 1} x ${s.rowsPerPart} + ${last} rows`;
    return `${name}: ${s.rows} x ${s.cols} ${formatBytes(s.bytes)} -> ${s.parts} parts (${shape}, largest ${formatBytes(Math.max(...s.partBytes))})`;
  });
}
