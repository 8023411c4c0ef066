// Writes a byte-level BPE tokenizer.json (the tokenizer-glm4-mini fixture) out as GLM-4's original tokenizer
// files: a tiktoken rank file (`tokenizer.model`, "<base64 bytes> <rank>" a line) and a tokenizer_config.json
// in the layout of THUDM/glm-4-9b-chat with the fixture's special tokens. Independent of src/tokenizer.
//
// tiktoken's id of a token is its rank, and BPE by merge order equals tiktoken's merge by lowest rank when each
// merge's result has the id 256 + its merge index, the 256 single bytes coming first. That is checked here, so
// the conversion fails loudly instead of producing a file that could not reproduce the reference ids.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** GPT-2's byte -> printable character table (bytes_to_unicode). */
function byteToUnicode(): Map<string, number> {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) out.set(String.fromCharCode(printable(b) ? b : 256 + extra++), b);
  return out;
}

export interface TiktokenFixture {
  /** tokenizer.model bytes. */
  model: Uint8Array;
  /** tokenizer_config.json as THUDM's GLM-4 repo has it, with added_tokens_decoder renumbered to the fixture's ids. */
  config: Record<string, unknown>;
  /** token bytes (binary string) -> rank, for the Python cross-check. */
  ranks: Map<string, number>;
}

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** `originalConfig`: GLM-4-9B-chat's tokenizer_config.json (default: the copy in tests/fixtures/glm4-9b-chat-original). */
export function tiktokenFromTokenizerJson(
  tokenizerJson: {
    model: { vocab: Record<string, number>; merges: Array<[string, string] | string> };
    added_tokens: Array<{ id: number; content: string; special: boolean }>;
  },
  originalConfig?: Record<string, unknown>,
): TiktokenFixture {
  const unicodeToByte = byteToUnicode();
  const toBytes = (token: string): number[] =>
    [...token].map((ch) => {
      const b = unicodeToByte.get(ch);
      if (b === undefined) throw new Error(`token ${JSON.stringify(token)} is not in the byte-level alphabet`);
      return b;
    });
  const { vocab, merges } = tokenizerJson.model;
  const ranks = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) ranks.set(String.fromCharCode(...toBytes(token)), id);
  for (let b = 0; b < 256; b++) {
    const rank = ranks.get(String.fromCharCode(b));
    if (rank === undefined || rank >= 256) throw new Error(`byte ${b} is not among the first 256 ids`);
  }
  merges.forEach((m, i) => {
    const [a, b] = typeof m === 'string' ? [m.slice(0, m.indexOf(' ')), m.slice(m.indexOf(' ') + 1)] : m;
    if (vocab[a + b] !== 256 + i) throw new Error(`merge ${i} (${a} ${b}) gives id ${vocab[a + b]}, not ${256 + i}: ranks would not follow merge order`);
  });
  const lines = [...ranks].sort((x, y) => x[1] - y[1]).map(([bin, rank]) => `${Buffer.from(bin, 'latin1').toString('base64')} ${rank}`);
  const model = new TextEncoder().encode(`${lines.join('\n')}\n`);

  const config = structuredClone(
    originalConfig ?? (JSON.parse(readFileSync(`${FIXTURES}glm4-9b-chat-original/tokenizer_config.json`, 'utf8')) as Record<string, unknown>),
  );
  const decoder: Record<string, unknown> = {};
  for (const t of tokenizerJson.added_tokens) {
    decoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: t.special };
  }
  config.added_tokens_decoder = decoder;
  config.additional_special_tokens = tokenizerJson.added_tokens.map((t) => t.content);
  return { model, config, ranks };
}

/** The tokenizer-glm4-mini fixture as GLM-4's original tokenizer files. */
export function miniTiktokenFixture(): TiktokenFixture {
  return tiktokenFromTokenizerJson(JSON.parse(readFileSync(`${FIXTURES}tokenizer-glm4-mini/tokenizer.json`, 'utf8')));
}
