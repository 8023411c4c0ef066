// Every GLM generation's own config.json -> one normalized GlmConfig. Family differences become
// flags here (norm kind, MLP kind, RoPE style, biases, residual form), so glm.ts has one forward pass.
import { GlmError } from '../errors';
import { describeJson } from '../formats/describe';
import { normalizeVisionConfig, type VisionConfig } from './vision';
import { checkBoolean, checkFraction, checkPositiveFinite, checkPositiveInt, checkTokenId, describeValue, type LimitKind } from './limits';

export class UnsupportedModelError extends GlmError {
  override name = 'UnsupportedModelError';
}
export class ConfigError extends GlmError {
  override name = 'ConfigError';
}

export const SUPPORTED_MODELS =
  'ChatGLM-6B (model_type "chatglm" with position_encoding_2d), ChatGLM2-6B / ChatGLM3-6B / GLM-4-9B-chat ' +
  '(model_type "chatglm" with multi_query_attention), GLM-4V-9B (the same with a vision_config), GLM-4-9B-chat-hf and GLM-Edge (model_type "glm"), ' +
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
  /** GLM-4V (glm-4v-9b: model_type "chatglm" with a vision_config): the vision tower. Absent for text-only models. */
  vision?: VisionConfig;
}

type Json = Record<string, unknown>;

function field<T>(raw: Json, name: string, kind: 'number' | 'boolean' | 'object', family: string): T {
  const v = raw[name];
  if (v === undefined || v === null) {
    throw new ConfigError(`config.json of a ${family} model is missing the field "${name}"`);
  }
  if (typeof v !== kind) throw new ConfigError(`config.json field "${name}" should be a ${kind}, got ${describeJson(v)}`);
  return v as T;
}

function optional<T>(raw: Json, name: string, fallback: T): T {
  const v = raw[name];
  return v === undefined || v === null ? fallback : (v as T);
}

// Every number and flag goes through src/model/limits.ts (issue #18): a crafted config must fail here,
// with the field named, before the planner or the loader sizes anything from it.
function positiveInt(raw: Json, name: string, family: string, kind: LimitKind): number {
  field<number>(raw, name, 'number', family);
  return checkPositiveInt(raw[name], name, kind);
}

function optionalInt(raw: Json, name: string, fallback: number, kind: LimitKind): number {
  const v = raw[name];
  return v === undefined || v === null ? fallback : checkPositiveInt(v, name, kind);
}

function optionalBool(raw: Json, name: string, fallback: boolean): boolean {
  const v = raw[name];
  return v === undefined || v === null ? fallback : checkBoolean(v, name);
}

function optionalEps(raw: Json, name: string): number {
  const v = raw[name];
  return v === undefined || v === null ? 1e-5 : checkPositiveFinite(v, name, 'normEps');
}

/** Token ids (eos may be one id or a list); each must lie inside the vocabulary. */
function idList(raw: Json, name: string, vocabSize: number): number[] {
  const v = raw[name];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (list.length > 1024) throw new ConfigError(`config.json field "${name}" lists ${list.length} ids; at most 1024 are accepted`);
  return list.map((x, i) => checkTokenId(x, Array.isArray(v) ? `${name}[${i}]` : name, vocabSize));
}

function optionalId(raw: Json, name: string, vocabSize: number): number | undefined {
  const v = raw[name];
  return v === undefined || v === null ? undefined : checkTokenId(v, name, vocabSize);
}

/** ChatGLM-6B: LayerNorm, GELU, 2-D RoPE, alpha residual, [gMASK]/sop positions. */
function chatglm1(raw: Json): GlmConfig {
  const F = 'ChatGLM-6B';
  const hiddenSize = positiveInt(raw, 'hidden_size', F, 'hiddenSize');
  const numHeads = positiveInt(raw, 'num_attention_heads', F, 'numHeads');
  const vocabSize = positiveInt(raw, 'vocab_size', F, 'vocabSize');
  const headDim = hiddenSize / numHeads;
  if (!Number.isInteger(headDim) || headDim % 4 !== 0) throw new ConfigError(`hidden_size ${hiddenSize} / num_attention_heads ${numHeads} must be a multiple of 4 for the 2-D RoPE`);
  return {
    family: 'chatglm1',
    vocabSize,
    hiddenSize,
    numLayers: positiveInt(raw, 'num_layers', F, 'numLayers'),
    numHeads,
    numKvHeads: numHeads,
    headDim,
    ffnHiddenSize: optionalInt(raw, 'inner_hidden_size', 4 * hiddenSize, 'ffnHiddenSize'),
    norm: 'layernorm',
    normEps: optionalEps(raw, 'layernorm_epsilon'),
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
    maxSequenceLength: optionalInt(raw, 'max_sequence_length', 2048, 'contextLength'),
    storedQuantBits: quantBits(raw),
    tokens: {
      eos: idList(raw, 'eos_token_id', vocabSize),
      bos: optionalId(raw, 'bos_token_id', vocabSize),
      pad: optionalId(raw, 'pad_token_id', vocabSize),
      gmask: optionalId(raw, 'gmask_token_id', vocabSize),
      mask: optionalId(raw, 'mask_token_id', vocabSize),
    },
  };
}

