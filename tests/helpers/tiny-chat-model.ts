// Tiny GLM-4-architecture chat models (HF "glm" layout) built on the fly, sharing the vocabulary of the
// tokenizer fixture (tests/fixtures/tokenizer-glm4-mini), so engine tests have a real tokenizer + model pair.
//  - random: seeded random weights (attention matters: good for KV-reuse and abort tests);
//  - scripted: every layer's output projections are zero, so the residual stream is the current token's
//    embedding and the model is a bigram table we choose: after `<|assistant|>` it says `script` then stops.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSafetensors, type TensorToWrite } from './safetensors-writer';
import { FIXTURES_DIR } from './fixtures';
import { randomArray } from './random';

export const TOKENIZER_DIR = resolve(FIXTURES_DIR, 'tokenizer-glm4-mini');
const VOCAB = 3013;
const HIDDEN = 64;
const LAYERS = 2;
const HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = 16;
const FFN = 96;

export function tinyChatConfig(): Record<string, unknown> {
  return {
    model_type: 'glm',
    vocab_size: VOCAB,
    hidden_size: HIDDEN,
    intermediate_size: FFN,
    num_hidden_layers: LAYERS,
    num_attention_heads: HEADS,
    num_key_value_heads: KV_HEADS,
    head_dim: HEAD_DIM,
    partial_rotary_factor: 0.5,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    attention_bias: true,
    tie_word_embeddings: false,
    max_position_embeddings: 512,
    eos_token_id: [3000, 3007, 3009],
    hidden_act: 'silu',
  };
}

/**
 * Writes config.json, model.safetensors and the tokenizer files into `dir`.
 * With `scriptIds`, the model deterministically continues `<|assistant|>` (3008) with those ids and then
 * `<|user|>` (a stop id), or with `loop` starts the script again; the ids must be distinct and at most HIDDEN - 1 long.
 */
export function writeTinyChatModel(
  dir: string,
  opts: {
    seed?: number; scriptIds?: number[]; chatTemplate?: string; generationConfig?: Record<string, unknown>; maxPositions?: number; startAfter?: number;
    /** The script repeats for ever instead of ending with a stop id: a reply that only Stop or max_tokens ends. */
    loop?: boolean;
  } = {},
): string {
  mkdirSync(dir, { recursive: true });
  const seed = opts.seed ?? 7;
  let s = seed;
  const rnd = (n: number, scale: number) => randomArray(n, s++, scale);
  const script = opts.scriptIds;
  const tensors: TensorToWrite[] = [];
  const add = (name: string, shape: number[], data: Float32Array) => tensors.push({ name, dtype: 'F32', shape, data });

  const embedding = script ? new Float32Array(VOCAB * HIDDEN) : rnd(VOCAB * HIDDEN, 0.5);
  const lmHead = script ? new Float32Array(VOCAB * HIDDEN) : rnd(VOCAB * HIDDEN, 0.3);
  if (script) {
    // The script starts after `startAfter` (default <|assistant|>: the last token of a GLM-4 prompt).
    const head = [opts.startAfter ?? 3008, ...script];
    if (new Set(head).size !== head.length || head.length >= HIDDEN) throw new Error('script ids must be distinct and short');
    const chain = [...head, opts.loop ? script[0]! : 3007];
    // Token chain[i] embeds as the one-hot e_i; lm_head row chain[i+1] reads e_i: a bigram table.
    for (let i = 0; i < chain.length - 1; i++) {
      embedding[chain[i]! * HIDDEN + i] = 1;
      lmHead[chain[i + 1]! * HIDDEN + i] = 10;
    }
  }
  add('model.embed_tokens.weight', [VOCAB, HIDDEN], embedding);
  const qRows = HEADS * HEAD_DIM;
  const kvRows = KV_HEADS * HEAD_DIM;
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [HIDDEN], new Float32Array(HIDDEN).fill(1));
    add(`${p}.self_attn.q_proj.weight`, [qRows, HIDDEN], rnd(qRows * HIDDEN, 0.2));
    add(`${p}.self_attn.q_proj.bias`, [qRows], rnd(qRows, 0.1));
    add(`${p}.self_attn.k_proj.weight`, [kvRows, HIDDEN], rnd(kvRows * HIDDEN, 0.2));
    add(`${p}.self_attn.k_proj.bias`, [kvRows], rnd(kvRows, 0.1));
    add(`${p}.self_attn.v_proj.weight`, [kvRows, HIDDEN], rnd(kvRows * HIDDEN, 0.2));
    add(`${p}.self_attn.v_proj.bias`, [kvRows], rnd(kvRows, 0.1));
    add(`${p}.self_attn.o_proj.weight`, [HIDDEN, qRows], script ? new Float32Array(HIDDEN * qRows) : rnd(HIDDEN * qRows, 0.2));
    add(`${p}.post_attention_layernorm.weight`, [HIDDEN], new Float32Array(HIDDEN).fill(1));
    add(`${p}.mlp.gate_up_proj.weight`, [2 * FFN, HIDDEN], rnd(2 * FFN * HIDDEN, 0.2));
    add(`${p}.mlp.down_proj.weight`, [HIDDEN, FFN], script ? new Float32Array(HIDDEN * FFN) : rnd(HIDDEN * FFN, 0.2));
  }
  add('model.norm.weight', [HIDDEN], new Float32Array(HIDDEN).fill(1));
  add('lm_head.weight', [VOCAB, HIDDEN], lmHead);
  writeFileSync(resolve(dir, 'config.json'), JSON.stringify({ ...tinyChatConfig(), ...(opts.maxPositions ? { max_position_embeddings: opts.maxPositions } : {}) }, null, 1));
  writeFileSync(resolve(dir, 'model.safetensors'), buildSafetensors(tensors));
  copyFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), resolve(dir, 'tokenizer.json'));
  copyFileSync(resolve(TOKENIZER_DIR, 'tokenizer_config.json'), resolve(dir, 'tokenizer_config.json'));
  if (opts.chatTemplate !== undefined) {
    const config = JSON.parse(readFileSync(resolve(TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(resolve(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: opts.chatTemplate }));
  }
  if (opts.generationConfig) writeFileSync(resolve(dir, 'generation_config.json'), JSON.stringify(opts.generationConfig));
  return dir;
}

/**
 * Ids that spell `text` with no id used twice (the scripted model is a bigram table, so a script cannot
 * repeat an id): a depth-first search over the vocabulary's pieces, longest first. Throws when none exists.
 */
export function distinctScript(
  tokenizer: { vocabSize: number; decode(ids: number[]): string; specialIds: Readonly<Record<string, number>> }, text: string,
): number[] {
  const specials = new Set(Object.values(tokenizer.specialIds));
  const pieces: Array<{ id: number; text: string }> = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (specials.has(id)) continue;
    const t = tokenizer.decode([id]);
    if (t.length > 0 && !t.includes('\ufffd')) pieces.push({ id, text: t });
  }
  pieces.sort((a, b) => b.text.length - a.text.length);
  const used = new Set<number>();
  const out: number[] = [];
  const search = (at: number): boolean => {
    if (at === text.length) return true;
    for (const p of pieces) {
      if (used.has(p.id) || !text.startsWith(p.text, at)) continue;
      used.add(p.id);
      out.push(p.id);
      if (search(at + p.text.length)) return true;
      used.delete(p.id);
      out.pop();
    }
    return false;
  };
  if (!search(0) || out.length > 60) throw new Error(`no short script of distinct ids spells ${JSON.stringify(text)}`);
  return out;
}
