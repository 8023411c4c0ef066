// SentencePiece for ChatGLM-6B (`ice_text.model`) and ChatGLM2/3-6B (`tokenizer.model`), which ship no
// tokenizer.json. Three parts:
//   1. a minimal protobuf reader for sentencepiece_model.proto (pieces, scores, types, trainer and
//      normalizer specs): only the handful of fields the encoder needs are decoded, the rest skipped;
//   2. an encoder/decoder that follows sentencepiece's own C++ (normalizer.cc, bpe_model.cc,
//      unigram_model.cc, sentencepiece_processor.cc): precompiled charsmap (Darts double-array trie),
//      whitespace handling, BPE merges by piece score, Unigram Viterbi, byte fallback;
//   3. the THUDM wrappers around it: ChatGLM-6B's whitespace preprocessing and image-token id offset,
//      ChatGLM2/3's special tokens appended after the SentencePiece vocabulary.
import { InvalidArgumentError } from '../errors';
import { TokenizerError, TokenizerLimitError, UnsupportedTokenizerError } from './errors';
import { MAX_TOKEN_ID, checkTokenIds, type DecodeOptions, type EncodeOptions, type GlmTokenizer } from './types';

// ---------------------------------------------------------------------------------------------------------
// 1. Protobuf
// ---------------------------------------------------------------------------------------------------------

export type SentencePieceType = 'normal' | 'unknown' | 'control' | 'user_defined' | 'unused' | 'byte';

export interface SentencePiece {
  piece: string;
  score: number;
  type: SentencePieceType;
}

export interface SentencePieceNormalizerSpec {
  name: string;
  /** Empty for the identity normalizer; otherwise a Darts trie plus the replacement strings. */
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModelProto {
  pieces: SentencePiece[];
  modelType: 'unigram' | 'bpe' | 'word' | 'char';
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  /** What an unknown piece decodes to (" \u2047 " unless the trainer set another). */
  unkSurface: string;
  normalizer: SentencePieceNormalizerSpec;
}

// Enum values and field numbers of sentencepiece_model.proto.
const PIECE_TYPES: Record<number, SentencePieceType> = {
  1: 'normal',
  2: 'unknown',
  3: 'control',
  4: 'user_defined',
  5: 'unused',
  6: 'byte',
};
const MODEL_TYPES: Record<number, SentencePieceModelProto['modelType']> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

class ProtoReader {
  pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Low 32 bits of a varint, unsigned; higher bits (int64 fields, sign extension) are read past and dropped. */
  varint(): number {
    let lo = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new TokenizerError('SentencePiece model is truncated (inside a varint)');
      const b = this.buf[this.pos++]!;
      if (shift < 32) lo |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return lo >>> 0;
      shift += 7;
      if (shift >= 70) throw new TokenizerError('SentencePiece model has a malformed varint');
    }
  }