function quantBits(raw: Json): 0 | 4 | 8 {
  const q = optional<unknown>(raw, 'quantization_bit', 0);
  if (q !== 0 && q !== 4 && q !== 8) throw new UnsupportedModelError(`quantization_bit ${describeValue(q)} is not supported (0, 4 or 8)`);
  return q;
}

/** THUDM's v2 modeling code: ChatGLM2-6B, ChatGLM3-6B, GLM-4-9B-chat (original layout). */
function chatglm2(raw: Json): GlmConfig {
  const F = 'ChatGLM2/3 or GLM-4-9B-chat';
  const hiddenSize = positiveInt(raw, 'hidden_size', F, 'hiddenSize');
  const numHeads = positiveInt(raw, 'num_attention_heads', F, 'numHeads');
  const headDim = optionalInt(raw, 'kv_channels', hiddenSize / numHeads, 'headDim');
  const mqa = optionalBool(raw, 'multi_query_attention', false);
  const numKvHeads = mqa ? positiveInt(raw, 'multi_query_group_num', F, 'numHeads') : numHeads;
  if (optionalBool(raw, 'apply_residual_connection_post_layernorm', false)) {
    throw new UnsupportedModelError('apply_residual_connection_post_layernorm=true is not supported (no released GLM checkpoint uses it)');
  }
  if (optional(raw, 'pre_seq_len', null) !== null) {
    throw new UnsupportedModelError('P-Tuning v2 prefix checkpoints (pre_seq_len) are not supported; merge or drop the prefix encoder first');
  }
  const ropeRatio = raw.rope_ratio === undefined || raw.rope_ratio === null ? 1 : checkPositiveFinite(raw.rope_ratio, 'rope_ratio', 'ropeBase');
  const vocabField = raw.padded_vocab_size !== undefined && raw.padded_vocab_size !== null ? 'padded_vocab_size' : 'vocab_size';
  if (raw[vocabField] === undefined || raw[vocabField] === null) throw new ConfigError(`config.json of a ${F} model is missing the field "padded_vocab_size"`);
  const vocab = checkPositiveInt(raw[vocabField], vocabField, 'vocabSize');
  const biasLinear = optionalBool(raw, 'add_bias_linear', false);
  return {
    family: 'chatglm2',
    vocabSize: vocab,
    hiddenSize,
    numLayers: positiveInt(raw, 'num_layers', F, 'numLayers'),
    numHeads,
    numKvHeads,
    headDim,
    ffnHiddenSize: positiveInt(raw, 'ffn_hidden_size', F, 'ffnHiddenSize'),
    norm: optionalBool(raw, 'rmsnorm', true) ? 'rmsnorm' : 'layernorm',
    normEps: optionalEps(raw, 'layernorm_epsilon'),
    mlp: 'swiglu',
    // RotaryEmbedding(rotary_dim // 2) with rotary_dim = kv_channels: half of each head is rotated.
    rope: { style: 'interleaved', rotaryDim: headDim / 2, base: checkPositiveFinite(10000 * ropeRatio, 'rope_ratio * 10000', 'ropeBase'), f16InvFreq: false },
    qkvBias: optionalBool(raw, 'add_qkv_bias', false) || biasLinear,
    attnOutBias: biasLinear,
    mlpBias: biasLinear,
    residualAlpha: null,
    sandwichNorms: false,
    tieWordEmbeddings: false,
    maxSequenceLength: optionalInt(raw, 'seq_length', 8192, 'contextLength'),
    storedQuantBits: quantBits(raw),
    tokens: { eos: idList(raw, 'eos_token_id', vocab), bos: optionalId(raw, 'bos_token_id', vocab), pad: optionalId(raw, 'pad_token_id', vocab) },
    ...(raw.vision_config !== undefined && raw.vision_config !== null
      ? { vision: normalizeVisionConfig(raw, hiddenSize, positiveInt(raw, 'ffn_hidden_size', F, 'ffnHiddenSize'), vocab) }
      : {}),
  };
}

