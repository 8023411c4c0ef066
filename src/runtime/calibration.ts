// Calibration (issue #16): a second or two of measurement with the engine's real kernels, so that the
// planner's speed figures are measured on this machine instead of assumed. DEFAULT_BANDWIDTH assumes a
// 100 GB/s GPU; a software adapter (SwiftShader) reads at well under 1 GB/s, and on a small model the cost
// per dispatch decides the speed anyway. What is measured:
//   GPU: the q4 decode GEMV (GpuOps.matmul, one token) over a few MiB of weights -> read bandwidth; many
//        tiny GEMVs in one step -> cost per dispatch; a one-dispatch step with its readback -> cost per
//        token (submit + mapAsync); a 64-row q4 GEMM -> prefill rate.
//   CPU: the same through CpuOps with the runtime's WASM kernels (threads as the runtime uses them).
// Each figure comes from the difference of two timings (many ops minus few ops, large minus small), so
// the fixed costs do not pollute the rates. The pages cache the result per adapter and browser
// (ui/shared/calibration-cache.ts); the planner takes it through bandwidthOf().
import { CpuOps, cpuTensor } from '../cpu/ops';
import type { FastMatmul } from '../cpu/fast-matmul';
import type { GpuContext } from '../gpu/device';
import { GpuOps } from '../gpu/ops';
import type { GpuWeight } from '../gpu/tensor';
import { normalizeConfig, type GlmConfig } from '../model/config';
import type { Ops } from '../model/ops';
import type { HostTensor } from '../model/tensor';
import type { HostWeight } from '../model/weights';
import type { ModelWeights } from '../model/weights-types';
import { HEAD_OPS, opsPerLayer } from '../planner/planner';
import { CALIBRATION_VERSION, type Calibration, type CpuCalibration, type GpuCalibration } from '../planner/speeds';

export { bandwidthOf, CALIBRATION_VERSION, cpuThreadingOf, describeCalibration, type Calibration, type CpuCalibration, type GpuCalibration } from '../planner/speeds';
import type { Q4Tensor } from '../quant/types';
import { ModelSession } from './session';

/**
 * A small GLM-4-shaped model (random q4 weights) whose decode step is timed on each device: its time minus
 * its bytes over the measured bandwidth is the fixed cost of its ops (norms, RoPE, attention, activations,
 * dispatch or call overhead), spread over the ops glm.ts runs (opsPerLayer). Small, so a slow adapter
 * gets through it in a second.
 */
const PROBE_CONFIG = {
  architectures: ['GlmForCausalLM'],
  model_type: 'glm',
  hidden_size: 256,
  intermediate_size: 768,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 64,
  num_hidden_layers: 2,
  vocab_size: 512,
  max_position_embeddings: 1024,
  partial_rotary_factor: 0.5,
  rms_norm_eps: 1e-5,
  attention_bias: true,
  tie_word_embeddings: false,
  eos_token_id: [0],
  pad_token_id: 0,
};
/** Prompt tokens before the timed decode steps (attention then reads a short context, as in a new chat). */
const PROBE_PROMPT = 4;
/**
 * The second timing's context: the step's time at PROBE_PROMPT + PROBE_CONTEXT tokens minus its time at
 * PROBE_PROMPT is what the attention costs per context token (attentionSec). Long enough that the
 * difference stands above the timing noise.
 */
const PROBE_CONTEXT = 256;
/**
 * Vocabulary widths of the sampler timing: the GPU's sampler kernels read every logit, and a model's
 * vocabulary (8,192 for the demo, 151,552 for GLM-4) is far wider than the probe's, so its cost per
 * vocabulary entry is measured apart (the difference of the two widths).
 */
