// The bench's GGUF type mixes (src/ui/bench/gguf-mix.ts, issue #14): llama-quantize's choices for a GLM
// model, checked against the llama.cpp-made fixture, and the byte arithmetic of a Q4_K_M decode step.
import { describe, expect, it } from 'vitest';
import { weightRecipes } from '../../src/model/weights';
import { PRESETS } from '../../src/model/presets';
import { GGUF_FILE_BITS_PER_WEIGHT, ggufFormBytes, ggufMixType, randomGgufTypeWeight } from '../../src/ui/bench/gguf-mix';
import { GGUF_BLOCKS, type GgufBlockType } from '../../src/quant/gguf-blocks';
import { quantizedBytes, validateQuantTensor } from '../../src/quant/types';
import { ggufQuantsExpected } from '../helpers/gguf-quants';

describe('ggufMixType (llama-quantize\'s per-tensor types)', () => {
  it('matches what llama-quantize wrote into the Q4_K_M, Q5_K_M, Q6_K and Q8_0 fixtures (1 layer)', () => {
    const exp = ggufQuantsExpected('glm-kq');
    const names: Record<string, string> = {
      'token_embd.weight': 'embedding',
      'output.weight': 'lmHead',
      'blk.0.attn_output.weight': 'layers.0.attnOut.weight',
      'blk.0.ffn_up.weight': 'layers.0.mlpUp.weight',
      'blk.0.ffn_down.weight': 'layers.0.mlpDown.weight',
    };
    for (const fileType of ['Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0'] as const) {
      const types = exp.files[fileType]!.tensor_types;
      for (const [gguf, path] of Object.entries(names)) expect(`${fileType} ${gguf}: ${ggufMixType(fileType, path, 256, 1)}`).toBe(`${fileType} ${gguf}: ${types[gguf]}`);
    }
  });

  it('GLM-4-9B Q4_K_M: Q5_K attn_qkv, Q6_K output, ffn_down (13696 wide) falls back to Q8_0 on 20 layers and Q5_0 on 20', () => {
    const L = 40;
    expect(ggufMixType('Q4_K_M', 'layers.3.qkv.weight', 4096, L)).toBe('Q5_K');
    expect(ggufMixType('Q4_K_M', 'lmHead', 4096, L)).toBe('Q6_K');
    expect(ggufMixType('Q4_K_M', 'embedding', 4096, L)).toBe('Q4_K');
    const down = Array.from({ length: L }, (_, i) => ggufMixType('Q4_K_M', `layers.${i}.mlpDown.weight`, 13696, L));
    expect(down.filter((t) => t === 'Q8_0').length).toBe(20);
    expect(down.filter((t) => t === 'Q5_0').length).toBe(20);
  });

  it('a Q4_K_M decode step of every preset reads at most 15% more than the file holds for the same matrices', () => {
    for (const preset of ['glm-4-9b', 'chatglm3-6b', 'glm-edge-1.5b'] as const) {
      const config = PRESETS[preset];
      const { model, lmHeadTied } = weightRecipes(config);
      let file = 0;
      let gpu = 0;
      for (const r of model) {
        if (r.shape.length !== 2 || (r.path === 'embedding' && !lmHeadTied)) continue;
        const [rows, cols] = r.shape as [number, number];
        const type = ggufMixType('Q4_K_M', r.path, cols, config.numLayers, lmHeadTied);
        file += (rows * cols * GGUF_FILE_BITS_PER_WEIGHT[type]) / 8;
        gpu += ggufFormBytes(type, rows, cols);
      }
      console.log(`[gguf] ${preset} Q4_K_M: decode reads ${(gpu / 2 ** 30).toFixed(3)} GiB for ${(file / 2 ** 30).toFixed(3)} GiB of file bytes (+${(100 * (gpu / file - 1)).toFixed(1)}%)`);
      expect(gpu / file).toBeLessThan(1.15);
    }
  });

  it('random weights of every type have the layout and size of the engine\'s form', () => {
    let s = 7;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    for (const type of Object.keys(GGUF_BLOCKS) as GgufBlockType[]) {
      if (type === 'Q2_K' || type === 'Q3_K') continue; // not in the bench's mixes
      const w = randomGgufTypeWeight(type, 3, 512, next);
      validateQuantTensor(w);
      expect(quantizedBytes(w), type).toBe(ggufFormBytes(type, 3, 512));
    }
  });
});
