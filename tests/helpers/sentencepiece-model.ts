// SentencePiece models built with a small protobuf writer, independent of src/tokenizer. Expected ids over
// these models were cross-checked against Google's sentencepiece 0.1.97 (Python) on the very same model bytes
// (see tests/unit/tokenizer.test.ts).
const utf8 = new TextEncoder();
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const key = (field: number, wire: number): number[] => varint(field * 8 + wire);
const varintField = (field: number, v: number): number[] => [...key(field, 0), ...varint(v)];
const bytesField = (field: number, b: ArrayLike<number>): number[] => [...key(field, 2), ...varint(b.length), ...Array.from(b)];
const stringField = (field: number, s: string): number[] => bytesField(field, utf8.encode(s));
function floatField(field: number, f: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, f, true);
  return [...key(field, 5), ...b];
}

export const NORMAL = 1;
export const UNKNOWN = 2;
export const CONTROL = 3;
export const USER_DEFINED = 4;
export const BYTE = 6;
export interface PieceSpec {
  piece: string;
  score?: number;
  type?: number;
}
export interface ModelSpec {
  pieces: PieceSpec[];
  modelType: 1 | 2;
  byteFallback?: boolean;
  normalizer: { name: string; charsmap?: Uint8Array; removeExtraWhitespaces: boolean };
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const out: number[] = [];
  for (const p of spec.pieces) {
    const type = p.type ?? NORMAL;
    // A loop, not push(...): a piece may be longer than the argument limit.
    const piece = [...stringField(1, p.piece), ...floatField(2, p.score ?? 0), ...(type !== NORMAL ? varintField(3, type) : [])];
    for (const b of [...key(1, 2), ...varint(piece.length)]) out.push(b);
    for (const b of piece) out.push(b);
  }
  // Fields the reader must skip: model_prefix, vocab_size, character_coverage, and pad_id = -1 (a 10-byte varint).
  const trainer = [
    ...stringField(2, 'test'),
    ...varintField(3, spec.modelType),
    ...varintField(4, spec.pieces.length),
    ...floatField(10, 0.9995),
    ...varintField(35, spec.byteFallback ? 1 : 0),
    ...key(43, 0),
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
  ];
  out.push(...bytesField(2, trainer));
  const n = spec.normalizer;
  out.push(
    ...bytesField(3, [
      ...stringField(1, n.name),
      ...(n.charsmap ? bytesField(2, n.charsmap) : []),
      ...varintField(3, 1),
      ...varintField(4, n.removeExtraWhitespaces ? 1 : 0),
      ...varintField(5, 1),
    ]),
  );
  return Uint8Array.from(out);
}

/** A Darts-clone double-array trie over UTF-8 keys plus NUL-terminated replacements: sentencepiece's precompiled_charsmap. */
export function buildCharsmap(rules: Array<[string, string]>): Uint8Array {
  interface Node {
    children: Map<number, Node>;
    value?: number;
  }
  const root: Node = { children: new Map() };
  const strings: number[] = [];
  for (const [from, to] of rules) {
    let node = root;
    for (const b of utf8.encode(from)) {
      let child = node.children.get(b);
      if (!child) {
        child = { children: new Map() };
        node.children.set(b, child);
      }
      node = child;
    }
    node.value = strings.length;
    strings.push(...utf8.encode(to), 0);
  }
  const units: number[] = [0];
  const used = new Set<number>([0]);
  const usedBases = new Set<number>();
  const queue: Array<[Node, number]> = [[root, 0]];
  while (queue.length > 0) {
    const [node, pos] = queue.shift()!;
    const labels = [...node.children.keys()];
    if (node.value !== undefined) labels.push(0);
    if (labels.length === 0) continue;
    let offset = 1;
    while (usedBases.has(pos ^ offset) || labels.some((c) => used.has(pos ^ offset ^ c))) offset++;
    const base = pos ^ offset;
    usedBases.add(base);
    for (const c of labels) used.add(base ^ c);
    units[pos] = ((units[pos] ?? 0) | (offset << 10) | (node.value !== undefined ? 0x100 : 0)) >>> 0;
    if (node.value !== undefined) units[base] = (0x80000000 | node.value) >>> 0;
    for (const [c, child] of node.children) {
      units[base ^ c] = c;
      queue.push([child, base ^ c]);
    }
  }
  const blob = new Uint8Array(4 + units.length * 4 + strings.length);
  const view = new DataView(blob.buffer);
  view.setUint32(0, units.length * 4, true);
  for (let i = 0; i < units.length; i++) view.setUint32(4 + i * 4, units[i] ?? 0, true);
  blob.set(strings, 4 + units.length * 4);
  return blob;
}

