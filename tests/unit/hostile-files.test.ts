// Regression cases of issue #18 (hostile model files): each finding of the fuzzing campaign, and of our own
// fuzz suite, as a direct test: the named error it must give, with the field or place named in the message.
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeJson } from '../../src/formats/describe';
import { nodeModelFiles } from '../../src/formats/node-files';
import { parseManifest } from '../../src/formats/package';
import { normalizeConfig } from '../../src/model/config';
import { CONFIG_LIMITS } from '../../src/model/limits';
import { loadModelFolder } from '../../src/model/load';
import { PRESET_CONFIG_JSON } from '../../src/model/presets';
import { planVerdict } from '../../src/ui/shared/verdict';
import type { BrowserGpu } from '../../src/ui/shared/browser-gpu';
import { runFuzz } from '../fuzz/harness';
import { buildCase, MUTATIONS, type CaseSpec, type FuzzFormat } from '../fuzz/mutations';
import { buildSeeds, caseModelFiles, HF_CONFIG, type Seeds } from '../fuzz/seeds';

const ROOT = resolve(import.meta.dirname, '../..');

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but it loaded');
}

function spec(format: FuzzFormat, seedName: string, mutation: string, caseSeed: number): CaseSpec {
  const index = MUTATIONS[format].findIndex((m) => m.name === mutation && m.seed === seedName);
  if (index < 0) throw new Error(`no mutation ${seedName}/${mutation} of ${format}`);
  return { format, mutation: index, caseSeed };
}

let seeds: Seeds;
beforeAll(async () => {
  seeds = await buildSeeds(ROOT);
});

/** Loads a mutated seed (weights only, no tokenizer) and returns the error it must give. */
async function loadError(format: FuzzFormat, seedName: string, mutation: string, caseSeed = 1): Promise<Error> {
  const c = buildCase(spec(format, seedName, mutation, caseSeed), seeds);
  return rejection(loadModelFolder(caseModelFiles(c.seedName, c.files)));
}

const config = (patch: Record<string, unknown>) => () => normalizeConfig({ ...HF_CONFIG, ...patch });