const SAMPLER_VOCAB = { small: 512, large: 8192 } as const;
/** Bandwidth matrices: small on a slow device, large (past any GPU cache) on a fast one. */
const SLOW_LARGE = { rows: 1024, cols: 1024, copies: 4 };
const FAST_LARGE = { rows: 4096, cols: 4096, copies: 8 };
/** One op of SLOW_LARGE faster than this: the device is fast, measure with FAST_LARGE. */
const FAST_OP_MS = 1;
const GPU_PREFILL_ROWS = 64;
/** A dispatch slower than this marks a slow (software) device: see measureGpu. */
const SLOW_DISPATCH_SEC = 1e-3;
/** A decode GEMV slower than this (bytes/s) marks a slow device too; integrated GPUs reach tens of GB/s. */
const SLOW_BYTES_PER_SEC = 1e9;
const CPU_PREFILL_ROWS = 16;
/** A timed batch of ops grows until it takes at least this long (or reaches MAX_REPEAT). */
const MIN_BATCH_MS = 25;
const MAX_REPEAT = 256;
/** A run this long is not repeated. */
const SLOW_RUN_MS = 100;
/**
 * On a slow (software) device the figures that decide its speed, the decode GEMV's bandwidth and the probe
 * model's step, are timed again in batches of at least this long: a software adapter shares the CPU cores
 * with everything else, and a 25 ms batch on a loaded 2-core machine read anywhere from 0.006 to 0.046
 * GB/s in one afternoon, while a reply's decode (seconds) averages the load out.
 */
const SLOW_DEVICE_BATCH_MS = 250;

function now(): number {
  return performance.now();
}

/** A q4 matrix of arbitrary codes (speed does not depend on the values) with small f16 scales. */
function fakeQ4(rows: number, cols: number, seed: number): Q4Tensor {
  const groupsPerRow = cols / 32;
  const packed = new Uint32Array(rows * groupsPerRow * 4);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < packed.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    packed[i] = s;
  }
  // 0x2000 is the f16 value 2^-7: small enough to keep activations finite through the probe model.
  const scales = new Uint32Array(Math.ceil((rows * groupsPerRow) / 2)).fill(0x20002000);
  return { dtype: 'q4', rows, cols, groupsPerRow, packed, scales };
}

function q4Bytes(t: Q4Tensor): number {
  return (t.packed.length + t.scales.length) * 4;
}

function vector(n: number, value: number): HostTensor {
  return { dtype: 'f32', shape: [n], data: new Float32Array(n).fill(value) };
}

function probeWeights(config: GlmConfig): { weights: ModelWeights<HostWeight>; bytesPerToken: number } {
  const { hiddenSize: h, numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: F, vocabSize: V } = config;
  let seed = 1;
  const linear = (rows: number, cols: number, bias: boolean) => ({ weight: fakeQ4(rows, cols, seed++), ...(bias ? { bias: vector(rows, 0) } : {}) });
  const layers = Array.from({ length: config.numLayers }, () => ({
    attnNorm: { weight: vector(h, 1) },
    qkv: linear((H + 2 * Hkv) * D, h, true),
    attnOut: linear(h, H * D, false),
    mlpNorm: { weight: vector(h, 1) },
    mlpUp: linear(2 * F, h, false),
    mlpDown: linear(h, F, false),
  }));
  const lmHead = fakeQ4(V, h, seed++);
  const weights: ModelWeights<HostWeight> = { embedding: fakeQ4(V, h, seed++), layers, finalNorm: { weight: vector(h, 1) }, lmHead };
  let bytesPerToken = q4Bytes(lmHead);
  for (const l of layers) for (const m of [l.qkv, l.attnOut, l.mlpUp, l.mlpDown]) bytesPerToken += q4Bytes(m.weight);
  return { weights, bytesPerToken };
}

/**
 * Times `run(count)` for growing counts until one run takes MIN_BATCH_MS (or MAX_REPEAT ops); returns
 * seconds per op and the count. The median of three runs at that count, so that a stray pause (other
 * processes share the cores) does not decide; a slow op (SLOW_RUN_MS) is timed once, so a slow device is
 * done quickly.
 */
async function perOp(run: (count: number) => Promise<void>, warmUp = 1, minBatchMs = MIN_BATCH_MS): Promise<{ seconds: number; count: number }> {
  await run(warmUp); // warm-up: pipelines, first allocations, wasm uploads, the JIT
  let count = 1;
  for (;;) {
    const t0 = now();
    await run(count);
    const ms = now() - t0;
    if (ms >= minBatchMs || count >= MAX_REPEAT) {
      const runs = [ms];
      if (ms < Math.max(SLOW_RUN_MS, 2 * minBatchMs)) {
        for (let i = 0; i < 2; i++) {
          const t1 = now();
          await run(count);
          runs.push(now() - t1);
        }
      }
      runs.sort((a, b) => a - b);
      return { seconds: runs[Math.floor(runs.length / 2)]! / 1000 / count, count };
    }
    count = Math.min(MAX_REPEAT, count * Math.max(2, Math.ceil((1.5 * minBatchMs) / Math.max(ms, 0.05))));
  }
}

