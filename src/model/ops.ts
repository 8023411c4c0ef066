// The backend interface the forward pass (glm.ts) is written against. CpuOps (src/cpu/ops.ts) is
// the float32 reference; GpuOps (src/gpu/ops.ts) implements the same methods with WGSL kernels and
// is tested method by method against CpuOps.
//
// Activations are 2-D: [tokens, width]. Weights are [out_features, in_features]. The KV cache of
// each layer holds K and V as [capacity, numKvHeads * headDim].
import type { GlmConfig } from './config';
import type { LogitAdjustments, TokenLogprobs } from '../runtime/logits-process';

/** The new tokens of one forward call and where they sit in the sequence. */
export interface ForwardBatch {
  ids: Int32Array;
  /** RoPE position of each new token (ChatGLM-6B: not simply the index; see positions.ts). */
  positions: Int32Array;
  /** ChatGLM-6B's second position channel (block position); absent for the other families. */
  blockPositions?: Int32Array;
  /** Sequence index of the first new token = number of tokens already in the KV cache. */
  start: number;
  /** Keys with index < this are visible to every query (ChatGLM-6B's bidirectional context); 0 = purely causal. */
  bidirectionalPrefix: number;
  /**
   * Pipelined decode (src/runtime/decode-steps.ts): the one new token's id is still on the device, drawn
   * by the previous step's sampleAhead(); `ids` then holds a placeholder and embed() reads this instead.
   */
  idsOnDevice?: DeviceTokenRef;
}

/** A token id that lives on the device (a backend's own handle; only the backend that made it reads it). */
export type DeviceTokenRef = { readonly kind: 'device-token' };

/** A draw submitted to the device without waiting for it (Ops.sampleAhead). */
export interface DeviceToken {
  /** Resolves once the device ran the step and the id was read back (batched, never blocking the next step). */
  id: Promise<number>;
  /** Feeds the id to the embedding of the very next step (ForwardBatch.idsOnDevice), without a round trip. */
  ref: DeviceTokenRef;
}

export interface MatmulEpilogue<T, W, C = never> {
  /**
   * Prologue: x is replaced by RMSNorm(x) with this gain first (as Ops.rmsNorm), so a backend can fuse
   * the norm into the projection that follows it.
   */
  rmsNorm?: { weight: W; eps: number };
  bias?: W;
  /**
   * Applied to x·Wᵀ + bias (no residual allowed with it), so a backend can fuse the MLP's activation into
   * its up projection: 'swiglu' halves the width ([n, 2F] -> [n, F], as Ops.swiglu), 'gelu' as Ops.gelu.
   */
  activation?: 'swiglu' | 'gelu';
  /** out = x·Wᵀ + bias + residualScale * residual. */
  residual?: T;
  residualScale?: number;
  /**
   * The qkv projection's epilogue: the result x·Wᵀ + bias is handed to Ops.ropeKvAppend with these
   * arguments and the rotated q is returned (no residual or activation with it), so a backend can fuse
   * RoPE and the KV-cache append into the projection (GpuOps does for one token).
   */
  ropeKvAppend?: { cache: C; layer: number; batch: ForwardBatch; config: GlmConfig };
  /**
   * The output projection's prologue: x is the rotated q, replaced by Ops.attention(x, ...these) first
   * (no rmsNorm or activation with it), so a backend can merge the attention's split-K partials inside
   * the projection (GpuOps does for one token and a short context).
   */
  attention?: { cache: C; layer: number; batch: ForwardBatch; config: GlmConfig };
}

