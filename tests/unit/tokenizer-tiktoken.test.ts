// GLM-4's original tokenizer (tiktoken rank file + THUDM's tokenizer_config.json). Reference: the
// tokenizer-glm4-mini fixture's ids from HF tokenizers / transformers, with its vocabulary written out in
// tiktoken format by tests/helpers/tiktoken-fixture.ts; the chat template is the original GLM-4-9B-chat one
// (tests/fixtures/glm4-9b-chat-original).
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isGlmError } from '../../src/errors';
import { renderChat, stopIds, type ChatMessage } from '../../src/tokenizer/chat';
import { bytePairEncode, parseTiktokenRanks } from '../../src/tokenizer/tiktoken';
import { loadTokenizer, loadTokenizerFromFolder, type GlmTokenizer } from '../../src/tokenizer/tokenizer';
import { createEngine } from '../../src/worker/client';
import type { ChatCompletion } from '../../src/runtime/api-types';
import { runCli } from '../helpers/cli';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';
import { fixtureDir } from '../helpers/fixtures';
import { miniTiktokenFixture } from '../helpers/tiktoken-fixture';

const FIXTURE = fileURLToPath(new URL('../fixtures/tokenizer-glm4-mini/', import.meta.url));
const read = (name: string): string => readFileSync(FIXTURE + name, 'utf8');
const expected = JSON.parse(read('expected.json')) as {
  vocab_size: number;
  special_ids: Record<string, number>;
  cases: Array<{ text: string; ids: number[]; ids_no_special: number[]; tokens_no_special: string[]; decoded: string }>;
  chats: Array<{ messages: ChatMessage[]; text: string; ids: number[] }>;
};
const fixture = miniTiktokenFixture();
const ORIGINAL_CONFIG = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/glm4-9b-chat-original/tokenizer_config.json', import.meta.url)), 'utf8'),
) as Record<string, unknown>;

