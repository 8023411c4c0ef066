// GLM-4's tiktoken tokenizer against tiktoken itself: the npm `tiktoken` package is OpenAI's Rust tiktoken core
// (CoreBPE, fancy-regex) compiled to WebAssembly, so this is the same encoder THUDM's tokenization_chatglm.py
// calls, built the same way: tiktoken.Encoding(pat_str=GLM-4's pattern, mergeable_ranks=the rank file,
// special_tokens=the config's added tokens) and encode(text, allowed_special="all").
import { fileURLToPath } from 'node:url';
import { Tiktoken } from 'tiktoken';
import { describe, expect, it } from 'vitest';
import { GLM4_SPECIAL_TOKENS } from '../../src/tokenizer/tiktoken';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { miniTiktokenFixture } from '../helpers/tiktoken-fixture';
import { tokenizerCrossCheckStrings } from '../helpers/tokenizer-strings';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// THUDM's pat_str, typed here independently of src/tokenizer/tiktoken.ts.
const GLM4_PAT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

describe('GLM-4 tiktoken tokenizer = tiktoken (Rust core via WebAssembly) on the fixture vocabulary', () => {
  it('the same ids and the same decoded text for a few hundred strings: Chinese, code, whitespace and apostrophe edge cases, specials', async () => {
    const fixture = miniTiktokenFixture();
    const specials = Object.fromEntries(
      Object.entries(fixture.config.added_tokens_decoder as Record<string, { content: string }>).map(([id, t]) => [t.content, Number(id)]),
    );
    const reference = new Tiktoken(new TextDecoder().decode(fixture.model), specials, GLM4_PAT);
    const ours = await loadTokenizer({ sentencepieceModel: fixture.model, tokenizerConfig: fixture.config });
    const strings = tokenizerCrossCheckStrings(ROOT);
    expect(strings.length).toBeGreaterThan(400);
    try {
      let tokens = 0;
      for (const text of strings) {
        const want = Array.from(reference.encode(text, 'all'));
        const got = ours.encode(text, { addSpecialTokens: false });
        expect(got, `ids of ${JSON.stringify(text)}`).toEqual(want);
        expect(ours.decode(got), `decode of ${JSON.stringify(text)}`).toBe(new TextDecoder('utf-8', { ignoreBOM: true }).decode(reference.decode(Uint32Array.from(want))));
        tokens += want.length;
      }
      expect(tokens).toBeGreaterThan(10_000);
    } finally {
      reference.free();
    }
  }, 60_000);

  it("the split pattern's corners: long s under (?i), U+0085 as whitespace and U+FEFF not, digits in threes", async () => {
    // Single bytes, then tokens that tell the splits apart: "ſſ" (rank 257) before "'ſ" (258), so "'ſſ" is
    // [258, 256] only when (?i:'s) also matches "'ſ" as Rust's case folding does; likewise for the others.
    const extra = ['\u017f', '\u017f\u017f', "'\u017f", ' \u0085', '\u0085\u0085', 'a\ufeff', '\ufeffb', '1234', '123', '12'];
    const tokens = [...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...extra.map((t) => new TextEncoder().encode(t))];
    const file = tokens.map((t, rank) => `${Buffer.from(t).toString('base64')} ${rank}`).join('\n');
    const specials = Object.fromEntries(GLM4_SPECIAL_TOKENS.map((t, i) => [t, tokens.length + i]));
    const reference = new Tiktoken(file, specials, GLM4_PAT);
    const ours = await loadTokenizer({ sentencepieceModel: new TextEncoder().encode(file), tokenizerConfig: { tokenizer_class: 'ChatGLM4Tokenizer' } });
    try {
      for (const text of ["x'\u017f\u017f y", "'\u017f", ' \u0085\u0085 x', 'a\u0085\u0085', 'a\ufeffb c', '\ufeff\ufeff', '1234567', '12 123 1234', "it'S 'Ll", '<|user|>\u017f']) {
        expect(ours.encode(text, { addSpecialTokens: false }), JSON.stringify(text)).toEqual(Array.from(reference.encode(text, 'all')));
      }
    } finally {
      reference.free();
    }
  });
});