/** transformers' GlmForCausalLM / Glm4ForCausalLM. */
function hfGlm(raw: Json, family: 'glm' | 'glm4'): GlmConfig {
  const F = family === 'glm' ? 'GLM (GlmForCausalLM)' : 'GLM-4-0414 (Glm4ForCausalLM)';
  const hiddenSize = positiveInt(raw, 'hidden_size', F, 'hiddenSize');
  const numHeads = positiveInt(raw, 'num_attention_heads', F, 'numHeads');
  const vocabSize = positiveInt(raw, 'vocab_size', F, 'vocabSize');
  const headDim = optionalInt(raw, 'head_dim', hiddenSize / numHeads, 'headDim');
  const ropeParams = optional<unknown>(raw, 'rope_parameters', {});
  const ropeScaling = optional<unknown>(raw, 'rope_scaling', null);
  if (typeof ropeParams !== 'object' || Array.isArray(ropeParams)) throw new ConfigError(`config.json field "rope_parameters" must be an object, got ${describeValue(ropeParams)}`);
  if (typeof ropeScaling !== 'object' || Array.isArray(ropeScaling)) throw new ConfigError(`config.json field "rope_scaling" must be an object or null, got ${describeValue(ropeScaling)}`);
  const rp = ropeParams as Json;
  const rs = ropeScaling as Json | null;
  const ropeType = rp.rope_type ?? rs?.rope_type ?? rs?.type ?? 'default';
  if (ropeType !== 'default') throw new UnsupportedModelError(`RoPE type ${describeValue(ropeType)} is not supported yet (only "default")`);
  const partial = checkFraction(rp.partial_rotary_factor ?? raw.partial_rotary_factor ?? 0.5, 'partial_rotary_factor');
  const base = checkPositiveFinite(rp.rope_theta ?? raw.rope_theta ?? 10000, 'rope_theta', 'ropeBase');
  const act = optional(raw, 'hidden_act', 'silu');
  if (act !== 'silu') throw new UnsupportedModelError(`hidden_act ${describeValue(act)} is not supported (GLM uses silu)`);
  return {
    family,
    vocabSize,
    hiddenSize,
    numLayers: positiveInt(raw, 'num_hidden_layers', F, 'numLayers'),
    numHeads,
    numKvHeads: optionalInt(raw, 'num_key_value_heads', numHeads, 'numHeads'),
    headDim,
    ffnHiddenSize: positiveInt(raw, 'intermediate_size', F, 'ffnHiddenSize'),
    norm: 'rmsnorm',
    normEps: optionalEps(raw, 'rms_norm_eps'),
    mlp: 'swiglu',
    rope: { style: 'interleaved', rotaryDim: Math.floor(headDim * partial), base, f16InvFreq: false },
    qkvBias: optionalBool(raw, 'attention_bias', false),
    attnOutBias: false,
    mlpBias: false,
    residualAlpha: null,
    sandwichNorms: family === 'glm4',
    tieWordEmbeddings: optionalBool(raw, 'tie_word_embeddings', false),
    maxSequenceLength: optionalInt(raw, 'max_position_embeddings', 8192, 'contextLength'),
    storedQuantBits: 0,
    tokens: { eos: idList(raw, 'eos_token_id', vocabSize), bos: optionalId(raw, 'bos_token_id', vocabSize), pad: optionalId(raw, 'pad_token_id', vocabSize) },
  };
}

function check(config: GlmConfig): GlmConfig {
  const { numHeads, numKvHeads, headDim, rope } = config;
  if (!Number.isInteger(headDim) || headDim <= 0) throw new ConfigError(`head dimension ${headDim} must be a positive integer`);
  checkPositiveInt(headDim, 'head dimension', 'headDim');
  if (numKvHeads > numHeads) throw new ConfigError(`KV heads ${numKvHeads} must not exceed the attention heads ${numHeads}`);
  if (rope.rotaryDim <= 0) throw new ConfigError(`rotary dimension ${rope.rotaryDim} must be positive (partial_rotary_factor or rope.dimension_count too small for head dimension ${headDim})`);
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
    `model_type ${describeJson(modelType ?? null)} is not a supported GLM model. Supported: ${SUPPORTED_MODELS}.`,
  );
}
