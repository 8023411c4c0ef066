// bench/peer/gguf-plan.ts: the GGUF that llama-bench runs must have our presets' exact shapes. Checked
// three ways: against the tensor names/shapes llama.cpp's chatglm loader creates (its release bundled by
// node-llama-cpp 3.22.1, src/models/chatglm.cpp); against a file llama.cpp's own converter wrote for a
// small GlmForCausalLM (tests/fixtures/peer-tests/gguf-quants/glm-kq); and by reading the plan back through
// our own GGUF importer (src/formats/gguf.ts), which must give the preset's config again.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ggufBytesPerToken, ggufTensorBytes, llamaCppGgufPlan, type GgufPlan } from '../../bench/peer/gguf-plan';
import { memoryByteSource, type ByteSource } from '../../src/formats/byte-source';
import { ggufRawConfig, openGguf, type GgufFile, type GgufTensorInfo } from '../../src/formats/gguf';
import { normalizeConfig } from '../../src/model/config';
import { PRESETS } from '../../src/model/presets';
import { q4Bytes } from '../../src/quant/types';

/** The plan as our GGUF reader would have parsed it from a file (metadata and tensor table; no data). */
function asGgufFile(plan: GgufPlan): GgufFile {
  const metadata = new Map<string, number | string>([['general.architecture', plan.architecture], ['general.name', plan.name]]);
  for (const [key, value] of Object.entries(plan.kv)) metadata.set(`${plan.architecture}.${key}`, value);
  const source = { name: 'plan.gguf' } as ByteSource;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of plan.tensors) {
    tensors.set(t.name, {
      name: t.name, type: t.type === 'Q4_0' ? 2 : 0, typeName: t.type, ne: t.ne, shape: [...t.ne].reverse(), byteOffset: 0,
      byteLength: ggufTensorBytes(t), source,
    });
  }
  return { version: 3, alignment: 32, metadata, metadataTypes: new Map(), tensors, dataOffset: 0, source };
}