const hexPiece = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** Like ChatGLM2/3's tokenizer.model: BPE, identity normalizer, spaces kept, byte fallback. 282 pieces. */
export function glm2LikeModel(): Uint8Array {
  const pieces: PieceSpec[] = [
    { piece: '<unk>', type: UNKNOWN },
    { piece: '<s>', type: CONTROL },
    { piece: '</s>', type: CONTROL },
    ...Array.from({ length: 256 }, (_, b) => ({ piece: hexPiece(b), type: BYTE })),
  ];
  ['ll', '▁w', 'he', 'or', 'llo', 'hello', '▁hello', 'ld', '▁wor', '▁world', '你好', '▁▁'].forEach((p, i) =>
    pieces.push({ piece: p, score: -i }),
  );
  ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', '你', '好', '!'].forEach((p, i) => pieces.push({ piece: p, score: -100 - i }));
  return buildModel({ pieces, modelType: 2, byteFallback: true, normalizer: { name: 'identity', removeExtraWhitespaces: false } });
}

/** Like ChatGLM-6B's ice_text.model: Unigram, NFKC-style charsmap, extra spaces removed, THUDM's pieces user-defined. 31 pieces. */
export function ice_textLikeModel(): Uint8Array {
  const pieces: PieceSpec[] = [
    { piece: '<unk>', type: UNKNOWN },
    { piece: '<s>', type: CONTROL },
    { piece: '</s>', type: CONTROL },
  ];
  for (const p of ['[MASK]', '[gMASK]', '[sMASK]', '<unused_0>', '<sop>', '<eop>', '<ENC>', '<dBLOCK>', '<n>', '<|tab|>', '<|blank_2|>', '<|blank_3|>']) {
    pieces.push({ piece: p, type: USER_DEFINED });
  }
  const normal: Array<[string, number]> = [
    ['▁', -2], ['a', -3], ['b', -3.5], ['c', -4], ['ab', -4.2], ['abc', -5], ['▁ab', -4.5], ['fi', -3],
    ['f', -4], ['i', -4], ['A', -5], ['你', -6], ['好', -6], ['你好', -7], ['x', -8], ['▁a', -4.4],
  ];
  for (const [piece, score] of normal) pieces.push({ piece, score });
  const charsmap = buildCharsmap([['Ａ', 'A'], ['ﬁ', 'fi'], ['\u3000', ' '], ['ｂ', 'b'], ['\t', ' ']]);
  return buildModel({ pieces, modelType: 1, normalizer: { name: 'nmt_nfkc', charsmap, removeExtraWhitespaces: true } });
}


/**
 * A ChatGLM2/3-style tokenizer.model for the chatglm3 tiny fixture's tool tests: BPE, identity normalizer,
 * byte fallback, a few single-character pieces (so tool prompts stay a few hundred tokens).
 */
export function chatglm3ToolsModel(): Uint8Array {
  const pieces: PieceSpec[] = [
    { piece: '<unk>', type: UNKNOWN },
    { piece: '<s>', type: CONTROL },
    { piece: '</s>', type: CONTROL },
    ...Array.from({ length: 256 }, (_, b) => ({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, type: BYTE })),
    ...['▁', 'a', 'e', 'o', 't', 'c', 's', 'r', 'y'].map((piece, i) => ({ piece, score: -10 - i })),
  ];
  return buildModel({ pieces, modelType: 2, byteFallback: true, normalizer: { name: 'identity', removeExtraWhitespaces: false } });
}