/**
 * Seconds per decoded token of the probe model on `ops` at a context of `promptTokens` (the prompt is
 * prefilled once; every timed step decodes one token after exactly that prompt, so the context does not
 * grow with the repeat count).
 */
async function probeDecode<T, W, C>(
  ops: Ops<T, W, C>, config: GlmConfig, weights: ModelWeights<W>, warmUp: number, promptTokens: number, minBatchMs = MIN_BATCH_MS,
): Promise<number> {
  const session = new ModelSession(ops, config, weights, promptTokens + 2);
  const prompt = Array.from({ length: promptTokens }, (_, i) => 1 + (i % (config.vocabSize - 1)));
  await ops.read((await session.append(prompt, 'last')) as T);
  // Each step ends as the engine's does: the next id drawn on the device where it can (the GPU's sampler
  // kernels cost as much as several layers on a slow adapter), else the logits read back.
  const params = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, recentIds: new Int32Array(0), seed: 1, step: 0 };
  const { seconds } = await perOp(async (count) => {
    for (let i = 0; i < count; i++) {
      session.truncate(promptTokens);
      const logits = await session.append([3], 'last');
      if ((await ops.sampleNext?.(logits, params)) == null) await ops.read(logits);
    }
  }, warmUp, minBatchMs);
  return seconds;
}

/**
 * The probe's decode step at two contexts: its time at the short one, and the attention's seconds per
 * layer x query head x head dim x context token from the difference (0 where noise makes it negative).
 */
async function probeSteps<T, W, C>(
  ops: Ops<T, W, C>, config: GlmConfig, weights: ModelWeights<W>, warmUp: number, short: number, extra: number,
): Promise<{ perToken: number; attentionSec: number }> {
  const perToken = await probeDecode(ops, config, weights, warmUp, short);
  const longer = await probeDecode(ops, config, weights, warmUp, short + extra);
  const attentionSec = Math.max(0, (longer - perToken) / (config.numLayers * config.numHeads * config.headDim * extra));
  return { perToken, attentionSec };
}