const tmp = mkdtempSync(join(tmpdir(), 'glm-tiktoken-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const tiktokenTokenizer = (): Promise<GlmTokenizer> => loadTokenizer({ sentencepieceModel: fixture.model, tokenizerConfig: fixture.config });
/** The fixture's tokenizer.json with the original GLM-4-9B-chat config (same template), as the second reference path. */
const jsonTokenizer = (): Promise<GlmTokenizer> => loadTokenizer({ tokenizerJson: read('tokenizer.json'), tokenizerConfig: fixture.config });
const bin = (s: string): string => String.fromCharCode(...new TextEncoder().encode(s));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}
async function expectRejectsNamed(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  const err = await rejection(p);
  expect(isGlmError(err, name), `expected a ${name}, got ${String(err)}`).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('GLM-4 tiktoken tokenizer.model (reference: the fixture ids of HF tokenizers)', () => {
  it('is detected from tokenizer.model + a ChatGLM4Tokenizer tokenizer_config.json, with the special ids of added_tokens_decoder', async () => {
    const tok = await tiktokenTokenizer();
    expect(tok.kind).toBe('tiktoken');
    expect(tok.vocabSize).toBe(expected.vocab_size);
    expect(tok.specialIds).toEqual(expected.special_ids);
    expect(tok.chatTemplate).toBe(ORIGINAL_CONFIG.chat_template);
    expect(tok.tokenToId('<|user|>')).toBe(expected.special_ids['<|user|>']);
    expect(tok.idToToken(expected.special_ids['[gMASK]']!)).toBe('[gMASK]');
  });

  it('encodes every fixture case to the reference ids, with and without [gMASK]<sop>; token spellings match tokenizer.json', async () => {
    const tok = await tiktokenTokenizer();
    expected.cases.forEach((c, i) => {
      expect(tok.encode(c.text), `case ${i} ${JSON.stringify(c.text)}: ids`).toEqual(c.ids);
      const ids = tok.encode(c.text, { addSpecialTokens: false });
      expect(ids, `case ${i}: ids_no_special`).toEqual(c.ids_no_special);
      expect(ids.map((id) => tok.idToToken(id)), `case ${i}: tokens`).toEqual(c.tokens_no_special);
      expect(c.tokens_no_special.map((t) => tok.tokenToId(t)), `case ${i}: tokenToId`).toEqual(ids);
    });
  });

  it('decodes every fixture case: the text round-trips, skipSpecialTokens gives the reference decoding', async () => {
    const tok = await tiktokenTokenizer();
    expected.cases.forEach((c, i) => {
      expect(tok.decode(c.ids, { skipSpecialTokens: true }), `case ${i}: decoded`).toBe(c.decoded);
      expect(tok.decode(c.ids_no_special), `case ${i}: round trip`).toBe(c.text);
    });
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside the vocabulary/);
    // A multi-byte character cut in two decodes with U+FFFD, as THUDM's errors="replace".
    const ids = tok.encode('中', { addSpecialTokens: false });
    expect(tok.decode(ids.slice(0, 1))).toBe('\ufffd');
  });

  it('matches special tokens in text leftmost first, the longer spelling winning at one position', async () => {
    const tok = await tiktokenTokenizer();
    const S = expected.special_ids;
    expect(tok.encode('a<|user|><|assistant|>b', { addSpecialTokens: false })).toEqual([
      ...tok.encode('a', { addSpecialTokens: false }),
      S['<|user|>'],
      S['<|assistant|>'],
      ...tok.encode('b', { addSpecialTokens: false }),
    ]);
    const overlapping = await loadTokenizer({
      sentencepieceModel: fixture.model,
      tokenizerConfig: { ...fixture.config, added_tokens_decoder: { '3000': { content: '<|a' }, '3001': { content: '<|ab|>' } } },
    });
    expect(overlapping.encode('x<|ab|>', { addSpecialTokens: false }).slice(-1)).toEqual([3001]);
  });

  it('numbers THUDM\'s 14 special tokens after the ranks when the config has no added_tokens_decoder', async () => {
    const { added_tokens_decoder: _, ...config } = fixture.config;
    const tok = await loadTokenizer({ sentencepieceModel: fixture.model, tokenizerConfig: config });
    expect(tok.specialIds['<|endoftext|>']).toBe(3000);
    expect(tok.specialIds['<|end_of_video|>']).toBe(3013);
    expect(tok.vocabSize).toBe(3014);
  });

  it('agrees with the tokenizer.json path on strings the fixture lacks (Chinese, code, odd whitespace, apostrophes)', async () => {
    const a = await tiktokenTokenizer();
    const b = await jsonTokenizer();
    const texts = [
      'function f(a, b) {\n\treturn a ** b; // 注释\n}\n',
      "I'LL see you'Re 'S 'd",
      '  \n\n  \r\n\t x  y   ',
      '12345678901 3.14e-10 ٣٤٥',
      '你好，世界！今天天气怎么样？',
      'emoji 👨‍👩‍👧 mix 中文 and English',
      'a\u00a0b\u2003c\u3000d',
    ];
    for (const t of texts) expect(a.encode(t), JSON.stringify(t)).toEqual(b.encode(t));
  });

  it('loads from a model folder that has tokenizer.model and tokenizer_config.json but no tokenizer.json', async () => {
    const files: Record<string, Uint8Array | string> = { 'tokenizer.model': fixture.model, 'tokenizer_config.json': JSON.stringify(fixture.config) };
    const tok = await loadTokenizerFromFolder(async (name) => files[name]);
    expect(tok.kind).toBe('tiktoken');
    expect(tok.encode('Hello world')).toEqual(expected.cases[0]!.ids);
  });

  it('a package made by convert carries the tiktoken tokenizer.model, and the CLI tokenizes with it', async () => {
    const model = join(tmp, 'glm4-tiktoken');
    cpSync(fixtureDir('hf-glm4-tiny'), model, { recursive: true });
    writeFileSync(join(model, 'tokenizer.model'), fixture.model);
    writeFileSync(join(model, 'tokenizer_config.json'), JSON.stringify(fixture.config));
    const pkg = join(tmp, 'glm4-tiktoken-q4');
    const conv = await runCli(['convert', '--model', model, '--out', pkg, '--quant', 'q4']);
    expect(conv.code, conv.stderr).toBe(0);
    expect(readFileSync(join(pkg, 'tokenizer.model'))).toEqual(Buffer.from(fixture.model));
    const c = expected.cases[1]!;
    const r = await runCli(['tokenize', '--model', pkg, '--text', c.text]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ids: c.ids });
  });
});

