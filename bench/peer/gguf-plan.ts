// What llama.cpp must find in a GGUF file to load one of our presets: the metadata keys and every
// tensor's name, shape and type, for llama.cpp's "chatglm" architecture (the one its converter maps
// THUDM's ChatGLMModel, i.e. GLM-4-9B-chat and ChatGLM2/3, and transformers' GlmForCausalLM, i.e.
// GLM-Edge, to). bench/peer/write_random_gguf.py writes a file from this plan with random Q4_0 blocks,
// so llama-bench runs exactly the shapes our bench runs. Checked against the llama.cpp release that
// node-llama-cpp 3.22.1 bundles: src/models/chatglm.cpp (load_arch_tensors, create_tensor_qkv in
// src/llama-model.cpp) and its converter conversion/chatglm.py (set_gguf_parameters).
import type { GlmConfig } from '../../src/model/config';

/** ggml's tensor types used here; Q4_0 is 32 weights in 18 bytes (f16 scale + 16 bytes of 4-bit codes). */
export type GgufTensorType = 'Q4_0' | 'F32';

export interface GgufTensorPlan {
  name: string;
  /** ggml order: ne[0] is the contiguous (input) dimension, ne[1] the rows. */
  ne: number[];
  type: GgufTensorType;
  /** Input width of the matrix, for scales that keep random activations finite (1 for vectors). */
  fanIn: number;
  /** Read once per decoded token (every layer matrix and the output head; not the embedding table). */
  readPerToken: boolean;
}

export interface GgufPlan {
  architecture: 'chatglm';
  name: string;
  /** GGUF metadata: keys without the `${architecture}.` prefix where llama.cpp reads them with it. */
  kv: {
    context_length: number;
    embedding_length: number;
    feed_forward_length: number;
    block_count: number;
    'attention.head_count': number;
    'attention.head_count_kv': number;
    'attention.layer_norm_rms_epsilon': number;
    'rope.dimension_count': number;
    'rope.freq_base': number;
    vocab_size: number;
  };
  tensors: GgufTensorPlan[];
}

export const Q4_0_BLOCK = { weights: 32, bytes: 18 } as const;

/** Bytes of one tensor in the file (before alignment padding). */
export function ggufTensorBytes(t: Pick<GgufTensorPlan, 'ne' | 'type'>): number {
  const elements = t.ne.reduce((a, b) => a * b, 1);
  return t.type === 'Q4_0' ? (elements / Q4_0_BLOCK.weights) * Q4_0_BLOCK.bytes : elements * 4;
}

/** Weight bytes llama.cpp reads per decoded token with this file (the sum our bench calls bytesPerToken). */
export function ggufBytesPerToken(plan: GgufPlan): number {
  return plan.tensors.filter((t) => t.readPerToken).reduce((sum, t) => sum + ggufTensorBytes(t), 0);
}

/**
 * The GGUF plan of a GLM config, every matrix in Q4_0 (as `llama-quantize --pure Q4_0` would write it:
 * without --pure, llama-quantize keeps the output head in Q6_K) and the norms and biases in F32.
 * `layers` and `vocab` shrink the model for a quick local check, as our bench's --layers/--vocab do.
 */
export function llamaCppGgufPlan(config: GlmConfig, name: string, sizes: { layers?: number; vocab?: number } = {}): GgufPlan {
  const usable = config.family === 'chatglm2' || config.family === 'glm';
  if (!usable || config.norm !== 'rmsnorm' || config.mlp !== 'swiglu' || config.sandwichNorms || config.rope.style !== 'interleaved') {
    throw new Error(`llama.cpp's chatglm architecture has no equivalent of family ${config.family} (ChatGLM-6B and GLM-4-0414 are not covered here)`);
  }
  const hidden = config.hiddenSize;
  const layers = sizes.layers ?? config.numLayers;
  const vocab = sizes.vocab ?? config.vocabSize;
  const qWidth = config.numHeads * config.headDim;
  const kvWidth = config.numKvHeads * config.headDim;
  const ffn = config.ffnHiddenSize;
  // chatglm.cpp creates attn_output as {n_embd, n_embd}: true of every GLM this covers.
  if (qWidth !== hidden) throw new Error(`llama.cpp's chatglm needs heads x head_dim = hidden (${qWidth} != ${hidden})`);
  for (const width of [hidden, ffn]) {
    if (width % Q4_0_BLOCK.weights !== 0) throw new Error(`Q4_0 needs input widths divisible by 32 (got ${width})`);
  }
  if (config.attnOutBias || config.mlpBias) throw new Error('llama.cpp\'s chatglm has no bias on attn_output or the MLP');

  const matrix = (tensorName: string, cols: number, rows: number, readPerToken = true): GgufTensorPlan =>
    ({ name: tensorName, ne: [cols, rows], type: 'Q4_0', fanIn: cols, readPerToken });
  const vector = (tensorName: string, n: number): GgufTensorPlan => ({ name: tensorName, ne: [n], type: 'F32', fanIn: 1, readPerToken: true });

  // A tied head (GLM-Edge) has no output.weight: llama.cpp then uses token_embd as the head too, read in full
  // once per token as our engine reads its head; otherwise the embedding is one row per token.
  const tensors: GgufTensorPlan[] = [matrix('token_embd.weight', hidden, vocab, config.tieWordEmbeddings), vector('output_norm.weight', hidden)];
  if (!config.tieWordEmbeddings) tensors.push(matrix('output.weight', hidden, vocab));
  for (let i = 0; i < layers; i++) {
    const blk = `blk.${i}.`;
    tensors.push(vector(`${blk}attn_norm.weight`, hidden));
    if (config.family === 'chatglm2') {
      // THUDM's query_key_value is one matrix (q, then k, then v rows), with its bias (add_qkv_bias).
      tensors.push(matrix(`${blk}attn_qkv.weight`, hidden, qWidth + 2 * kvWidth));
      if (config.qkvBias) tensors.push(vector(`${blk}attn_qkv.bias`, qWidth + 2 * kvWidth));
    } else {
      // transformers' GlmForCausalLM keeps q_proj, k_proj and v_proj apart; the converter keeps them apart too.
      tensors.push(matrix(`${blk}attn_q.weight`, hidden, qWidth), matrix(`${blk}attn_k.weight`, hidden, kvWidth), matrix(`${blk}attn_v.weight`, hidden, kvWidth));
      if (config.qkvBias) tensors.push(vector(`${blk}attn_q.bias`, qWidth), vector(`${blk}attn_k.bias`, kvWidth), vector(`${blk}attn_v.bias`, kvWidth));
    }
    tensors.push(matrix(`${blk}attn_output.weight`, qWidth, hidden));
    tensors.push(vector(`${blk}ffn_norm.weight`, hidden));
    // gate and up in one matrix of 2 x ffn rows (dense_h_to_4h / gate_up_proj), split by ggml's swiglu.
    tensors.push(matrix(`${blk}ffn_up.weight`, hidden, 2 * ffn));
    tensors.push(matrix(`${blk}ffn_down.weight`, ffn, hidden));
  }
  return {
    architecture: 'chatglm',
    name,
    kv: {
      context_length: config.maxSequenceLength,
      embedding_length: hidden,
      feed_forward_length: ffn,
      block_count: layers,
      'attention.head_count': config.numHeads,
      'attention.head_count_kv': config.numKvHeads,
      'attention.layer_norm_rms_epsilon': config.normEps,
      'rope.dimension_count': config.rope.rotaryDim,
      'rope.freq_base': config.rope.base,
      vocab_size: vocab,
    },
    tensors,
  };
}
