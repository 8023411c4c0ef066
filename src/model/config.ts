// Every GLM generation's own config.json -> one normalized GlmConfig. Family differences become
// flags here (norm kind, MLP kind, RoPE style, biases, residual form), so glm.ts has one forward pass.
import { GlmError } from '../errors';

export class UnsupportedModelError extends GlmError {
  override name = 'UnsupportedModelError';
}
export class ConfigError extends GlmError {
  override name = 'ConfigError';
}

export const SUPPORTED_MODELS =
  'ChatGLM-6B (model_type "chatglm" with position_encoding_2d), ChatGLM2-6B / ChatGLM3-6B / GLM-4-9B-chat ' +
  '(model_type "chatglm" with multi_query_attention), GLM-4-9B-chat-hf and GLM-Edge (model_type "glm"), ' +
  'GLM-4-0414 (model_type "glm4")';

/**
 * chatglm1: ChatGLM-6B. chatglm2: THUDM's v2 code, shared by ChatGLM2-6B, ChatGLM3-6B and the original GLM-4-9B-chat.
 * glm: transformers' GlmForCausalLM. glm4: transformers' Glm4ForCausalLM (GLM-4-0414).
 */
export type GlmFamily = 'chatglm1' | 'chatglm2' | 'glm' | 'glm4';

export interface RopeSpec {
  /**
   * 'interleaved': rotate pairs (x[2i], x[2i+1]) of the first `rotaryDim` dims of each head (v2/3, GLM-4, HF glm/glm4).
   * 'chatglm1-2d': each head is split in two halves of headDim/2; each half is rotated NeoX-style (x[i], x[i+half/2])
   *   over its whole width, the first with the position id and the second with the block position id.
   */
  style: 'interleaved' | 'chatglm1-2d';
  /** Interleaved: rotated dims per head. 2-D: width of each half (headDim / 2). */
  rotaryDim: number;
  base: number;
  /** ChatGLM-6B stores inv_freq as float16 (RotaryEmbedding does `inv_freq.half()`); the rounding shows in logits. */
  f16InvFreq: boolean;
}

export interface GlmConfig {
  family: GlmFamily;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Width of one MLP branch (for SwiGLU the fused up-projection has 2x this many rows). */
  ffnHiddenSize: number;
  norm: 'layernorm' | 'rmsnorm';
  normEps: number;
  mlp: 'swiglu' | 'gelu';
  rope: RopeSpec;
  qkvBias: boolean;
  attnOutBias: boolean;
  mlpBias: boolean;
  /** ChatGLM-6B: x = LN(x) * alpha + sublayer(LN(x)); null means the usual x = x + sublayer(norm(x)). */
  residualAlpha: number | null;
  /** GLM-4-0414: RMSNorm after attention and after the MLP, before each residual add. */
  sandwichNorms: boolean;
  tieWordEmbeddings: boolean;
  maxSequenceLength: number;
  /** THUDM checkpoints saved already quantized (quantization_bit 4 or 8); 0 = float weights. */
  storedQuantBits: 0 | 4 | 8;
  tokens: {
    eos: number[];
    bos?: number;
    pad?: number;
    /** ChatGLM-6B: [gMASK] and [MASK] decide its position ids. */
    gmask?: number;
    mask?: number;
  };
}

type Json = Record<string, unknown>;

function field<T>(raw: Json, name: string, kind: 'number' | 'boolean' | 'object', family: string): T {
  const v = raw[name];
  if (v === undefined || v === null) {
    throw new ConfigError(`config.json of a ${family} model is missing the field "${name}"`);
  }
  if (typeof v !== kind) throw new ConfigError(`config.json field "${name}" should be a ${kind}, got ${JSON.stringify(v)}`);
  return v as T;
}

function optional<T>(raw: Json, name: string, fallback: T): T {
  const v = raw[name];
  return v === undefined || v === null ? fallback : (v as T);
}

function positiveInt(raw: Json, name: string, family: string): number {
  const v = field<number>(raw, name, 'number', family);
  if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`config.json field "${name}" must be a positive integer, got ${v}`);
  return v;
}