describe('the engine over a GLM-4 folder in the original layout (tokenizer.model, no tokenizer.json)', () => {
  it('loads, speaks the glm4 chat format and answers with the same ids as over tokenizer.json; a mismatched tokenizer is refused', async () => {
    const withJson = writeTinyChatModel(join(tmp, 'tiny-json'), { seed: 3 });
    const original = writeTinyChatModel(join(tmp, 'tiny-tiktoken'), { seed: 3 });
    unlinkSync(join(original, 'tokenizer.json'));
    writeFileSync(join(original, 'tokenizer.model'), fixture.model);
    writeFileSync(join(original, 'tokenizer_config.json'), JSON.stringify(fixture.config));
    const ask = async (dir: string) => {
      const engine = await createEngine({ inThread: true });
      const info = await engine.load(dir, { backend: 'cpu' });
      const r = (await engine.chat.completions.create({ messages: [{ role: 'user', content: '你好, GLM' }], max_tokens: 6, temperature: 0 })) as ChatCompletion;
      await engine.terminate();
      return { info, r };
    };
    const a = await ask(original);
    const b = await ask(withJson);
    expect(a.info.chatFormat).toBe('glm4');
    expect(a.r.usage).toEqual(b.r.usage);
    expect(a.r.choices[0].message.content).toBe(b.r.choices[0].message.content);

    // Special ids past the model's 3013 embedding rows: refused at load, and the engine loads the right files after.
    const mismatched = writeTinyChatModel(join(tmp, 'tiny-mismatch'), { seed: 3 });
    const tj = JSON.parse(readFileSync(join(mismatched, 'tokenizer.json'), 'utf8'));
    tj.added_tokens.push({ id: 5000, content: '<|extra|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    writeFileSync(join(mismatched, 'tokenizer.json'), JSON.stringify(tj));
    const engine = await createEngine({ inThread: true });
    await expect(engine.load(mismatched, { backend: 'cpu' })).rejects.toMatchObject({ name: 'TokenizerModelMismatchError' });
    await engine.load(original, { backend: 'cpu' });
    const ok = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })) as ChatCompletion;
    expect(ok.usage.completion_tokens).toBeGreaterThan(0);
    await engine.terminate();
  }, 60_000);
});