export async function measureGpu(ctx: GpuContext, log: (phase: string) => void = () => {}): Promise<GpuCalibration> {
  const ops = new GpuOps(ctx);
  try {
    // One step = upload x, `count` matmuls over the given weights in turn, read the last output back.
    const step = (ws: GpuWeight[], cols: number, rows: number) => {
      const x = new Float32Array(rows * cols).fill(0.01);
      return async (count: number) => {
        const input = ops.upload(x, rows, cols);
        let y = ops.matmul(input, ws[0]!);
        for (let i = 1; i < count; i++) y = ops.matmul(input, ws[i % ws.length]!);
        await ops.read(y);
      };
    };
    const tiny = await ops.uploadWeight(fakeQ4(64, 256, 3), 'calibration.tiny');
    const tinyStep = step([tiny], 256, 1);
    // A step with one tiny dispatch: the per-token submit + readback.
    const token = await perOp(async (n) => {
      for (let i = 0; i < n; i++) await tinyStep(1);
    });
    log('token step');
    // Many tiny dispatches in one step: the cost of a dispatch beside its bytes.
    const tinyOps = await perOp(step([tiny], 256, 1));
    const dispatchSec = Math.max(0, tinyOps.seconds - token.seconds / tinyOps.count);
    log('tiny dispatches');
    let shape = SLOW_LARGE;
    let hosts = Array.from({ length: shape.copies }, (_, i) => fakeQ4(shape.rows, shape.cols, 11 + i));
    let large = await Promise.all(hosts.map((h, i) => ops.uploadWeight(h, `calibration.large${i}`)));
    let largeOps = await perOp(step(large, shape.cols, 1));
    if (largeOps.seconds * 1000 < FAST_OP_MS) {
      for (const w of large) ops.releaseWeight(w);
      shape = FAST_LARGE;
      hosts = Array.from({ length: shape.copies }, (_, i) => fakeQ4(shape.rows, shape.cols, 11 + i));
      large = await Promise.all(hosts.map((h, i) => ops.uploadWeight(h, `calibration.large${i}`)));
      largeOps = await perOp(step(large, shape.cols, 1));
    }
    log('large GEMV');
    const largeBytes = q4Bytes(hosts[0]!);
    const rateOf = (ops: { seconds: number; count: number }) => largeBytes / Math.max(1e-9, ops.seconds - token.seconds / ops.count - dispatchSec);
    let bytesPerSec = rateOf(largeOps);
    // A slow device (a software adapter reads a few MB/s through this kernel) would spend half a minute on
    // the GEMM and the probe model, mostly compiling pipelines; its bytes decide its speed anyway. Its
    // dispatch cost stands for every op, and its prefill rate stays unmeasured (null).
    const slow = dispatchSec > SLOW_DISPATCH_SEC || bytesPerSec < SLOW_BYTES_PER_SEC;
    if (slow) {
      largeOps = await perOp(step(large, shape.cols, 1), 0, SLOW_DEVICE_BATCH_MS);
      bytesPerSec = rateOf(largeOps);
      log('large GEMV, longer');
    }
    let prefillBytesPerSec: number | null = null;
    if (!slow) {
      const gemm = await perOp(step(large, shape.cols, GPU_PREFILL_ROWS));
      prefillBytesPerSec = (largeBytes * GPU_PREFILL_ROWS) / Math.max(1e-9, gemm.seconds - token.seconds / gemm.count);
      log('prefill GEMM');
    }
    // The sampler (greedy, as the probe's steps draw) over two vocabulary widths: seconds per logit.
    const samplerAt = async (vocab: number) => {
      const logits = ops.upload(new Float32Array(vocab).fill(0.5), 1, vocab);
      const params = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, recentIds: new Int32Array(0), seed: 1, step: 0 };
      return (await perOp(async (n) => {
        for (let i = 0; i < n; i++) await ops.sampleNext(logits, params);
      })).seconds;
    };
    const samplerSmall = await samplerAt(SAMPLER_VOCAB.small);
    const sampleSec = Math.max(0, ((await samplerAt(SAMPLER_VOCAB.large)) - samplerSmall) / (SAMPLER_VOCAB.large - SAMPLER_VOCAB.small));
    log('sampler');
    // The probe model's decode step: on a slow device with a one-token prompt (no prefill pipelines to
    // compile) and one timed token; its ops cost far more than an empty dispatch there.
    const config = normalizeConfig(PROBE_CONFIG);
    const probe = probeWeights(config);
    const weights = await ops.uploadWeights(probe.weights);
    // On a slow device the attention's cost is not measured (0): a longer context must be built there one
    // token at a time, and the difference over the few tokens affordable (2-3% of the probe's step) is below
    // the timing noise of a loaded machine; one such run read 2 ms per 1k head·dim·positions, which would
    // make the demo's attention alone slower than its whole measured decode step.
    const { perToken, attentionSec } = slow
      ? { perToken: await probeDecode(ops, config, weights, 1, 1, SLOW_DEVICE_BATCH_MS), attentionSec: 0 }
      : await probeSteps(ops, config, weights, 1, PROBE_PROMPT, PROBE_CONTEXT);
    const opCount = config.numLayers * opsPerLayer(config) + HEAD_OPS;
    const probeSampler = config.vocabSize * sampleSec;
    const opSec = Math.max(dispatchSec, (perToken - token.seconds - probeSampler - probe.bytesPerToken / bytesPerSec) / opCount);
    log('probe model');
    const a = ctx.adapter as { vendor?: string; architecture?: string; description?: string };
    return {
      bytesPerSec,
      opSec,
      tokenSec: token.seconds,
      attentionSec,
      sampleSec,
      prefillBytesPerSec,
      adapter: [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter',
    };
  } finally {
    ops.dispose();
  }
}

/**
 * GEMVs (one token, 1024 columns) that decide where the matmul workers start to pay: below 64K groups
 * the runtime never wakes them (DEFAULT_MIN_PARALLEL_GROUPS), so these are the first sizes they take.
 */
const PARALLEL_PROBE_ROWS = [2048, 8192] as const;
/** The workers must beat the calling thread alone by this much to be used (waking them is not free). */
const PARALLEL_MIN_GAIN = 1.15;

/**
 * The smallest call (activation rows x weight groups) at which the matmul workers make a one-token
 * matmul faster than the calling thread alone, or null where they never do. On a machine whose cores
 * are busy (two cores shared with the page, the GPU process and other programs) a woken worker may wait
 * for a core while the caller waits for its blocks, and a small model's GEMVs then run slower on two
 * threads than on one. Leaves `fast.minParallelGroups` as it found it.
 */
