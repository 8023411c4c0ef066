import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { CpuOps } from '../../src/cpu/ops';
import { memoryByteSource, TruncatedFileError, type ByteSource } from '../../src/formats/byte-source';
import { f16ToF32 } from '../../src/formats/dtype';
import {
  GgufFormatError,
  GgufValueType,
  UnsupportedGgufTypeError,
  UnsupportedGgufVersionError,
  ggufModelFiles,
  ggufTokenizerJson,
  openGguf,
  readGgufTensor,
} from '../../src/formats/gguf';
import { nodeModelFiles } from '../../src/formats/node-files';
import { UnsupportedModelError } from '../../src/model/config';
import { loadModelFolder, type LoadedModel } from '../../src/model/load';
import type { HostWeight } from '../../src/model/weights';
import { importGgufQ4_0, importGgufQ8_0 } from '../../src/quant/index';
import { ModelSession } from '../../src/runtime/session';
import { expectAllClose } from '../helpers/compare';
import { runCli } from '../helpers/cli';
import { fixtureDir, fixtureExpected, LOGITS_ATOL, FIXTURES_DIR } from '../helpers/fixtures';
import { buildGguf, ggmlQuantizedWeights, modelToGguf, type GgufKv, type GgufWeightType, type ModelToGgufOptions } from '../helpers/gguf-writer';