describe('GLM-4-9B-chat\'s original chat template over the tiktoken tokenizer', () => {
  it('renders every fixture chat to the reference text and ids (transformers.apply_chat_template)', async () => {
    const tok = await tiktokenTokenizer();
    expected.chats.forEach((c, i) => {
      const out = renderChat('glm4', c.messages, tok);
      expect(out.text, `chat ${i}: text`).toBe(c.text);
      expect(out.ids, `chat ${i}: ids`).toEqual(c.ids);
    });
  });

  it('renders tools, metadata, empty and odd messages exactly as Python Jinja2 does with transformers\' settings (chats.json)', async () => {
    const reference = JSON.parse(
      readFileSync(fileURLToPath(new URL('../fixtures/glm4-9b-chat-original/chats.json', import.meta.url)), 'utf8'),
    ) as { chats: Array<{ messages: ChatMessage[]; text: string }> };
    const tok = await tiktokenTokenizer();
    const json = await jsonTokenizer();
    expect(reference.chats.length).toBe(7);
    reference.chats.forEach((c, i) => {
      const out = renderChat('glm4', c.messages, tok);
      expect(out.text, `chat ${i}: text`).toBe(c.text);
      expect(out.ids, `chat ${i}: ids`).toEqual(json.encode(c.text, { addSpecialTokens: false }));
    });
  });

  it('metadata, tools and an empty message render as the template says, with the same ids as the tokenizer.json path', async () => {
    const tok = await tiktokenTokenizer();
    const messages = [
      {
        role: 'system',
        content: '',
        tools: [{ type: 'function', function: { name: 'get_weather', description: '查询天气', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      },
      { role: 'user', content: '北京天气怎么样？' },
      { role: 'assistant', metadata: 'get_weather', content: '{"city": "北京"}' },
      { role: 'observation', content: '{"temperature": 22}' },
    ] as unknown as ChatMessage[];
    const out = renderChat('glm4', messages, tok);
    const tool = JSON.stringify(
      { name: 'get_weather', description: '查询天气', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      null,
      4,
    );
    expect(out.text).toBe(
      '[gMASK]<sop><|system|>\n你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，你的任务是针对用户的问题和要求提供适当的答复和支持。' +
        // transformers renders with trim_blocks: the first "\n" after `{% if tool['type'] == 'function' %}` goes.
        `\n\n# 可用工具\n## get_weather\n\n${tool}\n在调用上述函数时，请使用 Json 格式表示调用的参数。` +
        '<|user|>\n北京天气怎么样？<|assistant|>get_weather\n{"city": "北京"}<|observation|>\n{"temperature": 22}<|assistant|>',
    );
    expect(out.ids).toEqual(renderChat('glm4', messages, await jsonTokenizer()).ids);
    expect(stopIds('glm4', tok)).toEqual([expected.special_ids['<|endoftext|>'], expected.special_ids['<|user|>'], expected.special_ids['<|observation|>']]);
  });
});

describe('tiktoken rank files: bad input is a named error', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const bytesFile = (extra: string) => {
    const lines = Array.from({ length: 256 }, (_, b) => `${Buffer.from([b]).toString('base64')} ${b}`);
    return enc(`${lines.join('\n')}\n${extra}`);
  };

  it('a rank file without a GLM-4 tokenizer_config.json is refused with what to add', async () => {
    await expectRejectsNamed(loadTokenizer({ sentencepieceModel: fixture.model }), 'UnsupportedTokenizerError', /ChatGLM4Tokenizer/);
    await expectRejectsNamed(
      loadTokenizer({ sentencepieceModel: fixture.model, tokenizerConfig: { tokenizer_class: 'GPT2Tokenizer' } }),
      'UnsupportedTokenizerError',
      /tokenizer_config\.json/,
    );
  });

  it('duplicated, negative, fractional, non-numeric or huge ranks, bad base64 and missing bytes', async () => {
    const cfg = fixture.config;
    const load = (model: Uint8Array) => loadTokenizer({ sentencepieceModel: model, tokenizerConfig: cfg });
    await expectRejectsNamed(load(bytesFile('YWI= 5\n')), 'TokenizerError', /rank 5 appears twice/);
    await expectRejectsNamed(load(bytesFile('YWI= -3\n')), 'TokenizerError', /expected "<base64 token> <rank>"/);
    await expectRejectsNamed(load(bytesFile('YWI= 3.5\n')), 'TokenizerError', /expected/);
    await expectRejectsNamed(load(bytesFile('YWI= abc\n')), 'TokenizerError', /expected/);
    await expectRejectsNamed(load(bytesFile('YWI= 1000000000\n')), 'TokenizerLimitError', /above the largest token id/);
    await expectRejectsNamed(load(bytesFile('AA== 300\n')), 'TokenizerError', /appears twice/);
    await expectRejectsNamed(load(bytesFile('Y*I= 300\n')), 'TokenizerError', /not base64/);
    await expectRejectsNamed(load(enc('YQ== 0\nYg== 1\n')), 'TokenizerError', /single-byte token 0x00/);
  });

  it('special ids that are strings, huge, or collide with a rank are named errors', async () => {
    const load = (decoder: unknown) =>
      loadTokenizer({ sentencepieceModel: fixture.model, tokenizerConfig: { ...fixture.config, added_tokens_decoder: decoder } });
    await expectRejectsNamed(load({ abc: { content: '<x>' } }), 'TokenizerError', /not a token id/);
    await expectRejectsNamed(load({ '1.5': { content: '<x>' } }), 'TokenizerError', /not a token id/);
    await expectRejectsNamed(load({ '-1': { content: '<x>' } }), 'TokenizerError', /not a token id/);
    await expectRejectsNamed(load({ '1000000000': { content: '<x>' } }), 'TokenizerLimitError', /largest token id/);
    await expectRejectsNamed(load({ '5': { content: '<x>' } }), 'TokenizerError', /another token already has/);
    await expectRejectsNamed(load({ '3000': { content: '<x>' }, '3001': { content: '<x>' } }), 'TokenizerError', /listed twice/);
    await expectRejectsNamed(load({ '3000': { nothing: 1 } }), 'TokenizerError', /no "content"/);
  });
});

describe('tiktoken byte-pair merge', () => {
  it('merges the lowest rank first, the leftmost among equal ranks, like tiktoken', () => {
    // "abc": bc (5) merges before ab (10); "abc" itself has no rank, so a + bc stay apart.
    const ranks = new Map<string, number>([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['ab', 10],
      ['bc', 5],
      ['abcab', 30],
      ['aa', 7],
    ]);
    expect(bytePairEncode('abc', ranks)).toEqual([0, 5]);
    expect(bytePairEncode('aaa', ranks)).toEqual([7, 0]);
    expect(bytePairEncode('abcab', ranks)).toEqual([30]);
    expect(bytePairEncode('cab', ranks)).toEqual([2, 10]);
  });

  it('a 300,000-letter word encodes without quadratic blow-up', async () => {
    const tok = await tiktokenTokenizer();
    const text = 'ab'.repeat(150_000);
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(tok.decode(ids)).toBe(text);
  }, 20_000);

  it('parseTiktokenRanks reads ranks as ids', () => {
    const ranks = parseTiktokenRanks(fixture.model);
    expect(ranks.size).toBe(3000);
    expect(ranks.get(bin('H'))).toBe(39);
  });
});