  /** Returns [field number, wire type]. */
  key(): [number, number] {
    const k = this.varint();
    return [k >>> 3, k & 7];
  }

  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new TokenizerError('SentencePiece model is truncated (field runs past its end)');
    this.pos += len;
    return [start, start + len];
  }

  bytes(): Uint8Array {
    const [s, e] = this.lengthDelimited();
    return this.buf.subarray(s, e);
  }

  string(): string {
    return utf8Decoder.decode(this.bytes());
  }

  float32(): number {
    if (this.pos + 4 > this.end) throw new TokenizerError('SentencePiece model is truncated (inside a float)');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_LENGTH:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        throw new TokenizerError(`SentencePiece model has an unsupported protobuf wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new TokenizerError('SentencePiece model is truncated');
  }

  sub(): ProtoReader {
    const [s, e] = this.lengthDelimited();
    return new ProtoReader(this.buf, s, e);
  }
}

function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new TokenizerError(`SentencePiece model: ${what} has wire type ${actual}, expected ${expected}`);
}

export function parseSentencePieceModel(bytes: Uint8Array): SentencePieceModelProto {
  const model: SentencePieceModelProto = {
    pieces: [],
    modelType: 'unigram',
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    unkSurface: ' \u2047 ',
    normalizer: {
      name: '',
      precompiledCharsmap: new Uint8Array(0),
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
      escapeWhitespaces: true,
    },
  };
  const r = new ProtoReader(bytes, 0, bytes.length);
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1) {
      expectWire(wire, WIRE_LENGTH, 'ModelProto.pieces');
      model.pieces.push(readPiece(r.sub()));
    } else if (field === 2) {
      expectWire(wire, WIRE_LENGTH, 'ModelProto.trainer_spec');
      readTrainerSpec(r.sub(), model);
    } else if (field === 3) {
      expectWire(wire, WIRE_LENGTH, 'ModelProto.normalizer_spec');
      readNormalizerSpec(r.sub(), model.normalizer);
    } else {
      r.skip(wire);
    }
  }
  if (model.pieces.length === 0) throw new TokenizerError('SentencePiece model has no pieces (not a SentencePiece model file?)');
  return model;
}

function readPiece(r: ProtoReader): SentencePiece {
  const p: SentencePiece = { piece: '', score: 0, type: 'normal' };
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === WIRE_LENGTH) p.piece = r.string();
    else if (field === 2 && wire === WIRE_FIXED32) p.score = r.float32();
    else if (field === 3 && wire === WIRE_VARINT) {
      const t = r.varint();
      const type = PIECE_TYPES[t];
      if (type === undefined) throw new TokenizerError(`SentencePiece model has an unknown piece type ${t}`);
      p.type = type;
    } else r.skip(wire);
  }
  return p;
}

function readTrainerSpec(r: ProtoReader, model: SentencePieceModelProto): void {
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 3 && wire === WIRE_VARINT) {
      const t = r.varint();
      const type = MODEL_TYPES[t];
      if (type === undefined) throw new TokenizerError(`SentencePiece model has an unknown model type ${t}`);
      model.modelType = type;
    } else if (field === 24 && wire === WIRE_VARINT) model.treatWhitespaceAsSuffix = r.varint() !== 0;
    else if (field === 35 && wire === WIRE_VARINT) model.byteFallback = r.varint() !== 0;
    else if (field === 44 && wire === WIRE_LENGTH) model.unkSurface = r.string();
    else r.skip(wire);
  }
}

function readNormalizerSpec(r: ProtoReader, spec: SentencePieceNormalizerSpec): void {
  while (!r.done()) {
    const [field, wire] = r.key();
    if (field === 1 && wire === WIRE_LENGTH) spec.name = r.string();
    else if (field === 2 && wire === WIRE_LENGTH) spec.precompiledCharsmap = r.bytes();
    else if (field === 3 && wire === WIRE_VARINT) spec.addDummyPrefix = r.varint() !== 0;
    else if (field === 4 && wire === WIRE_VARINT) spec.removeExtraWhitespaces = r.varint() !== 0;
    else if (field === 5 && wire === WIRE_VARINT) spec.escapeWhitespaces = r.varint() !== 0;
    else r.skip(wire);
  }
}

/** Protobuf writer for the fields parseSentencePieceModel reads (a GGUF vocabulary becomes a tokenizer.model this way). */
class ProtoWriter {
  private readonly out: number[] = [];
  varint(v: number): this {
    let n = v;
    while (n > 0x7f) {
      this.out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    this.out.push(n);
    return this;
  }
  key(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  uint(field: number, v: number): this {
    return this.key(field, WIRE_VARINT).varint(v);
  }
  bytes(field: number, b: Uint8Array | readonly number[]): this {
    this.key(field, WIRE_LENGTH).varint(b.length);
    for (const x of b) this.out.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, utf8Encoder.encode(s));
  }
  float32(field: number, f: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    this.key(field, WIRE_FIXED32);
    for (const x of b) this.out.push(x);
    return this;
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

const PIECE_TYPE_IDS: Record<SentencePieceType, number> = { normal: 1, unknown: 2, control: 3, user_defined: 4, unused: 5, byte: 6 };
const MODEL_TYPE_IDS: Record<SentencePieceModelProto['modelType'], number> = { unigram: 1, bpe: 2, word: 3, char: 4 };

/** sentencepiece_model.proto bytes for a model: the inverse of parseSentencePieceModel. */
export function serializeSentencePieceModel(model: SentencePieceModelProto): Uint8Array {
  const w = new ProtoWriter();
  for (const p of model.pieces) {
    const piece = new ProtoWriter().string(1, p.piece).float32(2, p.score);
    if (p.type !== 'normal') piece.uint(3, PIECE_TYPE_IDS[p.type]);
    w.bytes(1, piece.finish());
  }
  const trainer = new ProtoWriter()
    .uint(3, MODEL_TYPE_IDS[model.modelType])
    .uint(24, model.treatWhitespaceAsSuffix ? 1 : 0)
    .uint(35, model.byteFallback ? 1 : 0)
    .string(44, model.unkSurface);
  w.bytes(2, trainer.finish());
  const n = model.normalizer;
  const normalizer = new ProtoWriter().string(1, n.name);
  if (n.precompiledCharsmap.length > 0) normalizer.bytes(2, n.precompiledCharsmap);
  normalizer.uint(3, n.addDummyPrefix ? 1 : 0).uint(4, n.removeExtraWhitespaces ? 1 : 0).uint(5, n.escapeWhitespaces ? 1 : 0);
  w.bytes(3, normalizer.finish());
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------
// 2. Encoder / decoder
// ---------------------------------------------------------------------------------------------------------

const SPACE_SYMBOL = '\u2581';
/**
 * Longest piece accepted, in UTF-16 units. Trainers cap pieces at 16 characters by default (512 at most);
 * ChatGLM-6B's longest, `<|blank_80|>`, has 12. Bounds the per-position work of encoding.
 */
export const MAX_PIECE_LENGTH = 256;
const UNK_PENALTY = 10;

/**
 * The normalization rules of a SentencePiece model: a Darts-clone double-array trie over UTF-8 bytes
 * whose values are offsets of NUL-terminated replacement strings. Layout (normalizer.cc,
 * DecodePrecompiledCharsMap): uint32 LE trie size in bytes, the trie's uint32 units, then the strings.
 */
class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;
  private readonly decoded = new Map<number, string>();

  constructor(blob: Uint8Array) {
    if (blob.length <= 4) throw new TokenizerError('SentencePiece precompiled_charsmap is too short');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (trieSize >= blob.length - 4 + 1 || trieSize % 4 !== 0) {
      throw new TokenizerError('SentencePiece precompiled_charsmap has a bad trie size');
    }
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + i * 4, true);
    this.strings = blob.subarray(4 + trieSize);
  }

  /** Longest rule matching `key` from `start`: [matched byte length, replacement], or undefined. */
  longestMatch(key: Uint8Array, start: number): [number, string] | undefined {
    const units = this.units;
    if (units.length === 0) return undefined;
    // Darts unit fields: label = unit & 0x800000ff (bit 31 marks value units, so they never match a byte),
    // has_leaf = bit 8, offset = (unit >> 10) << (bit 9 ? 8 : 0), value = unit & 0x7fffffff.
    const offsetOf = (u: number): number => (u >>> 10) * ((u & 0x200) !== 0 ? 256 : 1);
    let nodePos = offsetOf(units[0]!);
    let bestLen = 0;
    let bestValue = -1;
    for (let i = start; i < key.length; i++) {
      const c = key[i]!;
      nodePos = (nodePos ^ c) >>> 0;
      if (nodePos >= units.length) break;
      const unit = units[nodePos]!;
      if ((unit & 0x800000ff) >>> 0 !== c) break;
      nodePos = (nodePos ^ offsetOf(unit)) >>> 0;
      if ((unit & 0x100) !== 0) {
        if (nodePos >= units.length) break;
        bestLen = i - start + 1;
        bestValue = units[nodePos]! & 0x7fffffff;
      }
    }
    if (bestLen === 0) return undefined;
    return [bestLen, this.replacement(bestValue)];
  }

  private replacement(offset: number): string {
    let s = this.decoded.get(offset);
    if (s === undefined) {
      if (offset >= this.strings.length) throw new TokenizerError('SentencePiece precompiled_charsmap points past its strings');
      let end = offset;
      while (end < this.strings.length && this.strings[end] !== 0) end++;
      s = utf8Decoder.decode(this.strings.subarray(offset, end));
      this.decoded.set(offset, s);
    }
    return s;
  }
}

/** Max-heap of candidate merges: higher score first, then the leftmost (bpe_model.cc SymbolPairComparator). */
interface MergeCandidate {
  left: number;
  right: number;
  piece: string;
  score: number;
}

function candidateBefore(a: MergeCandidate, b: MergeCandidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

class CandidateHeap {
  private readonly items: MergeCandidate[] = [];
  get size(): number {
    return this.items.length;
  }
  push(c: MergeCandidate): void {
    const a = this.items;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!candidateBefore(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }
  pop(): MergeCandidate {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < a.length && candidateBefore(a[l]!, a[best]!)) best = l;
        if (r < a.length && candidateBefore(a[r]!, a[best]!)) best = r;
        if (best === i) break;
        [a[i], a[best]] = [a[best]!, a[i]!];
        i = best;
      }
    }
    return top;
  }
}

/** Encodes text to SentencePiece piece ids and back, as sentencepiece's SentencePieceProcessor does. */
export class SentencePieceProcessor {
  readonly model: SentencePieceModelProto;
  readonly unkId: number;
  /** PieceToId: reserved pieces (control, unknown, byte) first, then the rest, as model_interface.cc. */
  private readonly idOf = new Map<string, number>();
  /** Pieces a merge / Viterbi may produce: normal and user-defined (unused ones are left out). */
  private readonly producible = new Map<string, number>();
  /**
   * User-defined pieces, matched whole (longest first) before normalizing and splitting: the set, and per first
   * UTF-16 unit the distinct lengths, longest first, so a position costs one lookup per length, not per piece.
   */
  private readonly userDefined = new Set<string>();
  private readonly userDefinedLengths = new Map<string, number[]>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly charsmap: PrecompiledCharsmap | undefined;
  /** Longest producible piece per first UTF-16 unit: Viterbi tries no longer substrings from a position. */
  private readonly maxLengthByFirst = new Map<number, number>();
  private readonly minScore: number;
  private readonly maxScore: number;

  constructor(model: SentencePieceModelProto) {
    if (model.modelType !== 'bpe' && model.modelType !== 'unigram') {
      throw new UnsupportedTokenizerError(`SentencePiece ${model.modelType} models are not supported (only BPE and Unigram)`);
    }
    this.model = model;
    let unkId = -1;
    let minScore = Infinity;
    let maxScore = -Infinity;
    const pieces = model.pieces;
    if (pieces.length > MAX_TOKEN_ID + 1) {
      throw new TokenizerLimitError(`SentencePiece model has ${pieces.length} pieces; this engine accepts at most ${MAX_TOKEN_ID + 1}`);
    }
    for (let id = 0; id < pieces.length; id++) {
      const p = pieces[id]!;
      // Encoding looks up every substring up to the longest piece at every position: one 200,000-character
      // piece would make that quadratic in the piece (issue #18).
      if (p.piece.length > MAX_PIECE_LENGTH) {
        throw new TokenizerLimitError(
          `SentencePiece piece ${id} is ${p.piece.length} characters long; this engine accepts pieces of at most ${MAX_PIECE_LENGTH}`,
        );
      }
      if (p.type === 'unknown' || p.type === 'control' || p.type === 'byte') this.idOf.set(p.piece, id);
      if (p.type === 'unknown' && unkId < 0) unkId = id;
      if (p.type === 'byte') {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (m) this.byteIds[parseInt(m[1]!, 16)] = id;
      }
    }
    for (let id = 0; id < pieces.length; id++) {
      const p = pieces[id]!;
      if (p.type === 'unknown' || p.type === 'control' || p.type === 'byte') continue;
      if (!this.idOf.has(p.piece)) this.idOf.set(p.piece, id);
      if (p.type === 'unused') continue;
      if (!this.producible.has(p.piece)) this.producible.set(p.piece, id);
      if (p.piece.length > 0) {
        const first = p.piece.charCodeAt(0);
        this.maxLengthByFirst.set(first, Math.max(this.maxLengthByFirst.get(first) ?? 0, p.piece.length));
      }
      if (p.type === 'normal') {
        minScore = Math.min(minScore, p.score);
        maxScore = Math.max(maxScore, p.score);
      }
      if (p.type === 'user_defined' && p.piece.length > 0 && !this.userDefined.has(p.piece)) {
        this.userDefined.add(p.piece);
        const lengths = this.userDefinedLengths.get(p.piece[0]!) ?? [];
        if (!lengths.includes(p.piece.length)) lengths.push(p.piece.length);
        this.userDefinedLengths.set(p.piece[0]!, lengths);
      }
    }
    for (const lengths of this.userDefinedLengths.values()) lengths.sort((a, b) => b - a);
    if (unkId < 0) throw new TokenizerError('SentencePiece model has no unknown piece (<unk>)');
    this.unkId = unkId;
    this.minScore = Number.isFinite(minScore) ? minScore : 0;
    this.maxScore = Number.isFinite(maxScore) ? maxScore : 0;
    this.charsmap =
      model.normalizer.precompiledCharsmap.length > 0 ? new PrecompiledCharsmap(model.normalizer.precompiledCharsmap) : undefined;
  }

  get size(): number {
    return this.model.pieces.length;
  }

  pieceToId(piece: string): number | undefined {
    return this.idOf.get(piece);
  }

  idToPiece(id: number): string | undefined {
    return this.model.pieces[id]?.piece;
  }

  typeOf(id: number): SentencePieceType | undefined {
    return this.model.pieces[id]?.type;
  }

  private matchUserDefined(text: string, at: number): string | undefined {
    const lengths = this.userDefinedLengths.get(text[at]!);
    if (lengths === undefined) return undefined;
    for (const length of lengths) {
      const piece = text.slice(at, at + length);
      if (piece.length === length && this.userDefined.has(piece)) return piece;
    }
    return undefined;
  }

  /** normalizer.cc Normalizer::Normalize. */
  normalize(text: string): string {
    if (text.length === 0) return '';
    const spec = this.model.normalizer;
    // Split into (normalized chunk) steps: a user-defined piece verbatim, a charsmap rule, or one code point.
    const bytes = this.charsmap ? utf8Encoder.encode(text) : undefined;
    const chunks: string[] = [];
    let byteAt = 0;
    for (let i = 0; i < text.length; ) {
      const user = this.matchUserDefined(text, i);
      if (user !== undefined) {
        chunks.push(user);
        i += user.length;
        byteAt += utf8Encoder.encode(user).length;
        continue;
      }
      if (this.charsmap && bytes) {
        const match = this.charsmap.longestMatch(bytes, byteAt);
        if (match !== undefined) {
          // Rules cover whole characters; walk code points until the matched bytes are consumed.
          let consumed = 0;
          let j = i;
          while (consumed < match[0] && j < text.length) {
            const cp = text.codePointAt(j)!;
            consumed += utf8Length(cp);
            j += cp > 0xffff ? 2 : 1;
          }
          if (consumed === match[0]) {
            chunks.push(match[1]);
            i = j;
            byteAt += consumed;
            continue;
          }
        }
      }
      const cp = text.codePointAt(i)!;
      const n = cp > 0xffff ? 2 : 1;
      // A lone surrogate is what sentencepiece sees as malformed UTF-8: it becomes U+FFFD.
      chunks.push(cp >= 0xd800 && cp <= 0xdfff ? '\ufffd' : text.slice(i, i + n));
      i += n;
      byteAt += utf8Length(cp);
    }

    const remove = spec.removeExtraWhitespaces;
    const suffix = this.model.treatWhitespaceAsSuffix;
    const space = spec.escapeWhitespaces ? SPACE_SYMBOL : ' ';
    let k = 0;
    if (remove) while (k < chunks.length && chunks[k] === ' ') k++;
    if (k === chunks.length) return '';
    let out = !suffix && spec.addDummyPrefix ? space : '';
    let prevSpace = remove;
    for (; k < chunks.length; k++) {
      let sp = chunks[k]!;
      if (prevSpace && remove) {
        let s = 0;
        while (s < sp.length && sp[s] === ' ') s++;
        sp = sp.slice(s);
      }
      if (sp.length > 0) {
        out += spec.escapeWhitespaces ? sp.replaceAll(' ', SPACE_SYMBOL) : sp;
        prevSpace = sp.endsWith(' ');
      }
      if (!remove) prevSpace = false;
    }
    if (remove) while (out.endsWith(space)) out = out.slice(0, out.length - space.length);
    if (suffix && spec.addDummyPrefix) out += space;
    return out;
  }

  /** Text to piece ids (SentencePieceProcessor::Encode): normalize, segment, then unknown/byte-fallback handling. */
  encode(text: string): number[] {
    const normalized = this.normalize(text);
    if (normalized.length === 0) return [];
    const segments = this.model.modelType === 'bpe' ? this.segmentBpe(normalized) : this.segmentUnigram(normalized);
    const ids: number[] = [];
    let prevUnk = false;
    for (const piece of segments) {
      const id = this.idOf.get(piece) ?? this.unkId;
      const isUnk = id === this.unkId;
      if (isUnk && this.model.byteFallback) {
        for (const b of utf8Encoder.encode(piece)) {
          const byteId = this.byteIds[b]!;
          ids.push(byteId >= 0 ? byteId : this.unkId);
        }
      } else if (!(isUnk && prevUnk)) {
        // A run of unknown pieces becomes one <unk> (sentencepiece_processor.cc merges them).
        ids.push(id);
      }
      prevUnk = isUnk && !this.model.byteFallback;
    }
    return ids;
  }

  /** bpe_model.cc Model::Encode: start from characters, repeatedly merge the adjacent pair whose piece scores highest. */
  private segmentBpe(normalized: string): string[] {
    const piece: string[] = [];
    // User-defined pieces are frozen: they never merge with a neighbour (bpe_model.cc Symbol::freeze).
    const frozen: boolean[] = [];
    for (let i = 0; i < normalized.length; ) {
      const user = this.matchUserDefined(normalized, i);
      const n = user !== undefined ? user.length : normalized.codePointAt(i)! > 0xffff ? 2 : 1;
      piece.push(normalized.slice(i, i + n));
      frozen.push(user !== undefined);
      i += n;
    }
    const count = piece.length;
    const prev = Int32Array.from({ length: count }, (_, i) => i - 1);
    const next = Int32Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
    const heap = new CandidateHeap();
    const consider = (left: number, right: number): void => {
      if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
      const merged = piece[left]! + piece[right]!;
      const id = this.producible.get(merged);
      if (id === undefined) return;
      heap.push({ left, right, piece: merged, score: this.model.pieces[id]!.score });
    };
    for (let i = 1; i < count; i++) consider(i - 1, i);
    while (heap.size > 0) {
      const top = heap.pop();
      const l = piece[top.left]!;
      const r = piece[top.right]!;
      // Stale candidate: one side was merged away or changed since it was queued.
      if (l.length === 0 || r.length === 0 || l.length + r.length !== top.piece.length) continue;
      piece[top.left] = top.piece;
      piece[top.right] = '';
      next[top.left] = next[top.right]!;
      if (next[top.right]! >= 0) prev[next[top.right]!] = top.left;
      consider(prev[top.left]!, top.left);
      consider(top.left, next[top.left]!);
    }
    const out: string[] = [];
    for (let i = count > 0 ? 0 : -1; i >= 0; i = next[i]!) out.push(piece[i]!);
    return out;
  }

  /** unigram_model.cc Model::EncodeOptimized: Viterbi over all pieces, unknown characters penalised. */
  private segmentUnigram(normalized: string): string[] {
    const n = normalized.length;
    const bestScore = new Float64Array(n + 1).fill(-Infinity);
    const bestStart = new Int32Array(n + 1).fill(-1);
    bestScore[0] = 0;
    const unkScore = this.minScore - UNK_PENALTY;
    for (let start = 0; start < n; start++) {
      if (bestStart[start] < 0 && start !== 0) continue;
      const base = bestScore[start]!;
      const charLen = normalized.codePointAt(start)! > 0xffff ? 2 : 1;
      let hasSingleChar = false;
      const limit = Math.min(n, start + (this.maxLengthByFirst.get(normalized.charCodeAt(start)) ?? 0));
      for (let end = start + 1; end <= limit; end++) {
        const id = this.producible.get(normalized.slice(start, end));
        if (id === undefined) continue;
        const p = this.model.pieces[id]!;
        if (end - start === charLen) hasSingleChar = true;
        // User-defined pieces get a bonus so that they always win (PopulateNodes: length * max_score - 0.1).
        const score = p.type === 'user_defined' ? countCodePoints(p.piece) * this.maxScore - 0.1 : p.score;
        if (base + score > bestScore[end]! || bestStart[end]! < 0) {
          bestScore[end] = base + score;
          bestStart[end] = start;
        }
      }
      if (!hasSingleChar) {
        const end = start + charLen;
        if (base + unkScore > bestScore[end]! || bestStart[end]! < 0) {
          bestScore[end] = base + unkScore;
          bestStart[end] = start;
        }
      }
    }
    const out: string[] = [];
    for (let end = n; end > 0; ) {
      const start = bestStart[end]!;
      out.push(normalized.slice(start, end));
      end = start;
    }
    return out.reverse();
  }

  /** Piece ids to text (SentencePieceProcessor::Decode). */
  decode(ids: readonly number[]): string {
    const spec = this.model.normalizer;
    const stripLeading = !this.model.treatWhitespaceAsSuffix && (spec.addDummyPrefix || spec.removeExtraWhitespaces);
    let out = '';
    let bytes: number[] = [];
    // The first piece that is not a control piece loses its leading space: that one came from the dummy
    // prefix. With remove_extra_whitespaces every piece does until some text came out (the encoder never
    // produces leading spaces then). Both as sentencepiece's DecodeSentencePiece.
    let atStart = true;
    const flushBytes = (): void => {
      if (bytes.length === 0) return;
      out += decodeBytesLikeSentencePiece(bytes);
      bytes = [];
    };
    for (const id of ids) {
      const p = this.model.pieces[id];
      if (p === undefined) throw new InvalidArgumentError(`SentencePiece id ${id} is outside the vocabulary`);
      if (p.type === 'control') {
        flushBytes();
        continue;
      }
      const first = atStart;
      atStart = false;
      if (p.type === 'byte') {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (m) {
          bytes.push(parseInt(m[1]!, 16));
          continue;
        }
      }
      flushBytes();
      if (p.type === 'unknown') {
        out += this.model.unkSurface;
        continue;
      }
      let piece = p.piece;
      const bos = first || (spec.removeExtraWhitespaces && out.length === 0);
      if (stripLeading && bos && piece.startsWith(SPACE_SYMBOL)) piece = piece.slice(1);
      out += piece.replaceAll(SPACE_SYMBOL, ' ');
    }
    flushBytes();
    return out;
  }
}

/**
 * UTF-8 bytes to text, one U+FFFD per byte that does not start a complete, valid character (sentencepiece's
 * byte-fallback decoding; TextDecoder would fold a truncated sequence into a single U+FFFD).
 */
function decodeBytesLikeSentencePiece(bytes: readonly number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b0 = bytes[i]!;
    let len = 0;
    let cp = 0;
    let min = 0;
    if (b0 < 0x80) [len, cp, min] = [1, b0, 0];
    else if (b0 >= 0xc2 && b0 < 0xe0) [len, cp, min] = [2, b0 & 0x1f, 0x80];
    else if (b0 >= 0xe0 && b0 < 0xf0) [len, cp, min] = [3, b0 & 0x0f, 0x800];
    else if (b0 >= 0xf0 && b0 < 0xf5) [len, cp, min] = [4, b0 & 0x07, 0x10000];
    let ok = len > 0 && i + len <= bytes.length;
    for (let k = 1; ok && k < len; k++) {
      const b = bytes[i + k]!;
      if ((b & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (b & 0x3f);
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok) {
      out += String.fromCodePoint(cp);
      i += len;
    } else {
      out += '\ufffd';
      i += 1;
    }
  }
  return out;
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

function countCodePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// 3. THUDM's ChatGLM tokenizers around SentencePiece
// ---------------------------------------------------------------------------------------------------------

export type ChatGlmSentencePieceFlavor = 'chatglm1' | 'chatglm2' | 'chatglm3';

/** ChatGLM-6B's SPTokenizer special tokens (pieces inside ice_text.model). */
const CHATGLM1_SPECIALS = ['[MASK]', '[gMASK]', '[sMASK]', '<unused_0>', '<sop>', '<eop>', '<ENC>', '<dBLOCK>'];
/** ChatGLM2/3's SPTokenizer special tokens, numbered after the SentencePiece vocabulary in this order. */
const CHATGLM2_SPECIALS = ['[MASK]', '[gMASK]', '[sMASK]', 'sop', 'eop'];
const CHATGLM3_ROLE_SPECIALS = ['<|system|>', '<|user|>', '<|assistant|>', '<|observation|>'];
/** SPTokenizer's default image-token count, used when tokenizer_config.json has no num_image_tokens (v1.1 sets 0). */
const CHATGLM1_DEFAULT_IMAGE_TOKENS = 20000;
const CHATGLM1_MAX_BLANK = 80;

/**
 * ChatGLM-6B's text preprocessing (SPTokenizer._preprocess): its SentencePiece normalizer would fold
 * newlines, tabs and runs of spaces, so they are spelled as dedicated pieces before encoding.
 */
export function chatglm1Preprocess(text: string): string {
  let s = text.replaceAll('\n', '<n>').replaceAll('\t', '<|tab|>');
  for (let n = CHATGLM1_MAX_BLANK; n >= 2; n--) {
    if (s.includes('  ')) s = s.replaceAll(' '.repeat(n), `<|blank_${n}|>`);
  }
  return s;
}

/** Inverse of chatglm1Preprocess (SPTokenizer.postprocess). */
export function chatglm1Postprocess(text: string): string {
  return text
    .replaceAll('<n>', '\n')
    .replaceAll('<|tab|>', '\t')
    .replace(/<\|blank_(\d+)\|>/g, (whole, n: string) => {
      const count = Number(n);
      return count >= 2 && count <= CHATGLM1_MAX_BLANK ? ' '.repeat(count) : whole;
    });
}

/**
 * The tokenizer THUDM's code builds around a SentencePiece model. No chatTemplate is exposed: ChatGLM3's
 * template spells `[gMASK]sop<|user|>` as text, which only THUDM's Python tokenizer turns into special ids;
 * its prompts are built id by id instead (renderChat 'chatglm3').
 */
export function createChatGlmSentencePieceTokenizer(
  bytes: Uint8Array,
  config: Readonly<Record<string, unknown>>,
  flavor?: ChatGlmSentencePieceFlavor,
): GlmTokenizer {
  const sp = new SentencePieceProcessor(parseSentencePieceModel(bytes));
  const detected: ChatGlmSentencePieceFlavor = flavor ?? (sp.pieceToId('[gMASK]') !== undefined ? 'chatglm1' : 'chatglm3');
  return detected === 'chatglm1'
    ? new ChatGlm1Tokenizer(sp, config)
    : new ChatGlm2Tokenizer(sp, config, detected === 'chatglm3');
}

/** ChatGLM-6B: ids are SentencePiece ids shifted by num_image_tokens; prompts end with [gMASK] <sop>. */
class ChatGlm1Tokenizer implements GlmTokenizer {
  readonly kind = 'sentencepiece' as const;
  readonly vocabSize: number;
  readonly specialIds: Readonly<Record<string, number>>;
  readonly config: Readonly<Record<string, unknown>>;
  private readonly offset: number;
  private readonly skipOnDecode = new Set<number>();

  constructor(
    private readonly sp: SentencePieceProcessor,
    config: Readonly<Record<string, unknown>>,
  ) {
    this.config = config;
    const images = config.num_image_tokens;
    this.offset = typeof images === 'number' && Number.isInteger(images) && images >= 0 ? images : CHATGLM1_DEFAULT_IMAGE_TOKENS;
    this.vocabSize = this.offset + sp.size;
    const specials: Record<string, number> = {};
    for (let id = 0; id < sp.size; id++) {
      const type = sp.typeOf(id);
      const piece = sp.idToPiece(id)!;
      if (type === 'control' || type === 'unknown' || CHATGLM1_SPECIALS.includes(piece)) {
        specials[piece] = id + this.offset;
        this.skipOnDecode.add(id + this.offset);
      }
    }
    for (const name of ['[gMASK]', '<sop>']) {
      if (specials[name] === undefined) throw new TokenizerError(`ChatGLM-6B SentencePiece model lacks the ${name} piece`);
    }
    this.specialIds = Object.freeze(specials);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('encode expects a string');
    const ids = this.sp.encode(chatglm1Preprocess(text)).map((id) => id + this.offset);
    if (options.addSpecialTokens ?? true) ids.push(this.specialIds['[gMASK]']!, this.specialIds['<sop>']!);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    let out = '';
    let run: number[] = [];
    const flush = (): void => {
      if (run.length > 0) out += chatglm1Postprocess(this.sp.decode(run));
      run = [];
    };
    for (const id of checkTokenIds(ids, this.vocabSize)) {
      if (skip && this.skipOnDecode.has(id)) continue;
      if (id < this.offset) {
        flush();
        out += `<image_${id}>`;
      } else run.push(id - this.offset);
    }
    flush();
    return out;
  }

  tokenToId(token: string): number | undefined {
    const id = this.sp.pieceToId(token);
    return id === undefined ? undefined : id + this.offset;
  }

  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0) return undefined;
    return id < this.offset ? `<image_${id}>` : this.sp.idToPiece(id - this.offset);
  }
}

/** ChatGLM2/3: plain SentencePiece ids, then [MASK] [gMASK] [sMASK] sop eop (and ChatGLM3's role tokens) after them. */
class ChatGlm2Tokenizer implements GlmTokenizer {
  readonly kind = 'sentencepiece' as const;
  readonly vocabSize: number;
  readonly specialIds: Readonly<Record<string, number>>;
  readonly config: Readonly<Record<string, unknown>>;
  private readonly appended = new Map<number, string>();
  private readonly appendedIds = new Map<string, number>();
  private readonly skipOnDecode = new Set<number>();

  constructor(
    private readonly sp: SentencePieceProcessor,
    config: Readonly<Record<string, unknown>>,
    withRoleTokens: boolean,
  ) {
    this.config = config;
    const specials: Record<string, number> = {};
    for (let id = 0; id < sp.size; id++) {
      const type = sp.typeOf(id);
      if (type === 'control' || type === 'unknown') {
        specials[sp.idToPiece(id)!] = id;
        this.skipOnDecode.add(id);
      }
    }
    const names = withRoleTokens ? [...CHATGLM2_SPECIALS, ...CHATGLM3_ROLE_SPECIALS] : CHATGLM2_SPECIALS;
    names.forEach((name, i) => {
      const id = sp.size + i;
      this.appended.set(id, name);
      this.appendedIds.set(name, id);
      specials[name] = id;
      this.skipOnDecode.add(id);
    });
    this.vocabSize = sp.size + names.length;
    this.specialIds = Object.freeze(specials);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('encode expects a string');
    // Like THUDM's SPTokenizer (encode_special_tokens=False), special-token spellings in the text stay plain text.
    const ids = this.sp.encode(text);
    return (options.addSpecialTokens ?? true) ? [this.appendedIds.get('[gMASK]')!, this.appendedIds.get('sop')!, ...ids] : ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    let out = '';
    let run: number[] = [];
    const flush = (): void => {
      if (run.length > 0) out += this.sp.decode(run);
      run = [];
    };
    for (const id of checkTokenIds(ids, this.vocabSize)) {
      if (skip && this.skipOnDecode.has(id)) continue;
      const name = this.appended.get(id);
      if (name !== undefined) {
        flush();
        out += name;
      } else run.push(id);
    }
    flush();
    return out;
  }

  tokenToId(token: string): number | undefined {
    return this.appendedIds.get(token) ?? this.sp.pieceToId(token);
  }

  idToToken(id: number): string | undefined {
    return this.appended.get(id) ?? this.sp.idToPiece(id);
  }
}
