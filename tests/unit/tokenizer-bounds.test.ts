// Bounded work in tokenizers (issue #18): hostile tokenizer files fail at load with a named error instead of
// stalling, hanging or throwing a bare TypeError. Each case is a regression for a fuzzing finding.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isGlmError } from '../../src/errors';
import { checkTokenizerFitsModel } from '../../src/tokenizer/types';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { checkSafeRegex } from '../../src/tokenizer/validate';
import { buildModel, BYTE, CONTROL, UNKNOWN, USER_DEFINED, type PieceSpec } from '../helpers/sentencepiece-model';

const FIXTURE = fileURLToPath(new URL('../fixtures/tokenizer-glm4-mini/', import.meta.url));
const baseJson = () => JSON.parse(readFileSync(FIXTURE + 'tokenizer.json', 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- mutated freely by each case

async function expectRejectsNamed(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGlmError(err, name), `expected a ${name}, got ${String(err)}`).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}
function expectThrowsNamed(fn: () => unknown, name: string, message?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isGlmError(err, name), `expected a ${name}, got ${String(err)}`).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}
const load = (json: unknown) => loadTokenizer({ tokenizerJson: json as object });

describe('tokenizer.json ids, merges and sizes', () => {
  it('a vocabulary id of 1e9 is a TokenizerLimitError at once', async () => {
    const j = baseJson();
    j.model.vocab.zzz = 1e9;
    await expectRejectsNamed(load(j), 'TokenizerLimitError', /token id 1000000000 is above/);
    const k = baseJson();
    k.added_tokens[0].id = 1e9;
    await expectRejectsNamed(load(k), 'TokenizerLimitError', /added_tokens\[0\].*1000000000/);
  });

  it('negative, fractional, string and duplicated ids are TokenizerErrors', async () => {
    for (const bad of [-1, 1.5, '7', null]) {
      const j = baseJson();
      j.model.vocab.zzz = bad;
      await expectRejectsNamed(load(j), 'TokenizerError', /is not a non-negative integer/);
      const k = baseJson();
      k.added_tokens[1].id = bad;
      await expectRejectsNamed(load(k), 'TokenizerError', /is not a non-negative integer/);
    }
    const dup = baseJson();
    dup.model.vocab.zzz = 5;
    await expectRejectsNamed(load(dup), 'TokenizerError', /gives id 5 to both/);
    const dupAdded = baseJson();
    dupAdded.added_tokens[1].id = dupAdded.added_tokens[0].id;
    await expectRejectsNamed(load(dupAdded), 'TokenizerError', /lists id 3000 twice/);
    const clash = baseJson();
    clash.added_tokens[0].id = 5;
    await expectRejectsNamed(load(clash), 'TokenizerError', /which the vocabulary gives to/);
  });

  it('merges that are not strings or string pairs are TokenizerErrors, not TypeErrors', async () => {
    for (const bad of [42, ['a'], ['a', 1], null, 'nospace']) {
      const j = baseJson();
      j.model.merges[3] = bad;
      await expectRejectsNamed(load(j), 'TokenizerError', /model\.merges\[3\]/);
    }
  });

  it('a tokenizer with ids past the model vocabulary is a TokenizerModelMismatchError', async () => {
    const tok = await load(baseJson());
    expectThrowsNamed(() => checkTokenizerFitsModel(tok, 3000), 'TokenizerModelMismatchError', /ids up to 3012.*3000 rows/);
    expect(() => checkTokenizerFitsModel(tok, 3013)).not.toThrow();
  });
});

describe('pre-tokenizer and normalizer regexes cannot backtrack without end', () => {
  const withSplit = (regex: string) => {
    const j = baseJson();
    j.pre_tokenizer.pretokenizers[0].pattern = { Regex: regex };
    return j;
  };

  it('(a+)+$ and its relatives are refused at load, before any text is encoded', async () => {
    for (const evil of ['(a+)+$', '(a*)*b', '(a|a)*$', '(?:a|aa)+$', '(\\w+\\s?)*$', '((ab)*)+', '(a?){30}a{30}', '(x+x+)+y', '(.*a){12}']) {
      await expectRejectsNamed(load(withSplit(evil)), 'TokenizerLimitError', /backtrack/);
    }
    await expectRejectsNamed(load(withSplit('(a)\\1')), 'TokenizerLimitError', /backreference/);
    const j = baseJson();
    j.normalizer = { type: 'Replace', pattern: { Regex: '(a+)+' }, content: '' };
    await expectRejectsNamed(load(j), 'TokenizerLimitError', /normalizer/);
  });

  it('the split patterns of real tokenizers pass (GLM-4, GPT-2, Llama 3, Qwen2, GPT-4o)', () => {
    const real = [
      baseJson().pre_tokenizer.pretokenizers[0].pattern.Regex as string,
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      '[\\]\\[(]+|[a-z]{2,5}|\\u{1F600}|\\x{41}',
    ];
    for (const r of real) expect(() => checkSafeRegex(r, 'test'), r).not.toThrow();
  });

  it('a pattern longer than 4096 characters is refused', () => {
    expectThrowsNamed(() => checkSafeRegex('a'.repeat(5000), 'pre_tokenizer'), 'TokenizerLimitError', /5000 characters/);
  });
});

describe('SentencePiece bounds', () => {
  const base: PieceSpec[] = [
    { piece: '<unk>', type: UNKNOWN },
    { piece: '<s>', type: CONTROL },
    { piece: '</s>', type: CONTROL },
    ...Array.from({ length: 256 }, (_, b) => ({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, type: BYTE })),
    { piece: '▁', score: -1 },
    { piece: 'a', score: -2 },
    { piece: '▁a', score: -1.5 },
  ];

  it('a 200,000-character piece is a TokenizerLimitError at load', async () => {
    for (const modelType of [1, 2] as const) {
      const model = buildModel({ pieces: [...base, { piece: 'a'.repeat(200_000), score: -3 }], modelType, byteFallback: true, normalizer: { name: 'identity', removeExtraWhitespaces: false } });
      await expectRejectsNamed(loadTokenizer({ sentencepieceModel: model }), 'TokenizerLimitError', /200000 characters long/);
    }
  });

  it('many long user-defined pieces sharing a first character: matched whole, longest first, one lookup per distinct length', async () => {
    const long: PieceSpec[] = Array.from({ length: 2000 }, (_, i) => ({ piece: `a${'b'.repeat(200)}${i}`, type: USER_DEFINED }));
    const model = buildModel({ pieces: [...base, ...long], modelType: 1, byteFallback: true, normalizer: { name: 'identity', removeExtraWhitespaces: false } });
    const tok = await loadTokenizer({ sentencepieceModel: model, sentencepieceFlavor: 'chatglm2' });
    const text = `${'a'.repeat(2_000)}a${'b'.repeat(200)}17`;
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.at(-1)).toBe(base.length + 17);
    expect(tok.decode(ids)).toBe(text);
  }, 20_000);
});