export interface Ops<T, W, C> {
  readonly name: string;
  /** Rows of `table` ([vocab, hidden]) for each id -> [n, hidden]; with `onDevice`, the row of that device-held id (n = 1). */
  embed(table: W, ids: Int32Array, onDevice?: DeviceTokenRef): T;
  layerNorm(x: T, weight: W, bias: W | undefined, eps: number): T;
  rmsNorm(x: T, weight: W, eps: number): T;
  /** x [n, in] · w [out, in]ᵀ -> [n, out], with an optional RMSNorm prologue and bias / residual / activation epilogue. */
  matmul(x: T, w: W, epilogue?: MatmulEpilogue<T, W, C>): T;
  /**
   * Splits qkv [n, (H + 2·Hkv)·D] into q, k, v; applies RoPE to q and k; appends k and v to layer
   * `layer` of the cache at sequence slots start..start+n-1; returns the rotated q [n, H·D].
   */
  ropeKvAppend(qkv: T, cache: C, layer: number, batch: ForwardBatch, config: GlmConfig): T;
  /**
   * Attention of q [n, H·D] (tokens start..start+n-1) over cache slots 0..start+n-1 of layer `layer`:
   * query i sees key j when j <= start+i or j < bidirectionalPrefix. Scale 1/sqrt(D); query head h reads
   * KV head floor(h / (H / Hkv)) (GQA/MQA without copying K/V). Returns [n, H·D].
   */
  attention(q: T, cache: C, layer: number, batch: ForwardBatch, config: GlmConfig): T;
  /** [n, 2F] -> [n, F]: silu(x[:, :F]) * x[:, F:] (gate first, as THUDM's and HF's fused gate_up). */
  swiglu(x: T): T;
  /** GELU, tanh form (ChatGLM-6B's gelu_impl). */
  gelu(x: T): T;
  add(a: T, b: T): T;
  /** Rows start..start+count-1 of x. */
  sliceRows(x: T, start: number, count: number): T;
  createKvCache(config: GlmConfig, capacity: number): C;
  /**
   * Hybrid backends only (layers split between GPU and CPU): returns x on the device that runs layer
   * `layer` (`numLayers` = the final norm and lm_head), transferring it at a GPU/CPU seam. Single-device
   * backends leave this out.
   */
  moveTo?(x: T, layer: number): Promise<T>;
  /**
   * Optional: draws the next token from a [1, vocab] logits tensor on the device, reading back only the
   * id (GPU: argmax / sampling kernels). Resolves to null when the device cannot take these parameters;
   * the caller then reads the logits and samples on the CPU.
   */
  sampleNext?(logits: T, params: DeviceSampleParams): Promise<number | null>;
  /**
   * Optional: sampleNext with the request's logit adjustments (bias, penalties, JSON mask) applied on the
   * device first, and the log-probabilities computed there (a few numbers read back, not the logits).
   * Null when the device cannot take these parameters (the caller reads the logits instead).
   */
  sampleNextDetailed?(logits: T, params: DeviceSampleParams & DeviceSampleExtras): Promise<DeviceSample | null>;
  /**
   * Optional (pipelined decode): draws the next token from [1, vocab] logits on the device like
   * sampleNext, submits the step and resolves at once (without waiting for the device). The id stays on the device for the next step's
   * embedding (DeviceToken.ref) and is read back asynchronously. Null when this backend cannot pipeline
   * these parameters or this placement (e.g. the head, a layer or the embedding on the CPU): the caller
   * keeps the simple step.
   */
  sampleAhead?(logits: T, params: DeviceSampleParams, embedding: W): Promise<DeviceToken | null>;
  /** Reads a tensor back to float32 (GPU: a copy and a map; CPU: the data itself). */
  read(x: T): Promise<Float32Array>;
  /**
   * Optional (asynchronous devices): submits what was recorded so far and resolves when the device has
   * run it, keeping the step's tensors valid. Between prefill layers it lets an abort take effect after the
   * layer in flight instead of after the whole chunk.
   */
  settle?(): Promise<void>;
  /**
   * Optional: prompt tokens per prefill chunk this backend wants, when smaller than the planner's
   * SCRATCH.prefillChunkTokens (which suits a large GPU's GEMM).
   */
  readonly prefillChunkTokens?: number;
}

/** What sampleNextDetailed adds to a draw (semantics of src/runtime/logits-process.ts). */
export interface DeviceSampleExtras {
  adjust: LogitAdjustments | null;
  /** null: no logprobs; else how many alternatives (0..20). */
  topLogprobs: number | null;
}

export interface DeviceSample {
  id: number;
  logprobs?: TokenLogprobs;
}

/** Sampling parameters for Ops.sampleNext; semantics of src/runtime/sampler.ts. */
export interface DeviceSampleParams {
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  recentIds: Int32Array;
  /** With `step`, picks the draw's random number: the same seed and step give the same token. */
  seed: number;
  step: number;
}