const tmp = mkdtempSync(join(tmpdir(), 'glm-gguf-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

async function allLogits(model: LoadedModel<HostWeight>, ids: number[]): Promise<Float32Array> {
  const s = new ModelSession(new CpuOps(), model.config, model.weights as never, ids.length);
  return s.ops.read(await s.append(ids, 'all'));
}

async function greedy(model: LoadedModel<HostWeight>, ids: number[], n: number): Promise<number[]> {
  const s = new ModelSession(new CpuOps(), model.config, model.weights as never, ids.length + n);
  const out: number[] = [];
  let logits = await s.ops.read(await s.append(ids, 'last'));
  while (out.length < n) {
    out.push(argmax(logits));
    if (out.length === n) break;
    logits = await s.ops.read(await s.append([out.at(-1)!], 'last'));
  }
  return out;
}

function ggufFiles(bytes: Uint8Array, name = 'memory.gguf') {
  return ggufModelFiles(async () => memoryByteSource(bytes, name), name);
}

/** Host weights as the GGUF of `type` holds them, built independently of the reader. */
function importBlocks(blocks: Uint8Array, rows: number, cols: number, type: GgufWeightType): HostWeight {
  if (type === 'Q4_0') return importGgufQ4_0(blocks, rows, cols);
  if (type === 'Q8_0') return importGgufQ8_0(blocks, rows, cols);
  const bits = new Uint16Array(blocks.buffer, blocks.byteOffset, blocks.byteLength / 2);
  return { dtype: 'f32', shape: [rows, cols], data: Float32Array.from(bits, (b) => f16ToF32(b)) };
}

const CASES: { fixture: string; opts: Omit<ModelToGgufOptions, 'type'>; what: string }[] = [
  { fixture: 'thudm-chatglm2-tiny', opts: { arch: 'chatglm' }, what: 'ChatGLM2 (fused attn_qkv)' },
  { fixture: 'thudm-glm4chat-tiny', opts: { arch: 'chatglm' }, what: 'GLM-4-9B-chat (rope_ratio 500)' },
  { fixture: 'hf-glm-tiny', opts: { arch: 'chatglm', splitQkv: true }, what: 'GlmForCausalLM / GLM-Edge (attn_q/k/v)' },
  { fixture: 'hf-glm4-tiny', opts: { arch: 'glm4', splitQkv: true }, what: 'GLM-4-0414 (sandwich norms)' },
];

const hfCache = new Map<string, LoadedModel<HostWeight>>();
async function hfModel(fixture: string): Promise<LoadedModel<HostWeight>> {
  let m = hfCache.get(fixture);
  if (!m) {
    m = await loadModelFolder(nodeModelFiles(fixtureDir(fixture)));
    hfCache.set(fixture, m);
  }
  return m;
}

describe.each(CASES)('GGUF $opts.arch from $fixture: $what', ({ fixture, opts }) => {
  const expected = fixtureExpected(fixture);
  const ids = expected.prompt_ids;

  it('F32: config from metadata, weights equal the safetensors path, logits within 1e-3 of the reference', async () => {
    const hf = await hfModel(fixture);
    const bytes = modelToGguf(hf.config, hf.weights, { ...opts, type: 'F32' });
    const g = await loadModelFolder(ggufFiles(bytes));
    expect(g.format).toBe('gguf');
    const pick = (c: typeof hf.config) => ({
      vocabSize: c.vocabSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers, numHeads: c.numHeads, numKvHeads: c.numKvHeads,
      headDim: c.headDim, ffnHiddenSize: c.ffnHiddenSize, norm: c.norm, mlp: c.mlp, rope: c.rope, qkvBias: c.qkvBias,
      attnOutBias: c.attnOutBias, mlpBias: c.mlpBias, sandwichNorms: c.sandwichNorms, residualAlpha: c.residualAlpha,
      maxSequenceLength: c.maxSequenceLength, eos: c.tokens.eos,
    });
    expect(pick(g.config)).toEqual(pick(hf.config));
    // The epsilon is stored as float32 in GGUF.
    expect(g.config.normEps).toBe(Math.fround(hf.config.normEps));
    expect(g.weights).toEqual(hf.weights);
    const logits = await allLogits(g, ids);
    const V = g.config.vocabSize;
    ids.forEach((_, pos) => expectAllClose(logits.subarray(pos * V, (pos + 1) * V), expected.prompt_logits[pos]!, { atol: LOGITS_ATOL, label: `${fixture} gguf position ${pos}` }));
    expect(await greedy(g, ids, expected.greedy_ids.length)).toEqual(expected.greedy_ids);
  });

  it.each(['F16', 'Q8_0', 'Q4_0'] as const)('%s: the same quantized values reach the engine as through the safetensors path (exact)', async (type) => {
    const hf = await hfModel(fixture);
    const bytes = modelToGguf(hf.config, hf.weights, { ...opts, type });
    const g = await loadModelFolder(ggufFiles(bytes));
    // Reference: the fixture's safetensors weights, quantized by the same ggml-style quantizer and imported block by block.
    const ref: LoadedModel<HostWeight> = { ...hf, config: g.config, weights: ggmlQuantizedWeights(hf.weights, type, importBlocks) };
    expect(g.weights).toEqual(ref.weights);
    if (type !== 'F16') expect(g.weights.layers[0]!.qkv.weight.dtype).toBe(type === 'Q4_0' ? 'q4' : 'q8');
    expect(await allLogits(g, ids)).toEqual(await allLogits(ref, ids));
    const n = expected.greedy_ids.length;
    expect(await greedy(g, ids, n)).toEqual(await greedy(ref, ids, n));
  });
});

describe('GGUF layouts llama.cpp may produce', () => {
  it('split ffn_gate + ffn_up, tied output (no output.weight), v2 header, alignment 64', async () => {
    const hf = await hfModel('hf-glm4-tiny');
    // Tie the lm head to the embedding in the reference too.
    const tiedRef: LoadedModel<HostWeight> = { ...hf, weights: { ...hf.weights, lmHead: hf.weights.embedding } };
    const bytes = modelToGguf(hf.config, tiedRef.weights, { arch: 'glm4', type: 'Q8_0', splitQkv: true, splitGateUp: true, tieOutput: true, version: 2, alignment: 64 });
    const file = await openGguf(memoryByteSource(bytes));
    expect(file.version).toBe(2);
    expect(file.alignment).toBe(64);
    for (const t of file.tensors.values()) expect(t.byteOffset % 64).toBe(0);
    const g = await loadModelFolder(ggufFiles(bytes));
    expect(g.config.tieWordEmbeddings).toBe(true);
    expect(g.weights.lmHead).toBe(g.weights.embedding);
    const ref = ggmlQuantizedWeights(tiedRef.weights, 'Q8_0', importBlocks);
    expect(g.weights).toEqual(ref);
  });

  it('the fused ffn_up half order is [gate; up]: swapping the halves changes the output', async () => {
    const hf = await hfModel('thudm-chatglm2-tiny');
    const F = hf.config.ffnHiddenSize;
    const swapped = structuredClone(hf.weights);
    for (const L of swapped.layers) {
      const w = L.mlpUp.weight as { data: Float32Array; shape: number[] };
      const cols = w.shape[1]!;
      const gate = w.data.slice(0, F * cols);
      w.data.copyWithin(0, F * cols);
      w.data.set(gate, F * cols);
    }
    const good = await loadModelFolder(ggufFiles(modelToGguf(hf.config, hf.weights, { arch: 'chatglm', type: 'F32' })));
    const bad = await loadModelFolder(ggufFiles(modelToGguf(hf.config, swapped, { arch: 'chatglm', type: 'F32' })));
    const ids = fixtureExpected('thudm-chatglm2-tiny').prompt_ids;
    const a = await allLogits(good, ids);
    const b = await allLogits(bad, ids);
    const expectedRow = fixtureExpected('thudm-chatglm2-tiny').prompt_logits[0]!;
    expectAllClose(a.subarray(0, expectedRow.length), expectedRow, { atol: LOGITS_ATOL });
    expect(Math.max(...Array.from(a.subarray(0, expectedRow.length), (v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-3);
  });
});

describe('GGUF header', () => {
  const everyType: GgufKv[] = [
    { key: 'u8', type: GgufValueType.UINT8, value: 250 },
    { key: 'i8', type: GgufValueType.INT8, value: -7 },
    { key: 'u16', type: GgufValueType.UINT16, value: 65000 },
    { key: 'i16', type: GgufValueType.INT16, value: -32000 },
    { key: 'u32', type: GgufValueType.UINT32, value: 4_000_000_000 },
    { key: 'i32', type: GgufValueType.INT32, value: -2_000_000_000 },
    { key: 'f32', type: GgufValueType.FLOAT32, value: 0.1 },
    { key: 'bool', type: GgufValueType.BOOL, value: true },
    { key: 'str', type: GgufValueType.STRING, value: 'héllo 世界' },
    { key: 'u64', type: GgufValueType.UINT64, value: 2n ** 40n },
    { key: 'u64big', type: GgufValueType.UINT64, value: 2n ** 63n + 5n },
    { key: 'i64', type: GgufValueType.INT64, value: -(2n ** 50n) },
    { key: 'f64', type: GgufValueType.FLOAT64, value: 0.1 },
    { key: 'arr.i32', type: GgufValueType.ARRAY, elemType: GgufValueType.INT32, value: [1, -2, 3] },
    { key: 'arr.f32', type: GgufValueType.ARRAY, elemType: GgufValueType.FLOAT32, value: [0.5, -1.25] },
    { key: 'arr.str', type: GgufValueType.ARRAY, elemType: GgufValueType.STRING, value: ['a', '', 'ç'] },
    { key: 'arr.bool', type: GgufValueType.ARRAY, elemType: GgufValueType.BOOL, value: [true, false] },
    { key: 'arr.u8', type: GgufValueType.ARRAY, elemType: GgufValueType.UINT8, value: [1, 255] },
    { key: 'arr.nested', type: GgufValueType.ARRAY, elemType: GgufValueType.ARRAY, inner: GgufValueType.UINT16, value: [[1, 2], [3]] },
  ];

  it.each([2, 3])('reads metadata of every value type (v%i)', async (version) => {
    const g = await openGguf(memoryByteSource(buildGguf({ version, metadata: everyType })));
    const m = g.metadata;
    expect(g.version).toBe(version);
    expect(g.alignment).toBe(32);
    expect([m.get('u8'), m.get('i8'), m.get('u16'), m.get('i16'), m.get('u32'), m.get('i32')]).toEqual([250, -7, 65000, -32000, 4_000_000_000, -2_000_000_000]);
    expect(m.get('f32')).toBe(Math.fround(0.1));
    expect(m.get('bool')).toBe(true);
    expect(m.get('str')).toBe('héllo 世界');
    expect(m.get('u64')).toBe(2 ** 40);
    expect(m.get('u64big')).toBe(2n ** 63n + 5n);
    expect(m.get('i64')).toBe(-(2 ** 50));
    expect(m.get('f64')).toBe(0.1);
    expect(Array.from(m.get('arr.i32') as Int32Array)).toEqual([1, -2, 3]);
    expect(m.get('arr.i32')).toBeInstanceOf(Int32Array);
    expect(Array.from(m.get('arr.f32') as Float32Array)).toEqual([0.5, -1.25]);
    expect(m.get('arr.str')).toEqual(['a', '', 'ç']);
    expect(m.get('arr.bool')).toEqual([true, false]);
    expect(Array.from(m.get('arr.u8') as Uint8Array)).toEqual([1, 255]);
    expect((m.get('arr.nested') as Uint16Array[]).map((a) => Array.from(a))).toEqual([[1, 2], [3]]);
    expect(g.metadataTypes.get('arr.str')).toBe(GgufValueType.ARRAY);
  });

  it('reads only the header, not the tensor data', async () => {
    const big = new Uint8Array(8 << 20);
    const bytes = buildGguf({ metadata: everyType, tensors: [{ name: 'big', type: 0, ne: [1024, big.byteLength / 4096], data: big }] });
    let read = 0;
    const inner = memoryByteSource(bytes);
    const counting: ByteSource = { name: 'counting', size: inner.size, read: (o, n) => ((read += n), inner.read(o, n)) };
    const g = await openGguf(counting);
    expect(g.tensors.get('big')!.shape).toEqual([big.byteLength / 4096, 1024]);
    expect(read).toBeLessThan(bytes.byteLength / 4);
  });

  it('named errors: bad magic, v1, big-endian, future version, truncated file, absurd counts', async () => {
    await expect(openGguf(memoryByteSource(buildGguf({ magic: 'GGML' })))).rejects.toThrow(GgufFormatError);
    await expect(openGguf(memoryByteSource(buildGguf({ version: 1 })))).rejects.toThrow(/version 1.*obsolete/);
    await expect(openGguf(memoryByteSource(buildGguf({ version: 1 })))).rejects.toBeInstanceOf(UnsupportedGgufVersionError);
    await expect(openGguf(memoryByteSource(buildGguf({ version: 3 << 24 })))).rejects.toThrow(/big-endian/);
    await expect(openGguf(memoryByteSource(buildGguf({ version: 4 })))).rejects.toBeInstanceOf(UnsupportedGgufVersionError);
    const full = buildGguf({ metadata: everyType, tensors: [{ name: 't', type: 0, ne: [64], data: new Uint8Array(256) }] });
    await expect(openGguf(memoryByteSource(full.subarray(0, 100)))).rejects.toBeInstanceOf(TruncatedFileError);
    await expect(openGguf(memoryByteSource(full.subarray(0, full.byteLength - 10)))).rejects.toThrow(/tensor "t".*cut short/);
    const absurd = buildGguf({ metadata: [{ key: 'x', type: GgufValueType.ARRAY, elemType: GgufValueType.STRING, value: [] }] });
    // Patch the array length (the u64 after magic, version, counts, key "x" and the two type ids) to 2^40.
    const at = 4 + 4 + 8 + 8 + (8 + 1) + 4 + 4;
    new DataView(absurd.buffer).setBigUint64(at, 2n ** 40n, true);
    await expect(openGguf(memoryByteSource(absurd))).rejects.toBeInstanceOf(GgufFormatError);
  });

  it('a tensor of an unsupported type fails with UnsupportedGgufTypeError naming the type, the whole type mix and the fix', async () => {
    const hf = await hfModel('thudm-chatglm2-tiny');
    const bytes = modelToGguf(hf.config, hf.weights, { arch: 'chatglm', type: 'F32' });
    const g = await openGguf(memoryByteSource(bytes));
    // Rewrite blk.0.ffn_down.weight as Q8_1 (type 9, 36-byte blocks of 32: an activation-only type) with a fresh writer.
    const tensors = [...g.tensors.values()].map((t) => ({
      name: t.name, type: t.type, ne: t.ne, data: bytes.slice(t.byteOffset, t.byteOffset + t.byteLength),
    }));
    const down = tensors.find((t) => t.name === 'blk.0.ffn_down.weight')!;
    down.type = 9;
    down.data = new Uint8Array(((down.ne[0]! * down.ne[1]!) / 32) * 36);
    const metadata = [...g.metadata.entries()].map(([key, value]) => ({ key, type: g.metadataTypes.get(key)!, value, elemType: GgufValueType.INT32 }));
    const rebuilt = buildGguf({ metadata, tensors });
    const err = await loadModelFolder(ggufFiles(rebuilt)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnsupportedGgufTypeError);
    expect((err as Error).name).toBe('UnsupportedGgufTypeError');
    const message = (err as Error).message;
    expect(message).toContain('Q8_1');
    expect(message).toContain('blk.0.ffn_down.weight');
    expect(message).toContain(`F32 x${tensors.length - 1}, Q8_1 x1`); // the file's whole tensor-type mix
    expect(message).toMatch(/F16\/BF16\/F32 GGUF with llama-quantize/);
    expect(message).toMatch(/not use --allow-requantize/);
    // K-quants load (issue #14): a Q6_K output.weight, as llama-quantize writes it without --pure, is a QX tensor.
    const k = await openGguf(memoryByteSource(buildGguf({ tensors: [{ name: 'output.weight', type: 14, ne: [256, 2], data: new Uint8Array(420) }] })));
    const q6 = await readGgufTensor(k.tensors.get('output.weight')!);
    expect(q6.dtype).toBe('qx');
  });

  it('a non-GLM architecture is refused by name', async () => {
    const bytes = buildGguf({
      metadata: [{ key: 'general.architecture', type: GgufValueType.STRING, value: 'llama' }],
      tensors: [{ name: 'token_embd.weight', type: 0, ne: [4, 4], data: new Uint8Array(64) }],
    });
    await expect(loadModelFolder(ggufFiles(bytes))).rejects.toThrow(UnsupportedModelError);
    await expect(loadModelFolder(ggufFiles(bytes))).rejects.toThrow(/"llama"/);
  });
});

describe('GGUF tokenizer metadata -> tokenizer.json', () => {
  it('rebuilds the GLM-4 byte-level BPE tokenizer: same ids as the original tokenizer.json', async () => {
    const dir = join(FIXTURES_DIR, 'tokenizer-glm4-mini');
    const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const tc = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { cases: { text: string; ids_no_special: number[] }[]; vocab_size: number };
    const tokens: string[] = new Array(exp.vocab_size);
    const types = new Array<number>(exp.vocab_size).fill(1);
    for (const [t, id] of Object.entries(tj.model.vocab as Record<string, number>)) tokens[id] = t;
    for (const a of tj.added_tokens as { id: number; content: string; special: boolean }[]) {
      tokens[a.id] = a.content;
      types[a.id] = a.special ? 3 : 4;
    }
    const merges = (tj.model.merges as [string, string][]).map((m) => m.join(' '));
    const bytes = buildGguf({
      metadata: [
        { key: 'general.architecture', type: GgufValueType.STRING, value: 'glm4' },
        { key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: 'gpt2' },
        { key: 'tokenizer.ggml.pre', type: GgufValueType.STRING, value: 'glm4' },
        { key: 'tokenizer.ggml.tokens', type: GgufValueType.ARRAY, elemType: GgufValueType.STRING, value: tokens },
        { key: 'tokenizer.ggml.token_type', type: GgufValueType.ARRAY, elemType: GgufValueType.INT32, value: types },
        { key: 'tokenizer.ggml.merges', type: GgufValueType.ARRAY, elemType: GgufValueType.STRING, value: merges },
        { key: 'tokenizer.ggml.eos_token_id', type: GgufValueType.UINT32, value: 3000 },
        { key: 'tokenizer.chat_template', type: GgufValueType.STRING, value: tc.chat_template },
      ],
    });
    const g = await openGguf(memoryByteSource(bytes));
    const json = ggufTokenizerJson(g)!;
    expect(json).not.toBeNull();
    const files = ggufFiles(bytes);
    expect(await files.exists('tokenizer.json')).toBe(true);
    const config = JSON.parse(await files.readText('tokenizer_config.json'));
    expect(config.chat_template).toBe(tc.chat_template);
    expect(config.eos_token).toBe('<|endoftext|>');
    const tok = new Tokenizer(JSON.parse(await files.readText('tokenizer.json')), config);
    for (const c of exp.cases) expect(tok.encode(c.text, { add_special_tokens: false }).ids, c.text).toEqual(c.ids_no_special);
  });
});

describe('CLI with --model file.gguf', () => {
  it('generate and logits run a .gguf file; convert turns it into a package that generates the same ids', async () => {
    const name = 'hf-glm4-tiny';
    const hf = await hfModel(name);
    const file = join(tmp, 'glm4-q8.gguf');
    writeFileSync(file, modelToGguf(hf.config, hf.weights, { arch: 'glm4', type: 'Q8_0', splitQkv: true }));
    const e = fixtureExpected(name);
    const ids = e.prompt_ids.join(',');
    const n = String(e.greedy_ids.length);
    const gen = await runCli(['generate', '--model', file, '--ids', ids, '--max-new-tokens', n, '--json', '--ignore-eos']);
    expect(gen.code, gen.stderr).toBe(0);
    const fromGguf = JSON.parse(gen.stdout).ids as number[];
    expect(fromGguf).toHaveLength(e.greedy_ids.length);
    const logits = await runCli(['logits', '--model', file, '--ids', ids]);
    expect(logits.code, logits.stderr).toBe(0);
    // Q8_0 is close to float: the first position stays within a loose bound of the reference.
    expectAllClose(JSON.parse(logits.stdout).logits[0], e.prompt_logits[0]!, { atol: 0.05, label: 'q8_0 gguf logits' });

    const pkg = join(tmp, 'from-gguf');
    const conv = await runCli(['convert', '--model', file, '--out', pkg, '--quant', 'none']);
    expect(conv.code, conv.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8'));
    expect(manifest.source.kind).toBe('gguf');
    expect(manifest.config.model_type).toBe('glm4');
    expect(manifest.tensors['layers.0.qkv.weight'].dtype).toBe('q8');
    const gen2 = await runCli(['generate', '--model', pkg, '--ids', ids, '--max-new-tokens', n, '--json', '--ignore-eos']);
    expect(gen2.code, gen2.stderr).toBe(0);
    expect(JSON.parse(gen2.stdout).ids).toEqual(fromGguf);
  });

  it('a missing .gguf file is a MissingFileError naming it', async () => {
    const { code, stderr } = await runCli(['logits', '--model', join(tmp, 'nope.gguf'), '--ids', '1,2']);
    expect(code).toBe(1);
    expect(stderr).toContain('MissingFileError');
    expect(stderr).toContain('nope.gguf');
  });
});
