// The real shapes of the models we plan for, so that the planner (and `glm-webgpu plan --preset`) can
// size a model before anything is downloaded. Each preset is the model's own config.json, with the fields
// that normalizeConfig reads written out as published on the Hugging Face Hub (training-only fields such as
// dropout, auto_map and torch_dtype are left out), run through normalizeConfig like a downloaded one.
import { normalizeConfig, type GlmConfig } from './config';

export type PresetName = 'glm-4-9b' | 'chatglm3-6b' | 'chatglm-6b' | 'glm-edge-1.5b' | 'glm-4v-9b';

export const presetNames: readonly PresetName[] = ['glm-4-9b', 'chatglm3-6b', 'chatglm-6b', 'glm-edge-1.5b', 'glm-4v-9b'];

export function isPresetName(name: string): name is PresetName {
  return (presetNames as readonly string[]).includes(name);
}

// THUDM/glm-4-9b-chat, config.json (THUDM's own modeling code, "ChatGLMModel"). GLM-4V-9B's language model
// is this one with other RoPE and context fields (below).
const GLM_4_9B_CHAT_CONFIG_JSON = {
  model_type: 'chatglm',
  add_bias_linear: false,
  add_qkv_bias: true,
  apply_residual_connection_post_layernorm: false,
  ffn_hidden_size: 13696,
  hidden_size: 4096,
  kv_channels: 128,
  layernorm_epsilon: 1.5625e-7,
  multi_query_attention: true,
  multi_query_group_num: 2,
  num_attention_heads: 32,
  num_layers: 40,
  rope_ratio: 500,
  original_rope: true,
  padded_vocab_size: 151552,
  post_layer_norm: true,
  rmsnorm: true,
  seq_length: 131072,
  tie_word_embeddings: false,
  eos_token_id: [151329, 151336, 151338],
  pad_token_id: 151329,
};

export const PRESET_CONFIG_JSON: Record<PresetName, Readonly<Record<string, unknown>>> = {
  'glm-4-9b': GLM_4_9B_CHAT_CONFIG_JSON,
  // THUDM/chatglm3-6b, config.json. No rope_ratio field: the base stays 10000 (only the -32k/-128k
  // variants set rope_ratio 50/500).
  'chatglm3-6b': {
    model_type: 'chatglm',
    add_bias_linear: false,
    add_qkv_bias: true,
    apply_residual_connection_post_layernorm: false,
    ffn_hidden_size: 13696,
    hidden_size: 4096,
    kv_channels: 128,
    layernorm_epsilon: 1e-5,
    multi_query_attention: true,
    multi_query_group_num: 2,
    num_attention_heads: 32,
    num_layers: 28,
    original_rope: true,
    padded_vocab_size: 65024,
    post_layer_norm: true,
    rmsnorm: true,
    seq_length: 8192,
    tie_word_embeddings: false,
    eos_token_id: 2,
    pad_token_id: 0,
  },
  // THUDM/chatglm-6b, config.json after the image tokens were dropped from the vocabulary (vocab 130528,
  // [MASK]/[gMASK]/<sop>/</s> = 130000/130001/130004/130005). The first release had vocab 150528 and
  // bos/eos 150004/150005; its checkpoints are not compatible with the current tokenizer.
  'chatglm-6b': {
    model_type: 'chatglm',
    bos_token_id: 130004,
    eos_token_id: 130005,
    mask_token_id: 130000,
    gmask_token_id: 130001,
    pad_token_id: 3,
    hidden_size: 4096,
    inner_hidden_size: 16384,
    layernorm_epsilon: 1e-5,
    max_sequence_length: 2048,
    num_attention_heads: 32,
    num_layers: 28,
    position_encoding_2d: true,
    quantization_bit: 0,
    pre_seq_len: null,
    vocab_size: 130528,
  },
  // THUDM/glm-edge-1.5b-chat, config.json (transformers' GlmForCausalLM).
  // Two fields differ from what one might assume from the other GLM-4 models, and we follow the published file:
  // - partial_rotary_factor is 1.0 (full-width RoPE, as DESIGN.md says for GLM-Edge), not transformers'
  //   GlmConfig default of 0.5; the field was added to the repo in a later commit.
  // - tie_word_embeddings is true. Doubt: the Hub reports 1.59B parameters, which matches a separately stored
  //   lm_head.weight (1.47B without it), but with the flag true transformers ties the head to the embedding
  //   and ignores that tensor, so the tied head is what the model computes with, and what we size.
  'glm-edge-1.5b': {
    model_type: 'glm',
    attention_bias: false,
    eos_token_id: [59246, 59253, 59255],
    head_dim: 128,
    hidden_act: 'silu',
    hidden_size: 2048,
    intermediate_size: 6144,
    max_position_embeddings: 8192,
    num_attention_heads: 16,
    num_hidden_layers: 28,
    num_key_value_heads: 4,
    pad_token_id: 59246,
    partial_rotary_factor: 1.0,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    tie_word_embeddings: true,
    vocab_size: 59264,
  },
  // THUDM/glm-4v-9b, config.json (issue #21): GLM-4-9B's language model (rope_ratio 1, 8k context) plus the
  // EVA2-CLIP tower: 1120 px images in 14 px patches (80x80 = 6400 + the class token), 63 layers of width 1792,
  // merged 2x2 into 1600 image rows + boi/eoi.
  'glm-4v-9b': {
    ...GLM_4_9B_CHAT_CONFIG_JSON,
    rope_ratio: 1,
    seq_length: 8192,
    boi_token_id: 151339,
    eoi_token_id: 151340,
    vision_config: {
      dropout_prob: 0.0,
      hidden_act: 'gelu',
      in_channels: 3,
      num_hidden_layers: 63,
      hidden_size: 1792,
      patch_size: 14,
      num_heads: 16,
      intermediate_size: 15360,
      layer_norm_eps: 1e-6,
      num_positions: 6401,
      image_size: 1120,
      scaling_factor: 8,
    },
  },
};

export const PRESETS: Record<PresetName, GlmConfig> = {
  'glm-4-9b': normalizeConfig(PRESET_CONFIG_JSON['glm-4-9b']),
  'chatglm3-6b': normalizeConfig(PRESET_CONFIG_JSON['chatglm3-6b']),
  'chatglm-6b': normalizeConfig(PRESET_CONFIG_JSON['chatglm-6b']),
  'glm-edge-1.5b': normalizeConfig(PRESET_CONFIG_JSON['glm-edge-1.5b']),
  'glm-4v-9b': normalizeConfig(PRESET_CONFIG_JSON['glm-4v-9b']),
};
