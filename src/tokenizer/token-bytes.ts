// The UTF-8 bytes each token id stands for, for constrained decoding (src/runtime/json-constraint.ts),
// which checks a token by its bytes (one Chinese character may span several byte-level tokens).
//   tokenizer.json: byte-level BPE pieces are spelled in GPT-2's byte-to-unicode alphabet ("Ġ" = space);
//   SentencePiece:  "▁" is a space and "<0xAB>" a byte-fallback piece.
// Special tokens have no bytes (null): they are never part of a reply's text.
import type { GlmTokenizer } from './types';

/** GPT-2's bytes_to_unicode inverse: printable bytes stand for themselves, the rest are shifted to U+0100 on. */
function byteLevelTable(): Map<number, number> {
  const table = new Map<number, number>();
  const direct = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (direct(b)) table.set(b, b);
    else table.set(256 + shifted++, b);
  }
  return table;
}

const BYTE_LEVEL = byteLevelTable();
const encoder = new TextEncoder();
const REPLACEMENT_CHAR = '\ufffd';

function byteLevelBytes(piece: string): Uint8Array | null {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const b = BYTE_LEVEL.get(piece.charCodeAt(i));
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

function sentencePieceBytes(piece: string): Uint8Array | null {
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  if (m) return Uint8Array.of(parseInt(m[1]!, 16));
  return encoder.encode(piece.replaceAll('\u2581', ' '));
}

/** Bytes of every id of the vocabulary (index = id); null for specials and ids without a piece. */
export function vocabularyBytes(tokenizer: GlmTokenizer): Array<Uint8Array | null> {
  const specials = new Set(Object.values(tokenizer.specialIds));
  const out: Array<Uint8Array | null> = new Array(tokenizer.vocabSize).fill(null);
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (specials.has(id)) continue;
    const piece = tokenizer.idToToken(id);
    if (piece === undefined || piece.length === 0) continue;
    let bytes: Uint8Array | null = tokenizer.kind === 'sentencepiece' ? sentencePieceBytes(piece) : byteLevelBytes(piece);
    if (bytes === null) {
      // Not a byte-level piece (an added token, another pre-tokenizer): its decoded text, when whole.
      const text = tokenizer.decode([id]);
      bytes = text.includes(REPLACEMENT_CHAR) ? null : encoder.encode(text);
    }
    out[id] = bytes;
  }
  return out;
}
