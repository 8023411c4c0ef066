// GLM-4's original tokenizer: the `tokenizer.model` of THUDM/glm-4-9b-chat (and glm-4-9b, glm-4v-9b,
// glm-4-voice-9b) is a tiktoken rank file, one "<base64 bytes> <rank>" pair a line, read by THUDM's
// `tokenization_chatglm.py` (class ChatGLM4Tokenizer) into `tiktoken.Encoding(pat_str, mergeable_ranks)`.
// This module reproduces what that Python tokenizer returns:
//   - special tokens: the `added_tokens_decoder` of tokenizer_config.json (151329 <|endoftext|> ... in the
//     released repo), or, for revisions without it, THUDM's list numbered from the end of the ranks. As in
//     transformers' slow tokenizers, a special token's spelling in the text is cut out first (leftmost,
//     longest first) and becomes its id; only the text between them goes through BPE;
//   - each piece of the text: split by GLM-4's pattern, then tiktoken's byte-pair merge (repeatedly merge
//     the adjacent pair whose concatenated bytes have the lowest rank; the leftmost on ties). The id of a
//     token is its rank.
import { InvalidArgumentError } from '../errors';
import { TokenizerError, TokenizerLimitError } from './errors';
import { MAX_TOKEN_ID, checkTokenIds, type DecodeOptions, type EncodeOptions, type GlmTokenizer } from './types';

/** THUDM's GLM-4 split pattern (`pat_str` in tokenization_chatglm.py), as tiktoken's Rust regex reads it. */
export const GLM4_TIKTOKEN_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * The same pattern for JavaScript. Three differences of the Rust `regex` dialect are spelled out:
 *   - `\s` is Unicode White_Space there; JS's `\s` adds U+FEFF and lacks U+0085, so the class is explicit;
 *   - `(?i:...)` (no inline flags in JS before ES2025) becomes explicit cases; Unicode case folding makes
 *     `s` also match U+017F LATIN SMALL LETTER LONG S, so that is listed too;
 *   - `(?!\S)` becomes a lookahead over the explicit class.
 */
const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const GLM4_SPLIT_JS = new RegExp(
  [
    "'(?:[sS\\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])",
    '[^\\r\\n\\p{L}\\p{N}]?\\p{L}+',
    '\\p{N}{1,3}',
    ` ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*`,
    `[${WS}]*[\\r\\n]+`,
    `[${WS}]+(?![^${WS}])`,
    `[${WS}]+`,
  ].join('|'),
  'gu',
);

/** THUDM's GLM-4 special tokens, numbered from the number of ranks, for a tokenizer_config.json without added_tokens_decoder. */
export const GLM4_SPECIAL_TOKENS = [
  '<|endoftext|>',
  '[MASK]',
  '[gMASK]',
  '[sMASK]',
  '<sop>',
  '<eop>',
  '<|system|>',
  '<|user|>',
  '<|assistant|>',
  '<|observation|>',
  '<|begin_of_image|>',
  '<|end_of_image|>',
  '<|begin_of_video|>',
  '<|end_of_video|>',
] as const;

/** The tokenizer_config.json of THUDM's GLM-4 repos names this class (tokenizer_class, or auto_map.AutoTokenizer). */
export function isGlm4TiktokenConfig(config: Readonly<Record<string, unknown>>): boolean {
  if (config.tokenizer_class === 'ChatGLM4Tokenizer') return true;
  const auto = (config.auto_map as { AutoTokenizer?: unknown } | undefined)?.AutoTokenizer;
  const names = Array.isArray(auto) ? auto : [auto];
  return names.some((n) => typeof n === 'string' && n.endsWith('.ChatGLM4Tokenizer'));
}

/** True when the bytes look like a tiktoken rank file ("<base64> <rank>" lines). */
export function looksLikeTiktokenRanks(bytes: Uint8Array): boolean {
  const head = new TextDecoder().decode(bytes.subarray(0, 256));
  const firstLine = head.split('\n', 1)[0] ?? '';
  return /^[A-Za-z0-9+/]+=* \d+\r?$/.test(firstLine);
}