describe('config.json values are range-checked before anything is sized from them', () => {
  it.each([
    ['hidden_size', 2 ** 53],
    ['vocab_size', 2 ** 53],
    ['num_attention_heads', 1e308],
    ['intermediate_size', 2 ** 53],
    ['num_hidden_layers', 1e6],
    ['head_dim', 2 ** 40],
  ])('%s = %d is a ConfigLimitError naming the field and the limit', async (field, value) => {
    const err = await rejection(config({ [field]: value }));
    expect(err.name).toBe('ConfigLimitError');
    expect(err.message).toContain(`"${field}"`);
    expect(err.message).toMatch(/limit of \d+/);
  });

  it.each([
    ['max_position_embeddings', -5],
    ['max_position_embeddings', 'long'],
    ['partial_rotary_factor', -0.5],
    ['partial_rotary_factor', 0],
    ['rms_norm_eps', -1],
    ['rms_norm_eps', 0],
    ['rms_norm_eps', '1e-5'],
    ['rope_theta', -1],
    ['tie_word_embeddings', 'abc'],
    ['attention_bias', 1],
    ['eos_token_id', [-1]],
    ['eos_token_id', 1.5],
    ['pad_token_id', 1e9],
  ])('%s = %j is a named error, not silent garbage or a TypeError', async (field, value) => {
    const err = await rejection(config({ [field]: value }));
    expect(['ConfigLimitError', 'ConfigError']).toContain(err.name);
    expect(err.message).toContain(field);
  });

  it('a ChatGLM2 config with a negative rope_ratio or a string epsilon is refused', async () => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/thudm-chatglm2-tiny/config.json'), 'utf8')) as Record<string, unknown>;
    expect((await rejection(() => normalizeConfig({ ...raw, rope_ratio: -1 }))).name).toBe('ConfigLimitError');
    expect((await rejection(() => normalizeConfig({ ...raw, layernorm_epsilon: 'abc' }))).name).toBe('ConfigLimitError');
    expect((await rejection(() => normalizeConfig({ ...raw, seq_length: -1 }))).name).toBe('ConfigLimitError');
  });

  it('a model_type nested 100,000 deep gives a named error (the message helper does not overflow the stack)', async () => {
    const text = `{"model_type": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect((await rejection(() => normalizeConfig(text))).name).toBe('UnsupportedModelError');
    expect(describeJson(JSON.parse('['.repeat(100_000) + ']'.repeat(100_000))).length).toBeLessThanOrEqual(80);
  });

  it('a layer count that differs from the layers in the checkpoint fails before any layer is built', async () => {
    for (const layers of [1, 3, CONFIG_LIMITS.numLayers]) {
      const c = buildCase(spec('config.json', 'hf', 'none', 1), seeds);
      const files = { ...c.files, 'config.json': new TextEncoder().encode(JSON.stringify({ ...HF_CONFIG, num_hidden_layers: layers })) };
      const err = await rejection(loadModelFolder(caseModelFiles('hf', files)));
      expect(err.name).toBe('ConfigLimitError');
      expect(err.message).toContain(`says ${layers} layers but the tensors hold 2`);
    }
  });
});

describe('safetensors: the tensors must tile the data section exactly', () => {
  it.each([
    ['header-length+1', /header is not valid|gap|trailing/],
    ['header-length-1', /header is not valid|gap|trailing/],
    ['gap-in-data', /gap no tensor covers/],
    ['trailing-bytes', /trailing bytes belong to no tensor/],
    ['header-deep-nesting', /header|tensor "a"/],
  ])('%s is a SafetensorsFormatError', async (mutation, message) => {
    const err = await loadError('safetensors', 'hf', mutation);
    expect(err.name).toBe('SafetensorsFormatError');
    expect(err.message).toMatch(message);
  });
});

describe('GGUF: structure and metadata', () => {
  it.each([
    ['offset-misaligned', 'GgufFormatError', /not a multiple of general.alignment/],
    ['tensors-overlap', 'GgufFormatError', /overlap/],
    ['duplicate-metadata-key', 'GgufFormatError', /appears twice/],
    ['block-count-smaller', 'ConfigLimitError', /block_count" says 1 layers but the tensors hold 2/],
    ['block-count-huge', 'ConfigLimitError', /block_count/],
    ['key-length-huge', 'WeightShapeError', /attn_qkv.* have shape/],
    ['tensor-extra', 'GgufFormatError', /not part of the model/],
  ])('%s is a %s', async (mutation, name, message) => {
    const err = await loadError('gguf', 'gguf', mutation);
    expect(err.name).toBe(name);
    expect(err.message).toMatch(message);
  });
});

describe('GGUF: a huge attention.key_length fails on its limit, before the loader sizes anything from it', () => {
  it.each([2 ** 20, 2 ** 31])('key_length %d', async (value) => {
    const g = seeds.gguf;
    const { buildGguf } = await import('../helpers/gguf-writer');
    const { GgufValueType } = await import('../../src/formats/gguf');
    const bytes = buildGguf({ metadata: [...g.metadata, { key: 'chatglm.attention.key_length', type: GgufValueType.UINT32, value }], tensors: g.tensors });
    const err = await rejection(loadModelFolder(caseModelFiles('gguf', { ...seeds.files.gguf, 'model.gguf': bytes })));
    expect(err.name).toBe('ConfigLimitError');
    expect(err.message).toContain('chatglm.attention.key_length');
  });
});

describe('package manifest: part alignment and overlap', () => {
  it.each([
    ['part-offset-misaligned', /not a multiple of 256/],
    ['parts-overlap', /overlap|runs past/],
  ])('%s is a PackageFormatError', async (mutation, message) => {
    const err = await loadError('package', 'package', mutation);
    expect(err.name).toBe('PackageFormatError');
    expect(err.message).toMatch(message);
  });

  it('a manifest with another alignment is refused', () => {
    const manifest = JSON.parse(new TextDecoder().decode(seeds.files.package['manifest.json'])) as Record<string, unknown>;
    expect(() => parseManifest({ ...manifest, alignment: 4 })).toThrow(/"alignment" must be 256/);
  });
});

describe('package shards are checked against the manifest SHA-256 on every load path', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'glm-hostile-pkg-'));
    for (const [name, bytes] of Object.entries(seeds.files.package)) writeFileSync(join(dir, name), bytes);
  });

  it('a local package folder with one flipped shard byte is a ShardIntegrityError naming the shard', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'glm-hostile-flip-'));
    cpSync(dir, bad, { recursive: true });
    const shard = join(bad, 'shard-00001.bin');
    const bytes = readFileSync(shard);
    bytes[1000] = bytes[1000]! ^ 1;
    writeFileSync(shard, bytes);
    const err = await rejection(loadModelFolder(nodeModelFiles(bad)));
    expect(err.name).toBe('ShardIntegrityError');
    expect(err.message).toContain('shard-00001.bin');
    // The explicit opt-out for trusted folders loads it (and so shows the check is what refused it).
    await expect(loadModelFolder(nodeModelFiles(bad, { trustShards: true }))).resolves.toBeTruthy();
  });

  it('the intact folder loads with the check on', async () => {
    const model = await loadModelFolder(nodeModelFiles(dir));
    expect(model.format).toBe('package');
    expect(model.config.numLayers).toBe(2);
  });
});

describe('the page verdict is bounded', () => {
  it('a crafted config whose weights exceed every budget is answered without the placement search', () => {
    const raw = { ...(PRESET_CONFIG_JSON['glm-4-9b'] as Record<string, unknown>), num_layers: CONFIG_LIMITS.numLayers, hidden_size: CONFIG_LIMITS.hiddenSize, ffn_hidden_size: CONFIG_LIMITS.ffnHiddenSize };
    const gpu = { status: 'ok', limits: { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 31 }, features: [], gpuBudget: 2 ** 32, cpuBudget: 2 ** 33 } as unknown as BrowserGpu;
    const v = planVerdict(normalizeConfig(raw), 'q4', gpu);
    expect(v.kind).toBe('none');
    expect(v.plan).toBeNull();
    expect(v.headline).toMatch(/weights alone/);
  });
});

describe('fuzz findings replayed through the worker harness', () => {
  // Cases our fuzz suite found (label as printed by the harness); each must now be a named error.
  const FOUND: CaseSpec[] = [
    spec('gguf', 'gguf', 'tensor-type-changed', 18000160), // last tensor shrank: trailing bytes were ignored
    spec('gguf', 'gguf', 'tensor-missing', 18000412), // a bias dropped from layer 0 only: layer 1's was silently unused
  ];
  it('each is refused with a named error', { timeout: 120_000 }, async () => {
    const report = await runFuzz({ root: ROOT, specs: FOUND, workers: 1 });
    expect(report.results.map((r) => `${r.label} ${r.verdict}`)).toEqual(report.results.map((r) => `${r.label} named`));
  });
});
