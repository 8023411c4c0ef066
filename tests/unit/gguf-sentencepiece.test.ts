// ChatGLM2/3 GGUF files carry their SentencePiece vocabulary in the metadata (tokenizer.ggml.model "llama").
// Reference: the tokenizer.model it came from (tests/helpers/sentencepiece-model.ts, whose ids were checked
// against Google's sentencepiece), written into a GGUF the way llama.cpp's converter does it
// (convert_hf_to_gguf.py, ChatGLMModel.set_vocab_chatglm3): every id of the padded vocabulary, ids 0-2 renamed
// <unk>/<bos>/<eos>, the pieces' scores and types, then [MASK] [gMASK] [sMASK] sop eop and the role tokens as
// CONTROL, then [PAD<id>] as UNUSED.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isGlmError } from '../../src/errors';
import { memoryByteSource } from '../../src/formats/byte-source';
import { GgufValueType, ggufModelFiles, ggufSentencePieceModel, ggufTokenizerJson, openGguf } from '../../src/formats/gguf';
import { nodeModelFiles } from '../../src/formats/node-files';
import { loadModelFolder } from '../../src/model/load';
import { loadModelTokenizer } from '../../src/runtime/engine';
import { renderChat } from '../../src/tokenizer/chat';
import { parseSentencePieceModel, serializeSentencePieceModel } from '../../src/tokenizer/sentencepiece';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { runCli } from '../helpers/cli';
import { fixtureDir } from '../helpers/fixtures';
import { buildGguf, modelToGguf, type GgufKv } from '../helpers/gguf-writer';
import { glm2LikeModel } from '../helpers/sentencepiece-model';