// Byte strings are Map keys as "binary strings": one UTF-16 unit (0-255) per byte. (TextDecoder('latin1')
// is windows-1252, which remaps 0x80-0x9f, hence by hand.)
function toBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

function base64ToBinary(b64: string, line: number): string {
  try {
    return atob(b64);
  } catch {
    throw new TokenizerError(`tokenizer.model line ${line}: "${b64.slice(0, 40)}" is not base64`);
  }
}

/** Parses a tiktoken rank file: binary token string -> rank. Ranks must be unique integers in [0, MAX_TOKEN_ID]. */
export function parseTiktokenRanks(bytes: Uint8Array): Map<string, number> {
  const text = new TextDecoder().decode(bytes);
  const ranks = new Map<string, number>();
  const seenRanks = new Set<number>();
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 2 || !/^\d+$/.test(parts[1]!)) {
      throw new TokenizerError(`tokenizer.model line ${lineNo}: expected "<base64 token> <rank>", got "${line.slice(0, 60)}"`);
    }
    const rank = Number(parts[1]);
    if (!Number.isSafeInteger(rank) || rank > MAX_TOKEN_ID) {
      throw new TokenizerLimitError(`tokenizer.model line ${lineNo}: rank ${parts[1]} is above the largest token id this engine accepts (${MAX_TOKEN_ID})`);
    }
    const token = base64ToBinary(parts[0]!, lineNo);
    if (ranks.has(token)) throw new TokenizerError(`tokenizer.model line ${lineNo}: token "${parts[0]}" appears twice`);
    if (seenRanks.has(rank)) throw new TokenizerError(`tokenizer.model line ${lineNo}: rank ${rank} appears twice`);
    ranks.set(token, rank);
    seenRanks.add(rank);
  }
  if (ranks.size === 0) throw new TokenizerError('tokenizer.model holds no ranks');
  // tiktoken encodes any text: every single byte must be a token of its own.
  for (let b = 0; b < 256; b++) {
    if (!ranks.has(String.fromCharCode(b))) {
      throw new TokenizerError(`tokenizer.model lacks the single-byte token 0x${b.toString(16).padStart(2, '0')}: not a byte-level BPE rank file`);
    }
  }
  return ranks;
}

/** Min-heap entry: merge the parts starting at `left` and `right` (which ends at `end`) into a token of rank `rank`. */
interface PairCandidate {
  rank: number;
  left: number;
  right: number;
  end: number;
}

function before(a: PairCandidate, b: PairCandidate): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.left < b.left);
}