describe('llamaCppGgufPlan', () => {
  it('GLM-4-9B: fused qkv with bias, fused gate/up, separate head, the shapes llama.cpp creates', () => {
    const plan = llamaCppGgufPlan(PRESETS['glm-4-9b'], 'glm-4-9b');
    const shape = (name: string) => plan.tensors.find((t) => t.name === name)?.ne;
    expect(plan.tensors).toHaveLength(3 + 40 * 7);
    expect(shape('token_embd.weight')).toEqual([4096, 151552]);
    expect(shape('output.weight')).toEqual([4096, 151552]);
    expect(shape('blk.39.attn_qkv.weight')).toEqual([4096, 4096 + 2 * 2 * 128]);
    expect(shape('blk.39.attn_qkv.bias')).toEqual([4608]);
    expect(shape('blk.0.attn_output.weight')).toEqual([4096, 4096]);
    expect(shape('blk.0.ffn_up.weight')).toEqual([4096, 2 * 13696]);
    expect(shape('blk.0.ffn_down.weight')).toEqual([13696, 4096]);
    expect(plan.kv).toMatchObject({ block_count: 40, 'attention.head_count': 32, 'attention.head_count_kv': 2, 'rope.dimension_count': 64, 'rope.freq_base': 5e6 });
    expect(plan.tensors.filter((t) => t.type === 'Q4_0').every((t) => t.ne[0]! % 32 === 0)).toBe(true);
  });

  it('GLM-Edge-1.5B: split q/k/v without bias, tied head (no output.weight), full-width RoPE', () => {
    const plan = llamaCppGgufPlan(PRESETS['glm-edge-1.5b'], 'glm-edge-1.5b');
    const names = new Set(plan.tensors.map((t) => t.name));
    expect(names.has('output.weight')).toBe(false);
    expect(names.has('blk.0.attn_qkv.weight')).toBe(false);
    expect(names.has('blk.0.attn_q.bias')).toBe(false);
    const shape = (name: string) => plan.tensors.find((t) => t.name === name)?.ne;
    expect(shape('blk.27.attn_q.weight')).toEqual([2048, 2048]);
    expect(shape('blk.27.attn_k.weight')).toEqual([2048, 512]);
    expect(shape('blk.27.attn_v.weight')).toEqual([2048, 512]);
    expect(shape('blk.27.ffn_up.weight')).toEqual([2048, 2 * 6144]);
    expect(plan.kv['rope.dimension_count']).toBe(128);
    expect(plan.kv.vocab_size).toBe(59264);
  });

  for (const preset of ['glm-4-9b', 'glm-edge-1.5b'] as const) {
    it(`${preset}: our GGUF importer reads the plan back as the preset's config`, () => {
      const plan = llamaCppGgufPlan(PRESETS[preset], preset);
      const back = normalizeConfig(ggufRawConfig(asGgufFile(plan)));
      const want = PRESETS[preset];
      for (const key of ['family', 'vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'ffnHiddenSize', 'qkvBias', 'tieWordEmbeddings'] as const) {
        expect([key, back[key]]).toEqual([key, want[key]]);
      }
      expect(back.rope.rotaryDim).toBe(want.rope.rotaryDim);
      expect(back.rope.base).toBeCloseTo(want.rope.base, 6);
      expect(back.normEps).toBeCloseTo(want.normEps, 12);
    });

    it(`${preset}: llama.cpp reads as many weight bytes per token as our q4 (Q4_0 = our group of 32 + f16 scale)`, () => {
      const c = PRESETS[preset];
      const plan = llamaCppGgufPlan(c, preset);
      const qkvRows = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
      const layerMatrices = q4Bytes(qkvRows, c.hiddenSize) + q4Bytes(c.hiddenSize, c.numHeads * c.headDim) +
        q4Bytes(2 * c.ffnHiddenSize, c.hiddenSize) + q4Bytes(c.hiddenSize, c.ffnHiddenSize);
      const matrices = c.numLayers * layerMatrices + q4Bytes(c.vocabSize, c.hiddenSize);
      const planMatrices = plan.tensors.filter((t) => t.readPerToken && t.type === 'Q4_0').reduce((s, t) => s + ggufTensorBytes(t), 0);
      expect(planMatrices).toBe(matrices);
      // The figures: 4.94 GB a token for GLM-4-9B, 0.83 GB for GLM-Edge-1.5B (norms and biases add a little).
      expect(ggufBytesPerToken(plan) / 1e9).toBeCloseTo(preset === 'glm-4-9b' ? 4.94 : 0.83, 2);
    });
  }

  it('names, shapes and metadata match what llama.cpp\'s converter wrote for a GlmForCausalLM (glm-kq, chatglm architecture)', async () => {
    const bytes = readFileSync(new URL('../fixtures/peer-tests/gguf-quants/glm-kq/Q4_0.gguf', import.meta.url));
    const file = await openGguf(memoryByteSource(new Uint8Array(bytes), 'glm-kq/Q4_0.gguf'));
    // glm-kq's config.json as its README states it (GlmForCausalLM; a GGUF alone cannot tell it from THUDM's layout).
    const config = normalizeConfig({
      model_type: 'glm', hidden_size: 256, intermediate_size: 256, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2,
      head_dim: 64, vocab_size: 320, partial_rotary_factor: 0.5, rope_theta: 10000, attention_bias: true, rms_norm_eps: 1e-5,
      tie_word_embeddings: false, hidden_act: 'silu', max_position_embeddings: 512, eos_token_id: 1,
    });
    const plan = llamaCppGgufPlan(config, 'glm-kq');
    const fileShapes = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.ne]));
    const planShapes = Object.fromEntries(plan.tensors.map((t) => [t.name, t.ne]));
    expect(planShapes).toEqual(fileShapes);
    // Every key the plan writes is one the converter wrote, with the same value (context_length aside: the
    // converter writes the hidden size for glm checkpoints, which have no sequence length; vocab_size aside:
    // that file has a tokenizer, whose token count llama.cpp uses instead).
    for (const [key, value] of Object.entries(plan.kv)) {
      if (key === 'context_length' || key === 'vocab_size') continue;
      const stated = file.metadata.get(`chatglm.${key}`);
      expect([key, typeof stated === 'number' ? stated : Number(stated)]).toEqual([key, key.includes('epsilon') ? Math.fround(value) : value]);
    }
  });

  it('shrinks for a quick local check, and refuses families llama.cpp\'s chatglm does not cover', () => {
    const tiny = llamaCppGgufPlan(PRESETS['glm-edge-1.5b'], 'tiny', { layers: 2, vocab: 512 });
    expect(tiny.kv.block_count).toBe(2);
    expect(tiny.tensors.filter((t) => t.name.startsWith('blk.')).map((t) => t.name.split('.')[1])).not.toContain('2');
    expect(tiny.tensors.find((t) => t.name === 'token_embd.weight')?.ne).toEqual([2048, 512]);
    expect(() => llamaCppGgufPlan(PRESETS['chatglm-6b'], 'v1')).toThrow(/chatglm1/);
  });
});
