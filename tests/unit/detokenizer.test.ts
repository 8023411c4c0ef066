import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../helpers/random';
import { StreamingDetokenizer } from '../../src/tokenizer/stream';
import { loadTokenizer, type GlmTokenizer } from '../../src/tokenizer/tokenizer';
import type { DecodeOptions } from '../../src/tokenizer/types';

const FIXTURE = fileURLToPath(new URL('../fixtures/tokenizer-glm4-mini/', import.meta.url));
const read = (name: string): string => readFileSync(FIXTURE + name, 'utf8');
const cases = (JSON.parse(read('expected.json')) as { cases: Array<{ text: string }> }).cases;

let tok: GlmTokenizer;
beforeAll(async () => {
  tok = await loadTokenizer({ tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json') });
});

function stream(ids: readonly number[], tokenizer: Pick<GlmTokenizer, 'decode'>, options?: DecodeOptions): string[] {
  const d = new StreamingDetokenizer(tokenizer, options);
  const chunks = ids.map((id) => d.push(id));
  chunks.push(d.flush());
  return chunks;
}

describe('StreamingDetokenizer over byte-level BPE (fixture tokenizer-glm4-mini)', () => {
  it('Chinese and emoji split over several tokens: no chunk holds U+FFFD, the chunks concatenate to decode(all)', () => {
    const text = '你好，世界 👋🏽 glm-4 测试';
    const ids = tok.encode(text, { addSpecialTokens: false });
    // Byte-level: far more ids than characters, so characters really are split across tokens.
    expect(ids.length).toBeGreaterThan([...text].length);
    const chunks = stream(ids, tok);
    for (const [i, c] of chunks.entries()) expect(c.includes('\ufffd'), `chunk ${i} ${JSON.stringify(c)}`).toBe(false);
    expect(chunks.join('')).toBe(tok.decode(ids));
    expect(chunks.join('')).toBe(text);
    // Some pushes had to wait for the rest of a character.
    expect(chunks.slice(0, -1).filter((c) => c === '').length).toBeGreaterThan(0);
    // ...and text does come out before the end.
    expect(chunks[ids.length - 1]!.length).toBeLessThan(text.length);
  });

  it('specials: kept or skipped as the decode options say', () => {
    const ids = tok.encode('<|user|> 你好 👋', { addSpecialTokens: true });
    expect(stream(ids, tok).join('')).toBe(tok.decode(ids));
    expect(stream(ids, tok, { skipSpecialTokens: true }).join('')).toBe(tok.decode(ids, { skipSpecialTokens: true }));
  });

  it('every fixture case streams to its decode', () => {
    cases.forEach((c, i) => {
      const ids = tok.encode(c.text);
      const chunks = stream(ids, tok);
      expect(chunks.join(''), `case ${i}`).toBe(tok.decode(ids));
      expect(chunks.some((ch) => ch.includes('\ufffd')), `case ${i}`).toBe(false);
    });
  });

  it('random mixed-script strings stream exactly', () => {
    const rand = seededRandom(7);
    const alphabet = ['a', 'Z', ' ', '  ', '\n', '7', '.', '你', '好', '世', '界', '测', 'é', 'ß', '👋', '🏽', '🎉', '😀', 'Ω', 'क', 'ا', '\t'];
    for (let k = 0; k < 200; k++) {
      let text = '';
      const len = 1 + Math.floor(rand() * 20);
      for (let j = 0; j < len; j++) text += alphabet[Math.floor(rand() * alphabet.length)];
      const ids = tok.encode(text, { addSpecialTokens: false });
      const chunks = stream(ids, tok);
      expect(chunks.join(''), JSON.stringify(text)).toBe(text);
      expect(chunks.some((ch) => ch.includes('\ufffd')), JSON.stringify(text)).toBe(false);
    }
  });

  it('flush emits a character left incomplete as U+FFFD, exactly what decode gives', () => {
    const ids = tok.encode('你', { addSpecialTokens: false });
    expect(ids.length).toBe(3);
    const d = new StreamingDetokenizer(tok);
    expect(d.push(ids[0]!)).toBe('');
    expect(d.push(ids[1]!)).toBe('');
    expect(d.flush()).toBe(tok.decode(ids.slice(0, 2)));
    expect(d.flush()).toBe('');
    expect(d.allIds).toEqual(ids.slice(0, 2));
  });
});

describe('StreamingDetokenizer with a decoder that drops the sentence-initial space (SentencePiece dummy prefix)', () => {
  // Pieces as SentencePiece spells them; decode replaces ▁ with a space and drops the first piece's leading one.
  const pieces = ['▁Hello', ',', '▁world', '▁', '!', '▁▁two'];
  const spLike = {
    decode(ids: ArrayLike<number>): string {
      const text = Array.from(ids, (id) => pieces[id]!).join('');
      return text.replace(/^\u2581/, '').replaceAll('\u2581', ' ');
    },
  };

  it('keeps the spaces between chunks that decoding each chunk alone would lose', () => {
    const ids = [0, 1, 2, 3, 4, 5];
    const chunks = stream(ids, spLike);
    expect(chunks.join('')).toBe(spLike.decode(ids));
    expect(chunks.join('')).toBe('Hello, world !  two');
    expect(chunks[2]).toBe(' world');
  });
});

describe('StreamingDetokenizer and padded vocabularies', () => {
  it('an id past the tokenizer vocabulary (an embedding padding row) adds no text instead of throwing', () => {
    const ids = tok.encode('hello 你好', { addSpecialTokens: false });
    const d = new StreamingDetokenizer(tok);
    let text = '';
    for (const id of [...ids.slice(0, 2), tok.vocabSize + 7, ...ids.slice(2)]) text += d.push(id);
    text += d.flush();
    expect(text).toBe('hello 你好');
    expect(d.allIds).toEqual(ids);
  });
});