class PairHeap {
  private readonly a: PairCandidate[] = [];
  get size(): number {
    return this.a.length;
  }
  push(c: PairCandidate): void {
    const a = this.a;
    a.push(c);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): PairCandidate {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * tiktoken's byte_pair_merge over one piece (a binary string): always merge the adjacent pair with the lowest
 * rank, the leftmost among equals. A heap keeps long pieces (a megabyte of letters) O(n log n).
 */
export function bytePairEncode(piece: string, ranks: ReadonlyMap<string, number>): number[] {
  const whole = ranks.get(piece);
  if (whole !== undefined) return [whole];
  const n = piece.length;
  // Parts are [start, end[start]); next/prev link the starts of the live parts.
  const end = Int32Array.from({ length: n }, (_, i) => i + 1);
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const heap = new PairHeap();
  const consider = (left: number): void => {
    if (left < 0) return;
    const right = next[left]!;
    if (right < 0) return;
    const rank = ranks.get(piece.slice(left, end[right]!));
    if (rank !== undefined) heap.push({ rank, left, right, end: end[right]! });
  };
  for (let i = 0; i < n - 1; i++) consider(i);
  while (heap.size > 0) {
    const c = heap.pop();
    // Stale: one of the two parts was merged into something else since this pair was queued.
    if (end[c.left] !== c.right || next[c.left] !== c.right || end[c.right] !== c.end) continue;
    end[c.left] = c.end;
    next[c.left] = next[c.right]!;
    if (next[c.right]! >= 0) prev[next[c.right]!] = c.left;
    end[c.right] = -1;
    consider(prev[c.left]!);
    consider(c.left);
  }
  const ids: number[] = [];
  for (let i = 0; i >= 0; i = next[i]!) ids.push(ranks.get(piece.slice(i, end[i]!))!);
  return ids;
}

/** GPT-2's byte -> printable character table, so that idToToken spells tokens as tokenizer.json does. */
const BYTE_TO_UNICODE: string[] = (() => {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep.includes(b) ? b : 256 + extra++);
  return out;
})();
const UNICODE_TO_BYTE = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

export interface TiktokenSpecial {
  content: string;
  id: number;
}

/** The special tokens of a GLM-4 tokenizer_config.json (added_tokens_decoder), or THUDM's list after the ranks. */
export function glm4SpecialTokens(config: Readonly<Record<string, unknown>>, rankCount: number): TiktokenSpecial[] {
  const decoder = config.added_tokens_decoder;
  if (decoder !== null && typeof decoder === 'object' && Object.keys(decoder).length > 0) {
    const out: TiktokenSpecial[] = [];
    for (const [key, value] of Object.entries(decoder as Record<string, unknown>)) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) {
        throw new TokenizerError(`tokenizer_config.json added_tokens_decoder key "${key.slice(0, 40)}" is not a token id`);
      }
      if (id > MAX_TOKEN_ID) throw new TokenizerLimitError(`tokenizer_config.json added token id ${id} is above the largest token id this engine accepts (${MAX_TOKEN_ID})`);
      const content = (value as { content?: unknown } | null)?.content;
      if (typeof content !== 'string' || content === '') {
        throw new TokenizerError(`tokenizer_config.json added_tokens_decoder["${key}"] has no "content" string`);
      }
      out.push({ content, id });
    }
    return out;
  }
  return GLM4_SPECIAL_TOKENS.map((content, i) => ({ content, id: rankCount + i }));
}

export class TiktokenTokenizer implements GlmTokenizer {
  readonly kind = 'tiktoken' as const;
  readonly vocabSize: number;
  readonly specialIds: Readonly<Record<string, number>>;
  readonly chatTemplate?: string;
  readonly config: Readonly<Record<string, unknown>>;
  private readonly ranks: Map<string, number>;
  /** rank -> binary token string. */
  private readonly tokens = new Map<number, string>();
  private readonly specialById = new Map<number, string>();
  /** Special spellings, longest first, so that the longest one starting at a position wins. */
  private readonly specialsByLength: string[];
  private readonly utf8 = new TextEncoder();
  // ignoreBOM: a U+FEFF the tokens spell is text (Python's bytes.decode keeps it); TextDecoder would drop a leading one.
  private readonly utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(ranks: Map<string, number>, specials: readonly TiktokenSpecial[], config: Readonly<Record<string, unknown>>, chatTemplate?: string) {
    this.ranks = ranks;
    let maxId = -1;
    for (const [token, rank] of ranks) {
      this.tokens.set(rank, token);
      if (rank > maxId) maxId = rank;
    }
    const byName: Record<string, number> = {};
    for (const { content, id } of specials) {
      if (this.tokens.has(id) || this.specialById.has(id)) throw new TokenizerError(`special token ${content} has id ${id}, which another token already has`);
      if (byName[content] !== undefined) throw new TokenizerError(`special token ${content} is listed twice`);
      byName[content] = id;
      this.specialById.set(id, content);
      if (id > maxId) maxId = id;
    }
    this.specialIds = Object.freeze(byName);
    this.specialsByLength = Object.keys(byName).sort((a, b) => b.length - a.length);
    this.vocabSize = maxId + 1;
    this.config = config;
    if (chatTemplate !== undefined) this.chatTemplate = chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('encode expects a string');
    const ids: number[] = [];
    // build_inputs_with_special_tokens: [gMASK] <sop> in front.
    if (options.addSpecialTokens ?? true) {
      for (const name of ['[gMASK]', '<sop>']) {
        const id = this.specialIds[name];
        if (id === undefined) throw new TokenizerError(`the GLM-4 tokenizer has no ${name} special token`);
        ids.push(id);
      }
    }
    let start = 0;
    for (;;) {
      const [at, special] = this.nextSpecial(text, start);
      this.encodeOrdinary(text.slice(start, at), ids);
      if (special === undefined) break;
      ids.push(this.specialIds[special]!);
      start = at + special.length;
    }
    return ids;
  }