async function measureParallelThreshold(fast: FastMatmul): Promise<number | null> {
  if (fast.threads < 2) return null;
  const initial = fast.minParallelGroups;
  try {
    for (const rows of PARALLEL_PROBE_ROWS) {
      const cols = 1024;
      const ws = [fakeQ4(rows, cols, 31), fakeQ4(rows, cols, 32)];
      for (const w of ws) fast.upload(w);
      const x = new Float32Array(cols).fill(0.01);
      const timed = (minGroups: number) =>
        perOp(async (n) => {
          fast.minParallelGroups = minGroups;
          for (let i = 0; i < n; i++) fast.matmul(x, 1, ws[i % ws.length]!);
        });
      const one = await timed(Infinity);
      const all = await timed(0);
      if (one.seconds / all.seconds >= PARALLEL_MIN_GAIN) return rows * (cols / 32);
    }
    return null;
  } finally {
    fast.minParallelGroups = initial;
  }
}

export async function measureCpu(fast: FastMatmul): Promise<CpuCalibration> {
  // First, so that every figure below is measured with the threading the runtime will use.
  const minParallelGroups = await measureParallelThreshold(fast);
  fast.minParallelGroups = minParallelGroups ?? Infinity;
  const ops = new CpuOps(fast);
  const shape = SLOW_LARGE;
  const large = Array.from({ length: shape.copies }, (_, i) => fakeQ4(shape.rows, shape.cols, 21 + i));
  const largeBytes = q4Bytes(large[0]!);
  for (const w of large) fast.upload(w);
  const xBatch = cpuTensor(CPU_PREFILL_ROWS, shape.cols, new Float32Array(CPU_PREFILL_ROWS * shape.cols).fill(0.01));
  const xOne = cpuTensor(1, shape.cols, xBatch.data.subarray(0, shape.cols));
  const largeOps = await perOp(async (n) => {
    for (let i = 0; i < n; i++) ops.matmul(xOne, large[i % large.length]!);
  });
  const gemm = await perOp(async (n) => {
    for (let i = 0; i < n; i++) ops.matmul(xBatch, large[i % large.length]!);
  });
  const bytesPerSec = largeBytes / largeOps.seconds;
  const config = normalizeConfig(PROBE_CONFIG);
  const probe = probeWeights(config);
  // The CPU ops are JavaScript: a few dozen warm-up tokens let the JIT compile them, as a chat would.
  const { perToken, attentionSec } = await probeSteps(ops, config, probe.weights, 32, PROBE_PROMPT, PROBE_CONTEXT);
  const opCount = config.numLayers * opsPerLayer(config) + HEAD_OPS;
  return {
    bytesPerSec,
    opSec: Math.max(0, (perToken - probe.bytesPerToken / bytesPerSec) / opCount),
    attentionSec,
    prefillBytesPerSec: (largeBytes * CPU_PREFILL_ROWS) / gemm.seconds,
    minParallelGroups,
    kernels: fast.description,
  };
}

/** Measures the CPU kernels and, when a GPU context is given, the GPU (the caller owns both). */
export async function calibrate(fast: FastMatmul, gpu: GpuContext | null): Promise<Calibration> {
  const t0 = now();
  const cpu = await measureCpu(fast);
  const g = gpu ? await measureGpu(gpu) : null;
  return { version: CALIBRATION_VERSION, gpu: g, cpu, tookMs: now() - t0, measuredAt: new Date().toISOString() };
}

/**
 * Calibrates in the calling thread (the engine's worker in a browser): the runtime's CPU kernels (with its
 * threads) and, where WebGPU gives an adapter, a device of its own, released afterwards.
 */
export async function calibrateHere(): Promise<Calibration> {
  const { runtimeQuantMatmul } = await import('./backend');
  const { gpuAvailable, openGpuContext } = await import('./gpu-backend');
  const fast = await runtimeQuantMatmul();
  let ctx: GpuContext | null = null;
  try {
    if (await gpuAvailable()) ctx = await openGpuContext().catch(() => null);
    return await calibrate(fast, ctx);
  } finally {
    fast.dispose();
    ctx?.device.destroy();
  }
}
