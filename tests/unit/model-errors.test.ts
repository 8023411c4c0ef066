import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryModelFiles } from '../../src/formats/byte-source';
import { loadModelFolder } from '../../src/model/load';
import { normalizeConfig } from '../../src/model/config';
import { fixtureDir, MODEL_FIXTURES } from '../helpers/fixtures';
import { buildSafetensors } from '../helpers/safetensors-writer';

function fixtureFiles(name: string) {
  return {
    config: readFileSync(resolve(fixtureDir(name), 'config.json'), 'utf8'),
    weights: new Uint8Array(readFileSync(resolve(fixtureDir(name), 'model.safetensors'))),
  };
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('model loading: bad input gives a named error', () => {
  it.each([0.3, 0.6, 0.95])('a safetensors file truncated at %f of its size -> TruncatedFileError', async (fraction) => {
    const { config, weights } = fixtureFiles('hf-glm-tiny');
    const cut = weights.subarray(0, Math.floor(weights.length * fraction));
    const err = await errorOf(loadModelFolder(memoryModelFiles({ 'config.json': config, 'model.safetensors': cut })));
    expect(err.name).toBe('TruncatedFileError');
  });

  it('a corrupt safetensors header -> SafetensorsFormatError', async () => {
    const { config, weights } = fixtureFiles('hf-glm-tiny');
    const bad = weights.slice();
    bad[9] = 0x7b; // the header starts {"lm_head...; {{lm_head... is not JSON
    const err = await errorOf(loadModelFolder(memoryModelFiles({ 'config.json': config, 'model.safetensors': bad })));
    expect(err.name).toBe('SafetensorsFormatError');
  });

  it('an unknown model_type -> UnsupportedModelError listing what is supported', () => {
    const err = (() => {
      try {
        normalizeConfig({ model_type: 'llama', hidden_size: 64 });
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(err.name).toBe('UnsupportedModelError');
    expect(err.message).toContain('"llama"');
    expect(err.message).toMatch(/ChatGLM-6B.*ChatGLM2.*GLM-4-0414/s);
  });

  it.each(MODEL_FIXTURES)('%s: a config without a needed field names the field (ConfigError)', (name) => {
    const raw = JSON.parse(fixtureFiles(name).config) as Record<string, unknown>;
    const field = 'num_attention_heads';
    delete raw[field];
    expect(() => normalizeConfig(raw)).toThrowError(expect.objectContaining({ name: 'ConfigError', message: expect.stringContaining(field) }));
  });

  it('invalid JSON in config.json -> ConfigError', () => {
    expect(() => normalizeConfig('{"model_type": "glm",')).toThrowError(expect.objectContaining({ name: 'ConfigError' }));
  });

  it('a tensor with the wrong shape -> WeightShapeError naming the tensor and both shapes', async () => {
    const { config } = fixtureFiles('hf-glm-tiny');
    const cfg = JSON.parse(config);
    const H = cfg.hidden_size as number;
    // A checkpoint whose o_proj of layer 0 is transposed-and-cut: [64, 32] instead of [64, 64].
    const tensors = Object.entries(JSON.parse(readFileSync(resolve(fixtureDir('hf-glm-tiny'), 'expected.json'), 'utf8')).param_names as Record<string, number[]>).map(
      ([name, shape]) => {
        const s = name === 'model.layers.0.self_attn.o_proj.weight' ? [H, H / 2] : shape;
        return { name, dtype: 'F32' as const, shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)) };
      },
    );
    const err = await errorOf(loadModelFolder(memoryModelFiles({ 'config.json': config, 'model.safetensors': buildSafetensors(tensors) })));
    expect(err.name).toBe('WeightShapeError');
    expect(err.message).toContain('model.layers.0.self_attn.o_proj.weight');
    expect(err.message).toContain('[64,32]');
    expect(err.message).toContain('[64,64]');
  });

  it('a missing tensor -> TensorNotFoundError naming it', async () => {
    const { config } = fixtureFiles('thudm-chatglm2-tiny');
    const params = JSON.parse(readFileSync(resolve(fixtureDir('thudm-chatglm2-tiny'), 'expected.json'), 'utf8')).param_names as Record<string, number[]>;
    const tensors = Object.entries(params)
      .filter(([name]) => name !== 'transformer.encoder.layers.1.mlp.dense_4h_to_h.weight')
      .map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }));
    const err = await errorOf(loadModelFolder(memoryModelFiles({ 'config.json': config, 'model.safetensors': buildSafetensors(tensors) })));
    expect(err.name).toBe('TensorNotFoundError');
    expect(err.message).toContain('transformer.encoder.layers.1.mlp.dense_4h_to_h.weight');
  });
});