  /** The leftmost special spelling at or after `from` (the longest one there): [index, spelling], or [text.length, undefined]. */
  private nextSpecial(text: string, from: number): [number, string | undefined] {
    let best = text.length;
    let found: string | undefined;
    for (const s of this.specialsByLength) {
      const i = text.indexOf(s, from);
      if (i >= 0 && i < best) {
        best = i;
        found = s;
      }
    }
    return [best, found];
  }

  private encodeOrdinary(text: string, out: number[]): void {
    if (text === '') return;
    GLM4_SPLIT_JS.lastIndex = 0;
    for (const m of text.matchAll(GLM4_SPLIT_JS)) {
      const piece = toBinary(this.utf8.encode(m[0]));
      for (const id of bytePairEncode(piece, this.ranks)) out.push(id);
    }
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    let out = '';
    let pending: number[] = [];
    // Bytes collect until a special token or the end, then decode as UTF-8 with replacement (THUDM's convert_tokens_to_string).
    const flush = (): void => {
      if (pending.length === 0) return;
      out += this.utf8Decoder.decode(Uint8Array.from(pending));
      pending = [];
    };
    for (const id of checkTokenIds(ids, this.vocabSize)) {
      const special = this.specialById.get(id);
      if (special !== undefined) {
        flush();
        if (!skip) out += special;
        continue;
      }
      const token = this.tokens.get(id);
      if (token === undefined) throw new InvalidArgumentError(`token id ${id} is not in the GLM-4 vocabulary (a gap between the ranks and the special tokens)`);
      for (let i = 0; i < token.length; i++) pending.push(token.charCodeAt(i));
    }
    flush();
    return out;
  }

  /** Specials by spelling; ordinary tokens by their byte-level spelling (GPT-2 alphabet, as in tokenizer.json). */
  tokenToId(token: string): number | undefined {
    const special = this.specialIds[token];
    if (special !== undefined) return special;
    let binary = '';
    for (const ch of token) {
      const b = UNICODE_TO_BYTE.get(ch);
      if (b === undefined) return undefined;
      binary += String.fromCharCode(b);
    }
    return this.ranks.get(binary);
  }

  idToToken(id: number): string | undefined {
    const special = this.specialById.get(id);
    if (special !== undefined) return special;
    const token = this.tokens.get(id);
    if (token === undefined) return undefined;
    let s = '';
    for (let i = 0; i < token.length; i++) s += BYTE_TO_UNICODE[token.charCodeAt(i)]!;
    return s;
  }
}

/** GLM-4's original tokenizer from a tiktoken rank file and its tokenizer_config.json. */
export function createGlm4TiktokenTokenizer(bytes: Uint8Array, config: Readonly<Record<string, unknown>>, chatTemplate?: string): TiktokenTokenizer {
  const ranks = parseTiktokenRanks(bytes);
  return new TiktokenTokenizer(ranks, glm4SpecialTokens(config, ranks.size), config, chatTemplate);
}
