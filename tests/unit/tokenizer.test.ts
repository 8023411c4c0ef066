import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isGlmError } from '../../src/errors';
import {
  loadTokenizer,
  loadTokenizerFromFolder,
  TOKENIZER_FILE_NAMES,
  type GlmTokenizer,
} from '../../src/tokenizer/tokenizer';
import { renderChat } from '../../src/tokenizer/chat';
import {
  chatglm1Postprocess,
  chatglm1Preprocess,
  parseSentencePieceModel,
  SentencePieceProcessor,
} from '../../src/tokenizer/sentencepiece';

const FIXTURE = fileURLToPath(new URL('../fixtures/tokenizer-glm4-mini/', import.meta.url));
const read = (name: string): string => readFileSync(FIXTURE + name, 'utf8');

interface FixtureCase {
  text: string;
  ids: number[];
  ids_no_special: number[];
  tokens_no_special: string[];
  decoded: string;
}
const expected = JSON.parse(read('expected.json')) as {
  vocab_size: number;
  special_ids: Record<string, number>;
  cases: FixtureCase[];
};

async function fixtureTokenizer(): Promise<GlmTokenizer> {
  return loadTokenizer({ tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json') });
}

async function expectRejectsNamed(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGlmError(err, name), `expected a ${name}, got ${String(err)}`).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('GLM-4 tokenizer.json (fixture tokenizer-glm4-mini, reference: HF tokenizers)', () => {
  it('loads with the vocabulary size, special ids and chat template of the fixture', async () => {
    const tok = await fixtureTokenizer();
    expect(tok.kind).toBe('tokenizer.json');
    expect(tok.vocabSize).toBe(expected.vocab_size);
    expect(tok.specialIds).toEqual(expected.special_ids);
    expect(tok.chatTemplate).toContain('[gMASK]<sop>');
    expect(tok.tokenToId('<|user|>')).toBe(expected.special_ids['<|user|>']);
    expect(tok.idToToken(expected.special_ids['[gMASK]']!)).toBe('[gMASK]');
    expect(tok.tokenToId('no-such-token-xyz')).toBeUndefined();
  });

  it('accepts parsed JSON objects as well as text', async () => {
    const tok = await loadTokenizer({
      tokenizerJson: JSON.parse(read('tokenizer.json')) as object,
      tokenizerConfig: JSON.parse(read('tokenizer_config.json')) as object,
    });
    expect(tok.encode('Hello world')).toEqual(expected.cases[0]!.ids);
  });

  it('encodes every fixture case exactly, with the [gMASK]<sop> prefix', async () => {
    const tok = await fixtureTokenizer();
    expected.cases.forEach((c, i) => {
      expect(tok.encode(c.text), `case ${i} ${JSON.stringify(c.text)}: ids`).toEqual(c.ids);
    });
  });

  it('encodes every fixture case exactly without specials, token strings included', async () => {
    const tok = await fixtureTokenizer();
    expected.cases.forEach((c, i) => {
      const ids = tok.encode(c.text, { addSpecialTokens: false });
      expect(ids, `case ${i} ${JSON.stringify(c.text)}: ids_no_special`).toEqual(c.ids_no_special);
      expect(
        ids.map((id) => tok.idToToken(id)),
        `case ${i} ${JSON.stringify(c.text)}: tokens_no_special`,
      ).toEqual(c.tokens_no_special);
    });
  });

  it('decodes every fixture case exactly and round-trips the text', async () => {
    const tok = await fixtureTokenizer();
    expected.cases.forEach((c, i) => {
      expect(tok.decode(c.ids, { skipSpecialTokens: true }), `case ${i}: decoded`).toBe(c.decoded);
      // Without skipping, the literal "<|user|>" of one case comes back too: the text round-trips.
      expect(tok.decode(c.ids_no_special), `case ${i}: round trip`).toBe(c.text);
      expect(tok.decode(c.ids), `case ${i}: with specials`).toBe(`[gMASK]<sop>${c.text}`);
    });
  });

  it('decodes typed arrays and rejects ids outside the vocabulary', async () => {
    const tok = await fixtureTokenizer();
    expect(tok.decode(Int32Array.from(expected.cases[0]!.ids_no_special))).toBe('Hello world');
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([1.5])).toThrow(/outside the vocabulary/);
  });

  it('loads from a model folder through a read callback', async () => {
    const seen: string[] = [];
    const tok = await loadTokenizerFromFolder(async (name) => {
      seen.push(name);
      try {
        return readFileSync(FIXTURE + name);
      } catch {
        return undefined;
      }
    });
    expect(seen.every((n) => (TOKENIZER_FILE_NAMES as readonly string[]).includes(n))).toBe(true);
    expect(tok.encode('Hello world')).toEqual(expected.cases[0]!.ids);
  });

  it('takes chat_template.jinja over the config template, and the "default" entry of a template list', async () => {
    const a = await loadTokenizer({ tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json'), chatTemplate: 'X' });
    expect(a.chatTemplate).toBe('X');
    const b = await loadTokenizer({
      tokenizerJson: read('tokenizer.json'),
      tokenizerConfig: { chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] },
    });
    expect(b.chatTemplate).toBe('D');
  });
});

describe('tokenizer loading errors', () => {
  it('invalid tokenizer.json is a TokenizerError', async () => {
    await expectRejectsNamed(loadTokenizer({ tokenizerJson: '{not json' }), 'TokenizerError', /not valid JSON/);
    await expectRejectsNamed(loadTokenizer({ tokenizerJson: '[1,2]' }), 'TokenizerError', /JSON object/);
    await expectRejectsNamed(loadTokenizer({ tokenizerJson: '{"version":"1.0"}' }), 'TokenizerError', /model/);
  });

  it('no tokenizer file at all is an UnsupportedTokenizerError that names tokenizer.json', async () => {
    await expectRejectsNamed(loadTokenizer({}), 'UnsupportedTokenizerError', /tokenizer\.json is needed/);
    await expectRejectsNamed(
      loadTokenizerFromFolder(async () => undefined),
      'UnsupportedTokenizerError',
      /tokenizer\.json is needed/,
    );
  });

  it("a tiktoken tokenizer.model without GLM-4's tokenizer_config.json is an UnsupportedTokenizerError that says what to add", async () => {
    const tiktoken = new TextEncoder().encode('IQ== 0\nIg== 1\nIw== 2\n');
    await expectRejectsNamed(loadTokenizer({ sentencepieceModel: tiktoken }), 'UnsupportedTokenizerError', /ChatGLM4Tokenizer/);
  });

  it('a truncated or non-SentencePiece model file is a TokenizerError', async () => {
    const model = glm2LikeModel();
    await expectRejectsNamed(loadTokenizer({ sentencepieceModel: model.subarray(0, 40) }), 'TokenizerError', /truncated/);
    await expectRejectsNamed(loadTokenizer({ sentencepieceModel: new Uint8Array([0x1a, 0x00]) }), 'TokenizerError', /no pieces/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// SentencePiece: models built with a small protobuf writer (tests/helpers/sentencepiece-model.ts). Expected ids were cross-checked against
// Google's sentencepiece 0.1.97 (Python) on the very same model bytes, plus 3,200 random strings and id
// sequences over these and two more configurations (all matched).
// ---------------------------------------------------------------------------------------------------------

import { glm2LikeModel, ice_textLikeModel } from '../helpers/sentencepiece-model';

describe('SentencePiece model reader and processor (reference: sentencepiece 0.1.97)', () => {
  it('parses pieces, scores, types, model type and normalizer spec', () => {
    const m = parseSentencePieceModel(glm2LikeModel());
    expect(m.pieces.length).toBe(282);
    expect(m.pieces[0]).toEqual({ piece: '<unk>', score: 0, type: 'unknown' });
    expect(m.pieces[2]!.type).toBe('control');
    expect(m.pieces[3]).toEqual({ piece: '<0x00>', score: 0, type: 'byte' });
    expect(m.pieces[260]).toEqual({ piece: '▁w', score: -1, type: 'normal' });
    expect(m.modelType).toBe('bpe');
    expect(m.byteFallback).toBe(true);
    expect(m.normalizer).toMatchObject({ name: 'identity', addDummyPrefix: true, removeExtraWhitespaces: false, escapeWhitespaces: true });
    const u = parseSentencePieceModel(ice_textLikeModel());
    expect(u.modelType).toBe('unigram');
    expect(u.pieces[4]).toEqual({ piece: '[gMASK]', score: 0, type: 'user_defined' });
    expect(u.normalizer.precompiledCharsmap.length).toBeGreaterThan(4);
  });

  it('BPE: merges by piece score, byte fallback for unknown characters, spaces kept', () => {
    const sp = new SentencePieceProcessor(parseSentencePieceModel(glm2LikeModel()));
    const cases: Array<[string, number[]]> = [
      ['hello world', [265, 268]],
      ['hello\nworld', [265, 13, 276, 262, 266]],
      ['你好👋', [271, 269, 243, 162, 148, 142]],
      ['  hello   x', [270, 265, 270, 271, 123]],
      ['', []],
      ['héllo', [271, 272, 198, 172, 263]],
      ['hello world!', [265, 268, 281]],
      [' world hello ', [271, 268, 265, 271]],
      ['llll', [271, 259, 259]],
    ];
    for (const [text, ids] of cases) {
      expect(sp.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(sp.decode(ids), JSON.stringify(text)).toBe(text);
    }
  });

  it('BPE decode: control pieces vanish, the first piece loses the dummy-prefix space, broken UTF-8 gives one U+FFFD per byte', () => {
    const sp = new SentencePieceProcessor(parseSentencePieceModel(glm2LikeModel()));
    expect(sp.decode([1, 265])).toBe('hello');
    expect(sp.decode([271, 268])).toBe(' world');
    expect(sp.decode([13, 265])).toBe('\n hello');
    expect(sp.decode([0, 265])).toBe(' \u2047  hello');
    expect(sp.decode([24, 238, 188])).toBe('\x15\ufffd\ufffd');
  });

  it('Unigram: Viterbi, precompiled charsmap, extra whitespace removed, user-defined pieces whole, unknown runs merged', () => {
    const sp = new SentencePieceProcessor(parseSentencePieceModel(ice_textLikeModel()));
    const cases: Array<[string, number[], string]> = [
      ['abc', [15, 20], 'abc'],
      ['ab ab  abc', [21, 21, 15, 20], 'ab ab abc'],
      ['Ａbc ﬁ', [15, 25, 17, 18, 15, 22], 'Abc fi'],
      ['你好x', [15, 28, 29], '你好x'],
      ['a\u3000b', [30, 15, 17], 'a b'],
      ['  leading', [15, 0, 16, 0, 24, 0], ' \u2047 a \u2047 i \u2047 '],
      ['[gMASK]ab<n>c', [15, 4, 19, 11, 18], '[gMASK]ab<n>c'],
      ['zz', [15, 0], ' \u2047 '],
      ['ab\tｂ', [21, 15, 17], 'ab b'],
      ['a  ', [30], 'a'],
      ['f i fi', [15, 23, 15, 24, 15, 22], 'f i fi'],
      ['x<|blank_2|>x', [15, 29, 13, 29], 'x<|blank_2|>x'],
    ];
    for (const [text, ids, decoded] of cases) {
      expect(sp.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(sp.decode(ids), JSON.stringify(text)).toBe(decoded);
    }
    // With remove_extra_whitespaces, every leading space piece is dropped until text comes out.
    expect(sp.decode([15, 15, 2, 4, 15, 25])).toBe('[gMASK] A');
  });
});

describe('ChatGLM tokenizers over SentencePiece', () => {
  it('ChatGLM3 layout: [gMASK] sop prefix, specials and role tokens numbered after the SentencePiece vocabulary', async () => {
    const tok = await loadTokenizer({ sentencepieceModel: glm2LikeModel(), tokenizerConfig: { eos_token: '</s>' } });
    expect(tok.kind).toBe('sentencepiece');
    expect(tok.vocabSize).toBe(282 + 9);
    expect(tok.specialIds).toEqual({
      '<unk>': 0,
      '<s>': 1,
      '</s>': 2,
      '[MASK]': 282,
      '[gMASK]': 283,
      '[sMASK]': 284,
      sop: 285,
      eop: 286,
      '<|system|>': 287,
      '<|user|>': 288,
      '<|assistant|>': 289,
      '<|observation|>': 290,
    });
    expect(tok.encode('hello world')).toEqual([283, 285, 265, 268]);
    expect(tok.encode('hello world', { addSpecialTokens: false })).toEqual([265, 268]);
    expect(tok.encode('\n', { addSpecialTokens: false })).toEqual([271, 13]);
    // Special spellings in text stay text, as THUDM's tokenizer does by default.
    expect(tok.encode('<|user|>', { addSpecialTokens: false })).not.toContain(288);
    // "\n" and "hello" encoded apart (as ChatGLM3's build_single_message does) each carry a dummy-prefix "▁":
    // the one of "hello" decodes to a space, exactly as sentencepiece itself decodes these ids.
    expect(tok.decode([283, 285, 288, 271, 13, 265, 289])).toBe('[gMASK]sop<|user|>\n hello<|assistant|>');
    expect(tok.decode([283, 285, 288, 271, 13, 265, 289, 2], { skipSpecialTokens: true })).toBe('\n hello');
    expect(tok.tokenToId('sop')).toBe(285);
    expect(tok.tokenToId('▁hello')).toBe(265);
    expect(tok.idToToken(290)).toBe('<|observation|>');
    expect(tok.decode([265, 268, 13, 269, 243, 162, 148, 142])).toBe('hello world\n你好👋');
  });

  it('ChatGLM3 prompts over the SentencePiece tokenizer: [gMASK] sop <|user|> ▁\\n ▁hello <|assistant|>; no Jinja template is exposed', async () => {
    const tok = await loadTokenizer({
      sentencepieceModel: glm2LikeModel(),
      tokenizerConfig: { chat_template: '[gMASK]sop{% for m in messages %}<|{{ m.role }}|>\n {{ m.content }}{% endfor %}' },
    });
    expect(tok.chatTemplate).toBeUndefined();
    expect(renderChat('chatglm3', [{ role: 'user', content: 'hello' }], tok).ids).toEqual([283, 285, 288, 271, 13, 265, 289]);
    expect(renderChat('chatglm2', [{ role: 'user', content: 'hello' }], tok).ids.slice(0, 2)).toEqual([283, 285]);
    // A GLM-4 template over this tokenizer would turn the specials into plain pieces: refused, not garbled.
    let err: unknown;
    try {
      renderChat('glm4', [{ role: 'user', content: 'hello' }], tok);
    } catch (e) {
      err = e;
    }
    expect(isGlmError(err, 'ChatTemplateError'), String(err)).toBe(true);
  });

  it('ChatGLM2 flavor has no role tokens', async () => {
    const tok = await loadTokenizer({ sentencepieceModel: glm2LikeModel(), sentencepieceFlavor: 'chatglm2' });
    expect(tok.vocabSize).toBe(282 + 5);
    expect(tok.specialIds['<|user|>']).toBeUndefined();
    expect(tok.encode('hello')).toEqual([283, 285, 265]);
  });

  it('ChatGLM-6B layout: whitespace spelled as pieces, image-token offset, [gMASK] <sop> at the end', async () => {
    const tok = await loadTokenizer({ sentencepieceModel: ice_textLikeModel(), tokenizerConfig: { num_image_tokens: 0 } });
    expect(tok.vocabSize).toBe(31);
    expect(tok.specialIds['[gMASK]']).toBe(4);
    expect(tok.specialIds['<sop>']).toBe(7);
    expect(tok.specialIds['<eop>']).toBe(8);
    // "ab\nab" -> "ab<n>ab"; "abc  ab" -> "abc<|blank_2|>ab"; "你好\tx" -> "你好<|tab|>x".
    expect(tok.encode('ab\nab')).toEqual([21, 11, 19, 4, 7]);
    expect(tok.encode('abc  ab', { addSpecialTokens: false })).toEqual([15, 20, 13, 19]);
    expect(tok.encode('你好\tx', { addSpecialTokens: false })).toEqual([15, 28, 12, 29]);
    expect(tok.decode([21, 11, 19, 4, 7])).toBe('ab\nab[gMASK]<sop>');
    expect(tok.decode([21, 11, 19, 4, 7], { skipSpecialTokens: true })).toBe('ab\nab');
    expect(tok.decode([15, 20, 13, 19])).toBe('abc  ab');

    const shifted = await loadTokenizer({ sentencepieceModel: ice_textLikeModel(), tokenizerConfig: { num_image_tokens: 100 } });
    expect(shifted.vocabSize).toBe(131);
    expect(shifted.encode('ab\nab')).toEqual([121, 111, 119, 104, 107]);
    expect(shifted.decode([121, 111, 119])).toBe('ab\nab');
    expect(shifted.tokenToId('<eop>')).toBe(108);
  });

  it('ChatGLM-6B whitespace preprocessing matches its replace loop (runs over 80 split greedily)', () => {
    expect(chatglm1Preprocess('a\nb\tc  d   e f')).toBe('a<n>b<|tab|>c<|blank_2|>d<|blank_3|>e f');
    expect(chatglm1Preprocess(' '.repeat(81))).toBe('<|blank_80|> ');
    expect(chatglm1Preprocess(' '.repeat(85))).toBe('<|blank_80|><|blank_5|>');
    const text = 'x\n\n  y\t' + ' '.repeat(83) + 'z';
    expect(chatglm1Postprocess(chatglm1Preprocess(text))).toBe(text);
  });
});