function idList(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

function optionalId(raw: Json, name: string): number | undefined {
  const v = raw[name];
  return typeof v === 'number' ? v : undefined;
}

/** ChatGLM-6B: LayerNorm, GELU, 2-D RoPE, alpha residual, [gMASK]/sop positions. */
function chatglm1(raw: Json): GlmConfig {
  const F = 'ChatGLM-6B';
  const hiddenSize = positiveInt(raw, 'hidden_size', F);
  const numHeads = positiveInt(raw, 'num_attention_heads', F);
  const headDim = hiddenSize / numHeads;
  if (!Number.isInteger(headDim) || headDim % 4 !== 0) throw new ConfigError(`hidden_size ${hiddenSize} / num_attention_heads ${numHeads} must be a multiple of 4 for the 2-D RoPE`);
  return {
    family: 'chatglm1',
    vocabSize: positiveInt(raw, 'vocab_size', F),
    hiddenSize,
    numLayers: positiveInt(raw, 'num_layers', F),
    numHeads,
    numKvHeads: numHeads,
    headDim,
    ffnHiddenSize: optional(raw, 'inner_hidden_size', 4 * hiddenSize),
    norm: 'layernorm',
    normEps: optional(raw, 'layernorm_epsilon', 1e-5),
    mlp: 'gelu',
    rope: { style: 'chatglm1-2d', rotaryDim: headDim / 2, base: 10000, f16InvFreq: true },
    qkvBias: true,
    attnOutBias: true,
    mlpBias: true,
    // GLMBlock's constructor has num_layers=28 as a default argument that ChatGLMModel never passes,
    // so alpha = sqrt(2 * 28) for every depth (modeling_chatglm.py, GLMBlock.forward).
    residualAlpha: Math.sqrt(2 * 28),
    sandwichNorms: false,
    tieWordEmbeddings: false,
    maxSequenceLength: optional(raw, 'max_sequence_length', 2048),
    storedQuantBits: quantBits(raw),
    tokens: {
      eos: idList(raw.eos_token_id),
      bos: optionalId(raw, 'bos_token_id'),
      pad: optionalId(raw, 'pad_token_id'),
      gmask: optionalId(raw, 'gmask_token_id'),
      mask: optionalId(raw, 'mask_token_id'),
    },
  };
}

function quantBits(raw: Json): 0 | 4 | 8 {
  const q = optional<number>(raw, 'quantization_bit', 0);
  if (q !== 0 && q !== 4 && q !== 8) throw new UnsupportedModelError(`quantization_bit ${q} is not supported (0, 4 or 8)`);
  return q;
}

/** THUDM's v2 modeling code: ChatGLM2-6B, ChatGLM3-6B, GLM-4-9B-chat (original layout). */
function chatglm2(raw: Json): GlmConfig {
  const F = 'ChatGLM2/3 or GLM-4-9B-chat';
  const hiddenSize = positiveInt(raw, 'hidden_size', F);
  const numHeads = positiveInt(raw, 'num_attention_heads', F);
  const headDim = optional<number>(raw, 'kv_channels', hiddenSize / numHeads);
  const mqa = optional(raw, 'multi_query_attention', false);
  const numKvHeads = mqa ? positiveInt(raw, 'multi_query_group_num', F) : numHeads;
  if (optional(raw, 'apply_residual_connection_post_layernorm', false)) {
    throw new UnsupportedModelError('apply_residual_connection_post_layernorm=true is not supported (no released GLM checkpoint uses it)');
  }
  if (optional(raw, 'pre_seq_len', null) !== null) {
    throw new UnsupportedModelError('P-Tuning v2 prefix checkpoints (pre_seq_len) are not supported; merge or drop the prefix encoder first');
  }
  const ropeRatio = optional<number>(raw, 'rope_ratio', 1);
  const vocab = raw.padded_vocab_size ?? raw.vocab_size;
  if (typeof vocab !== 'number') throw new ConfigError(`config.json of a ${F} model is missing the field "padded_vocab_size"`);
  return {
    family: 'chatglm2',
    vocabSize: vocab,
    hiddenSize,
    numLayers: positiveInt(raw, 'num_layers', F),
    numHeads,
    numKvHeads,
    headDim,
    ffnHiddenSize: positiveInt(raw, 'ffn_hidden_size', F),
    norm: optional(raw, 'rmsnorm', true) ? 'rmsnorm' : 'layernorm',
    normEps: optional(raw, 'layernorm_epsilon', 1e-5),
    mlp: 'swiglu',
    // RotaryEmbedding(rotary_dim // 2) with rotary_dim = kv_channels: half of each head is rotated.
    rope: { style: 'interleaved', rotaryDim: headDim / 2, base: 10000 * ropeRatio, f16InvFreq: false },
    qkvBias: optional(raw, 'add_qkv_bias', false) || optional(raw, 'add_bias_linear', false),
    attnOutBias: optional(raw, 'add_bias_linear', false),
    mlpBias: optional(raw, 'add_bias_linear', false),
    residualAlpha: null,
    sandwichNorms: false,
    tieWordEmbeddings: false,
    maxSequenceLength: optional(raw, 'seq_length', 8192),
    storedQuantBits: quantBits(raw),
    tokens: { eos: idList(raw.eos_token_id), bos: optionalId(raw, 'bos_token_id'), pad: optionalId(raw, 'pad_token_id') },
  };
}

/** transformers' GlmForCausalLM / Glm4ForCausalLM. */
function hfGlm(raw: Json, family: 'glm' | 'glm4'): GlmConfig {
  const F = family === 'glm' ? 'GLM (GlmForCausalLM)' : 'GLM-4-0414 (Glm4ForCausalLM)';
  const hiddenSize = positiveInt(raw, 'hidden_size', F);
  const numHeads = positiveInt(raw, 'num_attention_heads', F);
  const headDim = optional<number>(raw, 'head_dim', hiddenSize / numHeads);
  const ropeParams = optional<Json>(raw, 'rope_parameters', {});
  const ropeScaling = optional<Json | null>(raw, 'rope_scaling', null);
  const ropeType = (ropeParams.rope_type ?? ropeScaling?.rope_type ?? ropeScaling?.type ?? 'default') as string;
  if (ropeType !== 'default') throw new UnsupportedModelError(`RoPE type "${ropeType}" is not supported yet (only "default")`);
  const partial = (ropeParams.partial_rotary_factor ?? raw.partial_rotary_factor ?? 0.5) as number;
  const base = (ropeParams.rope_theta ?? raw.rope_theta ?? 10000) as number;
  const act = optional(raw, 'hidden_act', 'silu');
  if (act !== 'silu') throw new UnsupportedModelError(`hidden_act "${act}" is not supported (GLM uses silu)`);
  return {
    family,
    vocabSize: positiveInt(raw, 'vocab_size', F),
    hiddenSize,
    numLayers: positiveInt(raw, 'num_hidden_layers', F),
    numHeads,
    numKvHeads: optional<number>(raw, 'num_key_value_heads', numHeads),
    headDim,
    ffnHiddenSize: positiveInt(raw, 'intermediate_size', F),
    norm: 'rmsnorm',
    normEps: optional(raw, 'rms_norm_eps', 1e-5),
    mlp: 'swiglu',
    rope: { style: 'interleaved', rotaryDim: Math.floor(headDim * partial), base, f16InvFreq: false },
    qkvBias: optional(raw, 'attention_bias', false),
    attnOutBias: false,
    mlpBias: false,
    residualAlpha: null,
    sandwichNorms: family === 'glm4',
    tieWordEmbeddings: optional(raw, 'tie_word_embeddings', false),
    maxSequenceLength: optional(raw, 'max_position_embeddings', 8192),
    storedQuantBits: 0,
    tokens: { eos: idList(raw.eos_token_id), bos: optionalId(raw, 'bos_token_id'), pad: optionalId(raw, 'pad_token_id') },
  };
}

function check(config: GlmConfig): GlmConfig {
  const { numHeads, numKvHeads, headDim, rope } = config;
  if (!Number.isInteger(headDim) || headDim <= 0) throw new ConfigError(`head dimension ${headDim} must be a positive integer`);
  if (numHeads % numKvHeads !== 0) throw new ConfigError(`num heads ${numHeads} must be a multiple of the KV heads ${numKvHeads}`);
  if (rope.rotaryDim % 2 !== 0 || rope.rotaryDim > headDim) throw new ConfigError(`rotary dimension ${rope.rotaryDim} must be even and at most the head dimension ${headDim}`);
  return config;
}

/** Normalizes a model's own config.json (parsed object or JSON text). */
export function normalizeConfig(input: unknown): GlmConfig {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (err) {
      throw new ConfigError(`config.json is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('config.json must be a JSON object');
  const cfg = raw as Json;
  const modelType = cfg.model_type;
  if (modelType === 'chatglm') {
    if (cfg.position_encoding_2d === true || (cfg.inner_hidden_size !== undefined && cfg.multi_query_attention === undefined)) {
      return check(chatglm1(cfg));
    }
    return check(chatglm2(cfg));
  }
  if (modelType === 'glm') return check(hfGlm(cfg, 'glm'));
  if (modelType === 'glm4') return check(hfGlm(cfg, 'glm4'));
  throw new UnsupportedModelError(
    `model_type ${JSON.stringify(modelType ?? null)} is not a supported GLM model. Supported: ${SUPPORTED_MODELS}.`,
  );
}