const tmp = mkdtempSync(join(tmpdir(), 'glm-gguf-sp-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TYPE_IDS = { normal: 1, unknown: 2, control: 3, user_defined: 4, unused: 5, byte: 6 } as const;
const CHATGLM3_SPECIALS = ['[MASK]', '[gMASK]', '[sMASK]', 'sop', 'eop', '<|system|>', '<|user|>', '<|assistant|>', '<|observation|>'];

/** The tokenizer metadata llama.cpp's converter writes for a ChatGLM3 tokenizer.model, padded to `padded` ids. */
function chatglm3VocabMetadata(model: Uint8Array, padded: number): GgufKv[] {
  const pieces = parseSentencePieceModel(model).pieces;
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  pieces.forEach((p, id) => {
    tokens.push(id === 0 ? '<unk>' : id === 1 ? '<bos>' : id === 2 ? '<eos>' : p.piece);
    scores.push(p.score);
    types.push(TYPE_IDS[p.type]);
  });
  for (const s of CHATGLM3_SPECIALS) {
    tokens.push(s);
    scores.push(0);
    types.push(TYPE_IDS.control);
  }
  while (tokens.length < padded) {
    tokens.push(`[PAD${tokens.length}]`);
    scores.push(0);
    types.push(TYPE_IDS.unused);
  }
  const A = GgufValueType.ARRAY;
  return [
    { key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: 'llama' },
    { key: 'tokenizer.ggml.pre', type: GgufValueType.STRING, value: 'chatglm-spm' },
    { key: 'tokenizer.ggml.tokens', type: A, elemType: GgufValueType.STRING, value: tokens },
    { key: 'tokenizer.ggml.scores', type: A, elemType: GgufValueType.FLOAT32, value: scores },
    { key: 'tokenizer.ggml.token_type', type: A, elemType: GgufValueType.INT32, value: types },
    { key: 'tokenizer.ggml.eos_token_id', type: GgufValueType.UINT32, value: 2 },
    { key: 'tokenizer.ggml.padding_token_id', type: GgufValueType.UINT32, value: 0 },
  ];
}

const vocabOnlyGguf = (metadata: GgufKv[]) =>
  buildGguf({ metadata: [{ key: 'general.architecture', type: GgufValueType.STRING, value: 'chatglm' }, ...metadata] });
const filesOf = (bytes: Uint8Array) => ggufModelFiles(async () => memoryByteSource(bytes, 'chatglm3.gguf'), 'chatglm3.gguf');

const TEXTS = ['hello world', 'hello\nworld', '你好👋', '  hello   x', '', 'héllo', 'hello world!', ' world hello ', 'llll', '<|user|>hello', '\n'];

describe('ChatGLM2/3 GGUF SentencePiece vocabulary (tokenizer.ggml.model "llama")', () => {
  it('serializeSentencePieceModel is the inverse of parseSentencePieceModel', () => {
    const m = parseSentencePieceModel(glm2LikeModel());
    expect(parseSentencePieceModel(serializeSentencePieceModel(m))).toEqual(m);
  });

  it('the GGUF folder has a tokenizer.model whose tokenizer gives exactly the ids of the original tokenizer.model', async () => {
    const original = await loadTokenizer({ sentencepieceModel: glm2LikeModel() });
    const files = filesOf(vocabOnlyGguf(chatglm3VocabMetadata(glm2LikeModel(), 320)));
    expect(await files.exists('tokenizer.model')).toBe(true);
    expect(await files.exists('tokenizer.json')).toBe(false);
    const tok = await loadModelTokenizer(files);
    expect(tok.kind).toBe('sentencepiece');
    expect(tok.vocabSize).toBe(original.vocabSize);
    for (const name of CHATGLM3_SPECIALS) expect(tok.specialIds[name], name).toBe(original.specialIds[name]);
    for (const text of TEXTS) {
      expect(tok.encode(text), JSON.stringify(text)).toEqual(original.encode(text));
      expect(tok.encode(text, { addSpecialTokens: false }), JSON.stringify(text)).toEqual(original.encode(text, { addSpecialTokens: false }));
      const ids = original.encode(text);
      expect(tok.decode(ids), JSON.stringify(text)).toBe(original.decode(ids));
    }
    const chat = [
      { role: 'system' as const, content: 'be brief' },
      { role: 'user' as const, content: 'hello world' },
    ];
    expect(renderChat('chatglm3', chat, tok).ids).toEqual(renderChat('chatglm3', chat, original).ids);
  });

  it('add_space_prefix false turns the dummy prefix off', async () => {
    const meta = [...chatglm3VocabMetadata(glm2LikeModel(), 300), { key: 'tokenizer.ggml.add_space_prefix', type: GgufValueType.BOOL, value: false }];
    const model = parseSentencePieceModel(ggufSentencePieceModel(await openGguf(memoryByteSource(vocabOnlyGguf(meta), 'x.gguf')))!);
    expect(model.normalizer.addDummyPrefix).toBe(false);
    expect(model.modelType).toBe('bpe');
    expect(model.byteFallback).toBe(true);
    expect(model.pieces.length).toBe(282);
  });

  it('generate --chat runs on a ChatGLM3-layout GGUF with its own vocabulary, and convert carries the tokenizer.model', async () => {
    const m = await loadModelFolder(nodeModelFiles(fixtureDir('thudm-chatglm3-tiny')));
    const vocab = chatglm3VocabMetadata(glm2LikeModel(), m.config.vocabSize);
    const file = join(tmp, 'chatglm3-tiny.gguf');
    writeFileSync(file, modelToGguf(m.config, m.weights, { arch: 'chatglm', type: 'F32', extraMetadata: vocab.filter((kv) => kv.key !== 'tokenizer.ggml.eos_token_id' && kv.key !== 'tokenizer.ggml.padding_token_id') }));
    const original = await loadTokenizer({ sentencepieceModel: glm2LikeModel() });
    const tok = await runCli(['tokenize', '--model', file, '--text', 'hello world']);
    expect(tok.code, tok.stderr).toBe(0);
    expect(JSON.parse(tok.stdout).ids).toEqual(original.encode('hello world'));
    const chat = await runCli(['generate', '--model', file, '--chat', '--prompt', 'hello', '--max-new-tokens', '3', '--json']);
    expect(chat.code, chat.stderr).toBe(0);
    const promptIds = renderChat('chatglm3', [{ role: 'user', content: 'hello' }], original).ids;
    const out = JSON.parse(chat.stdout) as { ids: number[]; usage: { prompt_tokens: number } };
    expect(out.usage.prompt_tokens).toBe(promptIds.length);
    expect(out.ids.length).toBeGreaterThan(0);
    const pkg = join(tmp, 'chatglm3-pkg');
    const conv = await runCli(['convert', '--model', file, '--out', pkg, '--quant', 'q8']);
    expect(conv.code, conv.stderr).toBe(0);
    const again = await runCli(['tokenize', '--model', pkg, '--text', 'hello world']);
    expect(JSON.parse(again.stdout).ids).toEqual(original.encode('hello world'));
  });
});

describe('GGUF tokenizer metadata: bad values are named errors', () => {
  const A = GgufValueType.ARRAY;
  const gguf = async (extra: GgufKv[]) => openGguf(memoryByteSource(vocabOnlyGguf(extra), 'bad.gguf'));
  const expectNamed = (fn: () => unknown, name: string, message: RegExp) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(isGlmError(err, name), `expected ${name}, got ${String(err)}`).toBe(true);
    expect((err as Error).message).toMatch(message);
  };

  it('merges that are not "left right" strings', async () => {
    const base: GgufKv[] = [
      { key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: 'gpt2' },
      { key: 'tokenizer.ggml.tokens', type: A, elemType: GgufValueType.STRING, value: ['a', 'b', 'ab'] },
    ];
    const numbers = await gguf([...base, { key: 'tokenizer.ggml.merges', type: A, elemType: GgufValueType.INT32, value: [1, 2] }]);
    expectNamed(() => ggufTokenizerJson(numbers), 'GgufFormatError', /merges" must be an array of strings/);
    const noSpace = await gguf([...base, { key: 'tokenizer.ggml.merges', type: A, elemType: GgufValueType.STRING, value: ['a b', 'ab'] }]);
    expectNamed(() => ggufTokenizerJson(noSpace), 'GgufFormatError', /entry 1 is "ab"/);
    const scalar = await gguf([...base, { key: 'tokenizer.ggml.merges', type: GgufValueType.STRING, value: 'a b' }]);
    expectNamed(() => ggufTokenizerJson(scalar), 'GgufFormatError', /array of strings/);
  });

  it('tokens that are not strings, types out of range or of the wrong length, scores of the wrong length', async () => {
    const sp = (kv: GgufKv[]) => [{ key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: 'llama' } as GgufKv, ...kv];
    const tokens = (value: unknown[], elemType: GgufValueType = GgufValueType.STRING): GgufKv => ({ key: 'tokenizer.ggml.tokens', type: A, elemType, value });
    const numbersTokens = await gguf(sp([tokens([1, 2, 3], GgufValueType.INT32)]));
    expectNamed(() => ggufSentencePieceModel(numbersTokens), 'GgufFormatError', /tokens" must be an array of strings/);
    const badType = await gguf(sp([tokens(['<unk>', 'a']), { key: 'tokenizer.ggml.token_type', type: A, elemType: GgufValueType.INT32, value: [2, 9] }]));
    expectNamed(() => ggufSentencePieceModel(badType), 'GgufFormatError', /token 1 has type 9/);
    const shortTypes = await gguf(sp([tokens(['<unk>', 'a']), { key: 'tokenizer.ggml.token_type', type: A, elemType: GgufValueType.INT32, value: [2] }]));
    expectNamed(() => ggufSentencePieceModel(shortTypes), 'GgufFormatError', /1 entries for 2 tokens/);
    const shortScores = await gguf(sp([tokens(['<unk>', 'a']), { key: 'tokenizer.ggml.scores', type: A, elemType: GgufValueType.FLOAT32, value: [0] }]));
    expectNamed(() => ggufSentencePieceModel(shortScores), 'GgufFormatError', /2 float32 values/);
  });
});
