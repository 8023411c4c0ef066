// Seeded mutations of each format the engine reads. Every mutation is named; `mustReject` marks the ones
// a correct loader has to refuse (a named error): accepting them means loading garbage silently. The
// others (random byte flips in tensor data, a valid but different RoPE base, ...) may load or fail, but
// never with a crash, a hang or an unnamed error. A case is (format, mutation, seed): the same triple
// always builds the same files, so any finding replays exactly (npm run fuzz -- --replay FORMAT:MUTATION:SEED).
import { GgufValueType } from '../../src/formats/gguf';
import { buildGguf, type GgufKv } from '../helpers/gguf-writer';
import { seededRandom } from '../helpers/random';
import { encodeSpModel, spPieces, type Files, type SeedName, type Seeds } from './seeds';

export const FUZZ_FORMATS = ['safetensors', 'gguf', 'package', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'sentencepiece'] as const;
export type FuzzFormat = (typeof FUZZ_FORMATS)[number];

export interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
}

export function makeRng(seed: number): Rng {
  const r = seededRandom(seed);
  return {
    next: r,
    int: (n) => Math.floor(r() * n),
    pick: (items) => items[Math.floor(r() * items.length)]!,
  };
}

export interface Mutation {
  name: string;
  seed: SeedName;
  mustReject: boolean;
  apply(files: Files, rng: Rng, seeds: Seeds): Files;
}

export interface MutatedCase {
  format: FuzzFormat;
  mutation: string;
  caseSeed: number;
  seedName: SeedName;
  mustReject: boolean;
  files: Files;
}

// ---- helpers ----

/** Each format's list starts with the unmutated seed: it must load and answer, or every other verdict means nothing. */
const CONTROL: Omit<Mutation, 'seed'> = { name: 'none', mustReject: false, apply: (files) => files };
const withSeed = (seed: SeedName, list: Omit<Mutation, 'seed'>[]): Mutation[] => [CONTROL, ...list].map((m) => ({ ...m, seed }));

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const json = (files: Files, name: string): Record<string, unknown> => JSON.parse(dec(files[name]!)) as Record<string, unknown>;
const withFile = (files: Files, name: string, content: Uint8Array | string | null): Files => {
  const out = { ...files };
  if (content === null) delete out[name];
  else out[name] = typeof content === 'string' ? enc(content) : content;
  return out;
};
const withJson = (files: Files, name: string, edit: (o: Record<string, unknown>) => void): Files => {
  const o = json(files, name);
  edit(o);
  return withFile(files, name, JSON.stringify(o));
};
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/**
 * A deeply nested value cannot go through JSON.stringify (that overflows the stack, in the generator):
 * the edit stores DEEP as a placeholder string, replaced by the nested text after serializing.
 */
const DEEP = '\u0000deep\u0000';
const withJsonDeep = (files: Files, name: string, edit: (o: Record<string, unknown>) => void, deepText: string): Files => {
  const o = json(files, name);
  edit(o);
  return withFile(files, name, JSON.stringify(o).replace(JSON.stringify(DEEP), deepText));
};
const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

function flipBytes(bytes: Uint8Array, rng: Rng, count: number, from = 0, to = bytes.byteLength): Uint8Array {
  const out = bytes.slice();
  if (to <= from) return out;
  for (let i = 0; i < count; i++) {
    const at = from + rng.int(to - from);
    out[at] = out[at]! ^ (1 << rng.int(8));
  }
  return out;
}

/** Every key path of a JSON value (objects and arrays), with a cap so huge vocabularies stay cheap. */
function jsonPaths(value: unknown, rng: Rng, max = 400): (string | number)[][] {
  const out: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (out.length >= max) return;
    if (path.length > 0) out.push(path);
    if (Array.isArray(v)) {
      const n = v.length;
      for (let k = 0; k < Math.min(n, 6); k++) walk(v[n <= 6 ? k : rng.int(n)], [...path, n <= 6 ? k : rng.int(n)]);
    } else if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let k = 0; k < Math.min(keys.length, 12); k++) {
        const key = keys.length <= 12 ? keys[k]! : keys[rng.int(keys.length)]!;
        walk((v as Record<string, unknown>)[key], [...path, key]);
      }
    }
  };
  walk(value, []);
  return out;
}

const NASTY_VALUES: unknown[] = [-1, 0, 1.5, 2 ** 53, 1e308, -1e308, 1e6, 4294967296, 'abc', '', true, false, null, [], {}, [1, 2], { a: 1 }, 'x'.repeat(10_000)];

function setPath(root: unknown, path: (string | number)[], value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) node = node[path[i]!] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
}

/** A random structural edit of a JSON document: a value replaced by a nasty one, deleted, or deeply nested. */
function randomJsonEdit(files: Files, name: string, rng: Rng): Files {
  const doc = JSON.parse(dec(files[name]!)) as unknown;
  const paths = jsonPaths(doc, rng);
  if (paths.length === 0) return files;
  const path = rng.pick(paths);
  const roll = rng.int(10);
  if (roll < 7) setPath(doc, path, rng.pick(NASTY_VALUES));
  else if (roll < 9) {
    let node = doc as Record<string | number, unknown>;
    for (let i = 0; i < path.length - 1; i++) node = node[path[i]!] as Record<string | number, unknown>;
    if (Array.isArray(node)) node.splice(path.at(-1) as number, 1);
    else delete node[path.at(-1)!];
  } else setPath(doc, path, DEEP);
  return withFile(files, name, JSON.stringify(doc).replace(JSON.stringify(DEEP), deepArray(2000 + rng.int(50_000))));
}

function randomTextDamage(files: Files, name: string, rng: Rng): Files {
  const b = files[name]!;
  const roll = rng.int(3);
  if (roll === 0) return withFile(files, name, b.slice(0, rng.int(b.byteLength)));
  if (roll === 1) return withFile(files, name, flipBytes(b, rng, 1 + rng.int(8)));
  return withFile(files, name, rng.pick([deepArray(100_000), deepObject(100_000), 'null', '[]', '"text"', '{', '']));
}

// ---- safetensors (the hf seed's model.safetensors) ----

interface Safetensors {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  headerLength: number;
  data: Uint8Array;
}

function readSafetensors(bytes: Uint8Array): Safetensors {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(dec(bytes.subarray(8, 8 + headerLength))) as Safetensors['header'];
  return { header, headerLength, data: bytes.slice(8 + headerLength) };
}

function writeSafetensors(header: unknown, data: Uint8Array, declaredLength?: bigint, rawHeader?: string): Uint8Array {
  let text = rawHeader ?? JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + enc(text).byteLength) % 8)) % 8);
  const h = enc(text);
  const out = new Uint8Array(8 + h.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(data, 8 + h.byteLength);
  return out;
}

type Entry = { dtype: string; shape: number[]; data_offsets: [number, number] };
const tensorEntries = (st: Safetensors) => Object.entries(st.header).filter(([k]) => k !== '__metadata__') as [string, Entry][];

function editSafetensors(edit: (st: Safetensors, rng: Rng) => Uint8Array | void): Mutation['apply'] {
  return (files, rng) => {
    const st = readSafetensors(files['model.safetensors']!);
    const out = edit(st, rng) ?? writeSafetensors(st.header, st.data);
    return withFile(files, 'model.safetensors', out);
  };
}

const safetensors: Mutation[] = withSeed('hf', [
  { name: 'header-length+1', mustReject: true, apply: editSafetensors((st) => writeSafetensors(st.header, st.data, BigInt(st.headerLength + 1))) },
  { name: 'header-length-1', mustReject: true, apply: editSafetensors((st) => writeSafetensors(st.header, st.data, BigInt(st.headerLength - 1))) },
  { name: 'header-length+8', mustReject: true, apply: editSafetensors((st) => writeSafetensors(st.header, st.data, BigInt(st.headerLength + 8))) },
  { name: 'header-length-huge', mustReject: true, apply: editSafetensors((st, rng) => writeSafetensors(st.header, st.data, rng.pick([2n ** 63n, 2n ** 40n, 99_999_999n]))) },
  { name: 'header-deep-nesting', mustReject: true, apply: editSafetensors((st, rng) => writeSafetensors(null, st.data, undefined, rng.pick([deepArray(100_000), deepObject(100_000), `{"a":${deepArray(50_000)}}`]))) },
  { name: 'header-not-json', mustReject: true, apply: editSafetensors((st, rng) => writeSafetensors(null, st.data, undefined, rng.pick(['{', 'not json', '[1,2,3]', '"x"', '{"a": {"dtype": "F32"}']))) },
  { name: 'dtype-changed', mustReject: true, apply: editSafetensors((st, rng) => { rng.pick(tensorEntries(st))[1].dtype = rng.pick(['F16', 'BF16', 'I8', 'Q4', 'f32', '']); }) },
  { name: 'shape-disagrees-with-offsets', mustReject: true, apply: editSafetensors((st, rng) => { const e = rng.pick(tensorEntries(st))[1]; e.shape = e.shape.map((d, i) => (i === 0 ? d + 1 + rng.int(5) : d)); }) },
  { name: 'shape-transposed', mustReject: true, apply: editSafetensors((st, rng) => { const e = rng.pick(tensorEntries(st).filter(([, v]) => v.shape.length === 2 && v.shape[0] !== v.shape[1]))[1]; e.shape = [e.shape[1]!, e.shape[0]!]; }) },
  { name: 'shape-nonsense', mustReject: true, apply: editSafetensors((st, rng) => { (rng.pick(tensorEntries(st))[1] as unknown as Record<string, unknown>).shape = rng.pick([[-1, 4], [1.5], ['a'], [2 ** 60, 2 ** 60], null, 'x', [deepArray(10)]]); }) },
  { name: 'offsets-nonsense', mustReject: true, apply: editSafetensors((st, rng) => { (rng.pick(tensorEntries(st))[1] as unknown as Record<string, unknown>).data_offsets = rng.pick([[-4, 0], [0.5, 4.5], [8, 4], ['0', '4'], [0], null, [2 ** 60, 2 ** 60 + 4]]); }) },
  {
    name: 'offsets-overlap',
    mustReject: true,
    apply: editSafetensors((st, rng) => {
      const entries = tensorEntries(st);
      const [, a] = rng.pick(entries);
      const same = entries.filter(([, e]) => e !== a && e.data_offsets[1] - e.data_offsets[0] <= st.data.byteLength - a.data_offsets[0]);
      const [, b] = rng.pick(same);
      const len = b.data_offsets[1] - b.data_offsets[0];
      b.data_offsets = [a.data_offsets[0], a.data_offsets[0] + len];
    }),
  },
  {
    name: 'gap-in-data',
    mustReject: true,
    apply: editSafetensors((st, rng) => {
      const entries = tensorEntries(st).sort((x, y) => x[1].data_offsets[0] - y[1].data_offsets[0]);
      const from = entries[rng.int(entries.length)]![1].data_offsets[0];
      const gap = 4 * (1 + rng.int(16));
      for (const [, e] of entries) if (e.data_offsets[0] >= from) e.data_offsets = [e.data_offsets[0] + gap, e.data_offsets[1] + gap];
      const data = new Uint8Array(st.data.byteLength + gap);
      data.set(st.data.subarray(0, from), 0);
      data.set(st.data.subarray(from), from + gap);
      return writeSafetensors(st.header, data);
    }),
  },
  { name: 'trailing-bytes', mustReject: true, apply: editSafetensors((st, rng) => { const data = new Uint8Array(st.data.byteLength + 1 + rng.int(64)); data.set(st.data); return writeSafetensors(st.header, data); }) },
  { name: 'truncated', mustReject: true, apply: (files, rng) => withFile(files, 'model.safetensors', files['model.safetensors']!.slice(0, rng.int(files['model.safetensors']!.byteLength - 1))) },
  { name: 'tensor-renamed', mustReject: true, apply: editSafetensors((st, rng) => { const [k, v] = rng.pick(tensorEntries(st)); delete st.header[k]; st.header[`${k}.x`] = v; }) },
  { name: 'metadata-not-strings', mustReject: true, apply: editSafetensors((st, rng) => { (st.header as Record<string, unknown>).__metadata__ = rng.pick([{ format: 1 }, [1], 'pt', { a: { b: 1 } }]); }) },
  { name: 'file-missing', mustReject: true, apply: (files) => withFile(files, 'model.safetensors', null) },
  { name: 'random-header-bytes', mustReject: false, apply: (files, rng) => { const b = files['model.safetensors']!; const len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)); return withFile(files, 'model.safetensors', flipBytes(b, rng, 1 + rng.int(4), 0, 8 + len)); } },
  { name: 'random-data-bytes', mustReject: false, apply: (files, rng) => { const b = files['model.safetensors']!; const len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)); return withFile(files, 'model.safetensors', flipBytes(b, rng, 1 + rng.int(64), 8 + len)); } },
]);

// ---- GGUF (rebuilt from the seed's metadata and tensors) ----

interface GgufEdit {
  metadata: GgufKv[];
  tensors: { name: string; type: number; ne: number[]; data: Uint8Array }[];
  version?: number;
  magic?: string;
  alignment?: number;
}

function editGguf(edit: (g: GgufEdit, rng: Rng) => Uint8Array | void): Mutation['apply'] {
  return (files, rng, seeds) => {
    const g: GgufEdit = { metadata: seeds.gguf.metadata.map((kv) => ({ ...kv })), tensors: seeds.gguf.tensors.map((t) => ({ ...t, ne: [...t.ne] })) };
    const out = edit(g, rng) ?? buildGguf(g);
    return withFile(files, 'model.gguf', out);
  };
}

const U32 = GgufValueType.UINT32;
const kvOf = (g: GgufEdit, suffix: string) => g.metadata.find((kv) => kv.key.endsWith(suffix));
const setKv = (g: GgufEdit, key: string, type: GgufValueType, value: unknown) => {
  const i = g.metadata.findIndex((kv) => kv.key === key);
  if (i >= 0) g.metadata[i] = { key, type, value };
  else g.metadata.push({ key, type, value });
};

/** Byte position of a tensor's offset field in the header (after its name, dims and type). */
function tensorOffsetField(bytes: Uint8Array, name: string, nDims: number): number {
  const needle = new Uint8Array(8 + name.length);
  new DataView(needle.buffer).setBigUint64(0, BigInt(name.length), true);
  needle.set(enc(name), 8);
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i + needle.length + 4 + 8 * nDims + 4;
  }
  throw new Error(`tensor ${name} not found in the header`);
}

function patchOffset(g: GgufEdit, rng: Rng, value: (own: bigint, other: bigint) => bigint): Uint8Array {
  const bytes = buildGguf(g);
  const t = rng.pick(g.tensors.slice(1));
  const other = rng.pick(g.tensors.filter((x) => x !== t));
  const at = tensorOffsetField(bytes, t.name, t.ne.length);
  const view = new DataView(bytes.buffer);
  const otherAt = tensorOffsetField(bytes, other.name, other.ne.length);
  view.setBigUint64(at, value(view.getBigUint64(at, true), view.getBigUint64(otherAt, true)), true);
  return bytes;
}

const ARCH_KEYS = ['context_length', 'embedding_length', 'feed_forward_length', 'block_count', 'attention.head_count', 'attention.head_count_kv', 'attention.key_length', 'rope.dimension_count'];

const gguf: Mutation[] = withSeed('gguf', [
  { name: 'bad-magic', mustReject: true, apply: editGguf((g, rng) => { g.magic = rng.pick(['GGUG', 'FUGG', '\0\0\0\0']); }) },
  { name: 'bad-version', mustReject: true, apply: editGguf((g, rng) => { g.version = rng.pick([0, 1, 4, 0x03000000, 2 ** 32 - 1]); }) },
  { name: 'offset-misaligned', mustReject: true, apply: editGguf((g, rng) => patchOffset(g, rng, (own) => own + BigInt(1 + rng.int(31)))) },
  { name: 'tensors-overlap', mustReject: true, apply: editGguf((g, rng) => patchOffset(g, rng, (_own, other) => other)) },
  { name: 'offset-past-end', mustReject: true, apply: editGguf((g, rng) => patchOffset(g, rng, () => rng.pick([2n ** 40n, 2n ** 63n, 1n << 20n]))) },
  { name: 'duplicate-metadata-key', mustReject: true, apply: editGguf((g, rng) => { const kv = rng.pick(g.metadata); g.metadata.splice(rng.int(g.metadata.length + 1), 0, { ...kv }); }) },
  { name: 'block-count-smaller', mustReject: true, apply: editGguf((g) => { const kv = kvOf(g, '.block_count')!; kv.value = (kv.value as number) - 1; }) },
  { name: 'block-count-huge', mustReject: true, apply: editGguf((g, rng) => { kvOf(g, '.block_count')!.value = rng.pick([1_000_000, 2 ** 32 - 1, 3, 257]); }) },
  {
    name: 'arch-value-nonsense',
    mustReject: true,
    apply: editGguf((g, rng) => {
      const key = `chatglm.${rng.pick(ARCH_KEYS)}`;
      const roll = rng.int(3);
      // (a context length of 1e6 is valid: only values outside every limit)
      if (roll === 0) setKv(g, key, U32, rng.pick(key.endsWith('context_length') ? [0, 2 ** 31, 2 ** 32 - 1] : [0, 2 ** 31, 2 ** 32 - 1, 1_000_000]));
      else if (roll === 1) setKv(g, key, GgufValueType.INT32, rng.pick([-1, -(2 ** 31)]));
      else setKv(g, key, GgufValueType.STRING, rng.pick(['abc', '', '4096']));
    }),
  },
  {
    name: 'float-value-nonsense',
    mustReject: true,
    apply: editGguf((g, rng) => {
      const key = rng.pick(['chatglm.attention.layer_norm_rms_epsilon', 'chatglm.rope.freq_base']);
      if (rng.int(4) === 0) setKv(g, key, GgufValueType.STRING, 'abc');
      else setKv(g, key, rng.pick([GgufValueType.FLOAT32, GgufValueType.FLOAT64]), rng.pick([-1, 0, NaN, Infinity, -Infinity, 1e300]));
    }),
  },
  { name: 'key-length-huge', mustReject: true, apply: editGguf((g, rng) => { setKv(g, 'chatglm.attention.key_length', U32, rng.pick([2 ** 20, 2 ** 31, 1024, 17])); }) },
  { name: 'architecture-changed', mustReject: true, apply: editGguf((g, rng) => { setKv(g, 'general.architecture', GgufValueType.STRING, rng.pick(['llama', '', 'chatglm\0', 'GLM4'])); }) },
  { name: 'alignment-nonsense', mustReject: true, apply: editGguf((g, rng) => { setKv(g, 'general.alignment', rng.pick([U32, GgufValueType.STRING]), rng.pick([0, 3, 48, 2 ** 31 + 1])); }) },
  { name: 'tensor-dims-changed', mustReject: true, apply: editGguf((g, rng) => { const t = rng.pick(g.tensors.filter((x) => x.ne.length === 2)); t.ne = [t.ne[0]!, t.ne[1]! * 2]; }) },
  { name: 'tensor-type-changed', mustReject: true, apply: editGguf((g, rng) => { const t = rng.pick(g.tensors); t.type = rng.pick([0, 1, 2, 3, 8, 12, 30, 40, 99].filter((x) => x !== t.type)); }) },
  // Not output.weight: a GGUF without it is a valid model with tied embeddings.
  { name: 'tensor-missing', mustReject: true, apply: editGguf((g, rng) => { g.tensors.splice(rng.pick(g.tensors.flatMap((t, i) => (t.name === 'output.weight' ? [] : [i]))), 1); }) },
  { name: 'tensor-extra', mustReject: true, apply: editGguf((g, rng) => { const t = rng.pick(g.tensors); g.tensors.push({ ...t, name: rng.pick(['blk.0.attn_k.bias', 'blk.1.ffn_gate.weight', 'blk.0.attn_output.bias', 'rope_freqs.weight', `${t.name}.copy`]) }); }) },
  { name: 'truncated', mustReject: true, apply: (files, rng) => withFile(files, 'model.gguf', files['model.gguf']!.slice(0, rng.int(files['model.gguf']!.byteLength - 1))) },
  { name: 'counts-huge', mustReject: true, apply: (files, rng) => { const b = files['model.gguf']!.slice(); new DataView(b.buffer).setBigUint64(rng.pick([8, 16]), rng.pick([2n ** 40n, 2n ** 63n, 10_000_000n]), true); return withFile(files, 'model.gguf', b); } },
  { name: 'random-header-bytes', mustReject: false, apply: (files, rng) => withFile(files, 'model.gguf', flipBytes(files['model.gguf']!, rng, 1 + rng.int(4), 0, 1024)) },
  { name: 'random-data-bytes', mustReject: false, apply: (files, rng) => withFile(files, 'model.gguf', flipBytes(files['model.gguf']!, rng, 1 + rng.int(64), 4096)) },
]);

// ---- package (manifest.json + shards) ----

type Part = { shard: number; offset: number; byteLength: number };
const partsOf = (m: Record<string, unknown>) =>
  Object.entries(m.tensors as Record<string, { parts: Record<string, Part>; shape: number[]; dtype: string }>)
    .flatMap(([path, t]) => Object.entries(t.parts).map(([name, p]) => ({ path, name, p, t })));
const shardNames = (files: Files) => Object.keys(files).filter((f) => f.startsWith('shard-'));

const pkg: Mutation[] = withSeed('package', [
  { name: 'part-offset-misaligned', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { const { p } = rng.pick(partsOf(m)); p.offset += rng.pick([1, 4, 8, 128, 255]); }) },
  {
    name: 'parts-overlap',
    mustReject: true,
    apply: (files, rng) =>
      withJson(files, 'manifest.json', (m) => {
        const parts = partsOf(m);
        const a = rng.pick(parts);
        const b = rng.pick(parts.filter((x) => x !== a));
        b.p.shard = a.p.shard;
        b.p.offset = a.p.offset;
      }),
  },
  { name: 'part-length-changed', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { rng.pick(partsOf(m)).p.byteLength += rng.pick([-4, 4, 256, -256]); }) },
  { name: 'part-nonsense', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { const x = rng.pick(partsOf(m)); (x.p as unknown as Record<string, unknown>)[rng.pick(['shard', 'offset', 'byteLength'])] = rng.pick([-1, 1.5, 2 ** 53, '0', null, 1e308]); }) },
  { name: 'tensor-shape-changed', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { const x = rng.pick(partsOf(m)); x.t.shape = x.t.shape.map((d, i) => (i === 0 ? d * 2 : d)); }) },
  { name: 'tensor-dtype-changed', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { const x = rng.pick(partsOf(m)); x.t.dtype = rng.pick(['f32', 'q8', 'q4', 'f16', ''].filter((d) => d !== x.t.dtype)); }) },
  { name: 'tensor-missing', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { const t = m.tensors as Record<string, unknown>; delete t[rng.pick(Object.keys(t))]; }) },
  { name: 'alignment-changed', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { m.alignment = rng.pick([1, 4, 128, 512, 0, -256, '256']); }) },
  { name: 'shard-hash-changed', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { const s = rng.pick(m.shards as { sha256: string }[]); s.sha256 = s.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0')); }) },
  { name: 'shard-size-changed', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { rng.pick(m.shards as { bytes: number }[]).bytes += rng.pick([-1, 1, 256, -4096]); }) },
  { name: 'shard-byte-flipped', mustReject: true, apply: (files, rng) => { const s = rng.pick(shardNames(files)); return withFile(files, s, flipBytes(files[s]!, rng, 1 + rng.int(4))); } },
  { name: 'shard-truncated', mustReject: true, apply: (files, rng) => { const s = rng.pick(shardNames(files)); return withFile(files, s, files[s]!.slice(0, rng.int(files[s]!.byteLength))); } },
  { name: 'shard-extended', mustReject: true, apply: (files, rng) => { const s = rng.pick(shardNames(files)); const b = new Uint8Array(files[s]!.byteLength + 1 + rng.int(300)); b.set(files[s]!); return withFile(files, s, b); } },
  { name: 'shard-missing', mustReject: true, apply: (files, rng) => withFile(files, rng.pick(shardNames(files)), null) },
  { name: 'shards-swapped', mustReject: true, apply: (files, rng) => { const [a, b] = [rng.pick(shardNames(files)), rng.pick(shardNames(files))]; if (a === b) return withFile(files, a, flipBytes(files[a]!, rng, 1)); return { ...files, [a]: files[b]!, [b]: files[a]! }; } },
  { name: 'format-version', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { if (rng.int(2)) m.version = rng.pick([0, 2, '1', null]); else m.format = rng.pick(['gguf', '', null]); }) },
  { name: 'config-layers-huge', mustReject: true, apply: (files, rng) => withJson(files, 'manifest.json', (m) => { (m.config as Record<string, unknown>).num_hidden_layers = rng.pick([1_000_000, 2 ** 53, 1, 3, 1e308]); }) },
  { name: 'manifest-damaged', mustReject: true, apply: (files, rng) => withFile(files, 'manifest.json', rng.pick([deepArray(100_000), deepObject(100_000), '{', '', '[]', 'null'])) },
  { name: 'manifest-random-edit', mustReject: false, apply: (files, rng) => randomJsonEdit(files, 'manifest.json', rng) },
]);

// ---- config.json (of the hf seed and of the SentencePiece / ChatGLM2 seed) ----

const HF_FIELDS = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings'];
const GLM2_FIELDS = ['padded_vocab_size', 'hidden_size', 'ffn_hidden_size', 'num_layers', 'num_attention_heads', 'multi_query_group_num', 'kv_channels', 'seq_length'];
const BAD_SIZES: unknown[] = [2 ** 53, 1e308, 1e6, 2 ** 31, -1, 0, 1.5, -64, '64', 'abc', true, [32], { a: 1 }];
const BAD_FLOATS: unknown[] = [-1, 0, -0.5, 1e308, 'abc', '1e-5', true, [1e-5], { a: 1 }];
const BAD_BOOLS: unknown[] = ['abc', 'true', 1, 0, [true], { a: true }];
const BAD_IDS: unknown[] = [-1, 1.5, 'x', 1e9, 2 ** 53, [1e9], [-5], [1.5], [true], { a: 1 }];

function configMutations(seed: 'hf' | 'sp'): Mutation[] {
  const hf = seed === 'hf';
  const sizes = hf ? HF_FIELDS : GLM2_FIELDS;
  const eps = hf ? 'rms_norm_eps' : 'layernorm_epsilon';
  const bools = hf ? ['tie_word_embeddings', 'attention_bias'] : ['add_qkv_bias', 'add_bias_linear', 'multi_query_attention', 'rmsnorm'];
  const edit = (f: (c: Record<string, unknown>, rng: Rng) => void): Mutation['apply'] => (files, rng) => withJson(files, 'config.json', (c) => f(c, rng));
  const list: Omit<Mutation, 'seed'>[] = [
    {
      name: 'size-field-nonsense',
      mustReject: true,
      // A context length of 1e6 is valid (GLM-4-9B-chat-1m): for the context field only values outside every limit.
      apply: edit((c, rng) => { const f = rng.pick(sizes); c[f] = rng.pick(/seq_length|position/.test(f) ? BAD_SIZES.filter((v) => v !== 1e6) : BAD_SIZES); }),
    },
    { name: 'size-field-deep', mustReject: true, apply: (files, rng) => withJsonDeep(files, 'config.json', (c) => { c[rng.pick(sizes)] = DEEP; }, deepArray(50_000 + rng.int(50_000))) },
    { name: 'epsilon-nonsense', mustReject: true, apply: edit((c, rng) => { c[eps] = rng.pick(BAD_FLOATS); }) },
    { name: 'flag-not-boolean', mustReject: true, apply: edit((c, rng) => { c[rng.pick(bools)] = rng.pick(BAD_BOOLS); }) },
    { name: 'token-id-nonsense', mustReject: true, apply: edit((c, rng) => { c[rng.pick(['eos_token_id', 'pad_token_id', 'bos_token_id'])] = rng.pick(BAD_IDS); }) },
    { name: 'model-type-changed', mustReject: true, apply: edit((c, rng) => { c.model_type = rng.pick(['llama', 'chatglm3', 1, null, ['glm'], { a: 1 }]); }) },
    { name: 'model-type-deep', mustReject: true, apply: (files) => withJsonDeep(files, 'config.json', (c) => { c.model_type = DEEP; }, deepObject(50_000)) },
    { name: 'not-an-object', mustReject: true, apply: (files, rng) => withFile(files, 'config.json', rng.pick([deepArray(100_000), deepObject(100_000), '[]', 'null', '{', '', '"glm"'])) },
    { name: 'missing', mustReject: true, apply: (files) => withFile(files, 'config.json', null) },
    { name: 'random-edit', mustReject: false, apply: (files, rng) => randomJsonEdit(files, 'config.json', rng) },
  ];
  if (hf) {
    list.push(
      { name: 'rope-theta-nonsense', mustReject: true, apply: edit((c, rng) => { c.rope_theta = rng.pick(BAD_FLOATS); }) },
      { name: 'partial-rotary-nonsense', mustReject: true, apply: edit((c, rng) => { c.partial_rotary_factor = rng.pick([0, -1, -0.5, 2, 1e308, 'abc', true, 0.001]); }) },
      { name: 'rope-valid-change', mustReject: false, apply: edit((c, rng) => { c.rope_theta = rng.pick([500, 1e6]); c.partial_rotary_factor = rng.pick([0.25, 1]); }) },
    );
  } else {
    list.push({ name: 'rope-ratio-nonsense', mustReject: true, apply: edit((c, rng) => { c.rope_ratio = rng.pick(BAD_FLOATS); }) });
  }
  return withSeed(seed, list);
}

// ---- tokenizer.json and tokenizer_config.json (hf seed) ----

type TokJson = { added_tokens: { id: unknown; content: string }[]; model: { vocab: Record<string, unknown>; merges: unknown[] }; pre_tokenizer: unknown };
const editTok = (f: (t: TokJson, rng: Rng) => void): Mutation['apply'] => (files, rng) => withJson(files, 'tokenizer.json', (t) => f(t as unknown as TokJson, rng));

const tokenizerJson: Mutation[] = withSeed('hf', [
  { name: 'added-token-id-invalid', mustReject: true, apply: editTok((t, rng) => { rng.pick(t.added_tokens).id = rng.pick([-1, 1.5, '3', 1e9, 2 ** 53, null]); }) },
  { name: 'added-token-id-duplicate', mustReject: true, apply: editTok((t, rng) => { const a = rng.pick(t.added_tokens); const b = rng.pick(t.added_tokens.filter((x) => x !== a)); b.id = a.id; }) },
  { name: 'added-token-id-beyond-model', mustReject: true, apply: editTok((t, rng) => { rng.pick(t.added_tokens).id = rng.pick([3013, 5000, 100_000]); }) },
  { name: 'vocab-id-invalid', mustReject: true, apply: editTok((t, rng) => { const keys = Object.keys(t.model.vocab); t.model.vocab[rng.pick(keys)] = rng.pick([-1, 1.5, 'x', 1e9, 2 ** 53, 3013]); }) },
  { name: 'vocab-id-duplicate', mustReject: true, apply: editTok((t, rng) => { const keys = Object.keys(t.model.vocab); t.model.vocab[rng.pick(keys)] = t.model.vocab[rng.pick(keys)]; }) },
  { name: 'merges-not-strings', mustReject: true, apply: editTok((t, rng) => { t.model.merges[rng.int(t.model.merges.length)] = rng.pick([1, null, { a: 1 }, [1, 2], true]); }) },
  { name: 'split-regex-catastrophic', mustReject: false, apply: editTok((t, rng) => { t.pre_tokenizer = { type: 'Split', pattern: { Regex: rng.pick(['(a+)+$', '(\\w+\\s?)*$', '(.*a){20}', '([a-z]+)*x']) }, behavior: 'Isolated', invert: false }; }) },
  { name: 'damaged', mustReject: true, apply: (files, rng) => withFile(files, 'tokenizer.json', rng.pick([deepArray(100_000), deepObject(100_000), '{', '', '[]', 'null'])) },
  { name: 'random-edit', mustReject: false, apply: (files, rng) => randomJsonEdit(files, 'tokenizer.json', rng) },
]);

const tokenizerConfig: Mutation[] = withSeed('hf', [
  { name: 'template-huge-loop', mustReject: false, apply: (files, rng) => withJson(files, 'tokenizer_config.json', (c) => { c.chat_template = rng.pick(['{% for i in range(100000000) %}x{% endfor %}', '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}', "{{ 'x' * 1000000000 }}"]); }) },
  { name: 'template-syntax-error', mustReject: true, apply: (files, rng) => withJson(files, 'tokenizer_config.json', (c) => { c.chat_template = rng.pick(['{% for %}', '{{', '{% if x %}', '{% endfor %}']); }) },
  { name: 'template-not-string', mustReject: false, apply: (files, rng) => withJson(files, 'tokenizer_config.json', (c) => { c.chat_template = rng.pick([1, true, [{ name: 'x' }], { a: 1 }]); }) },
  { name: 'special-token-nonsense', mustReject: false, apply: (files, rng) => withJson(files, 'tokenizer_config.json', (c) => { c[rng.pick(['eos_token', 'bos_token', 'pad_token'])] = rng.pick([1, null, { content: 5 }, 'x'.repeat(100_000)]); }) },
  { name: 'damaged', mustReject: true, apply: (files, rng) => withFile(files, 'tokenizer_config.json', rng.pick([deepArray(100_000), deepObject(100_000), '{', '[]', 'null'])) },
  { name: 'random-edit', mustReject: false, apply: (files, rng) => randomJsonEdit(files, 'tokenizer_config.json', rng) },
]);

// ---- SentencePiece tokenizer.model (sp seed) ----

const withSp = (files: Files, edit: (p: ReturnType<typeof spPieces>, rng: Rng) => void, rng: Rng): Files => {
  const pieces = spPieces();
  edit(pieces, rng);
  return withFile(files, 'tokenizer.model', encodeSpModel(pieces));
};

const sentencepiece: Mutation[] = withSeed('sp', [
  { name: 'piece-huge', mustReject: false, apply: (files, rng) => withSp(files, (p, r) => { p[259 + r.int(10)]!.piece = 'a'.repeat(rng.pick([200_000, 1_000_000])); }, rng) },
  { name: 'piece-type-invalid', mustReject: false, apply: (files, rng) => withSp(files, (p, r) => { p[r.int(p.length)]!.type = r.pick([0, 5, 7, 99]); }, rng) },
  { name: 'score-nonsense', mustReject: false, apply: (files, rng) => withSp(files, (p, r) => { p[r.int(p.length)]!.score = r.pick([NaN, Infinity, -Infinity, 1e38]); }, rng) },
  { name: 'pieces-duplicate', mustReject: false, apply: (files, rng) => withSp(files, (p, r) => { p[259 + r.int(20)]!.piece = p[259 + r.int(20)]!.piece; }, rng) },
  { name: 'no-pieces', mustReject: true, apply: (files) => withFile(files, 'tokenizer.model', encodeSpModel([])) },
  { name: 'length-varint-huge', mustReject: true, apply: (files, rng) => withFile(files, 'tokenizer.model', Uint8Array.from([0x0a, ...rng.pick([[0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80]]), 1, 2, 3])) },
  { name: 'truncated', mustReject: false, apply: (files, rng) => withFile(files, 'tokenizer.model', files['tokenizer.model']!.slice(0, rng.int(files['tokenizer.model']!.byteLength))) },
  { name: 'random-bytes', mustReject: false, apply: (files, rng) => withFile(files, 'tokenizer.model', flipBytes(files['tokenizer.model']!, rng, 1 + rng.int(16))) },
  { name: 'damaged', mustReject: false, apply: (files, rng) => randomTextDamage(files, 'tokenizer.model', rng) },
]);

export const MUTATIONS: Record<FuzzFormat, Mutation[]> = {
  safetensors,
  gguf,
  package: pkg,
  'config.json': [...configMutations('hf'), ...configMutations('sp')],
  'tokenizer.json': tokenizerJson,
  'tokenizer_config.json': tokenizerConfig,
  sentencepiece,
};

/**
 * Tokenizer cases that fail on this branch and wait for the tokenizer bounds of issue #18 (engineer "tok":
 * vocabulary id checks, chat-template budget, tokenizer_config.json shape). They stay in the long run
 * (`npm run fuzz`, which reports them); the bounded run in `npm test` leaves them out until that merge.
 */
export const PENDING_TOKENIZER_FIXES: Readonly<Partial<Record<FuzzFormat, readonly string[]>>> = {};

export function isPendingTokenizerFix(spec: CaseSpec): boolean {
  return PENDING_TOKENIZER_FIXES[spec.format]?.includes(MUTATIONS[spec.format][spec.mutation]!.name) ?? false;
}

export interface CaseSpec {
  format: FuzzFormat;
  /** Index into MUTATIONS[format]. */
  mutation: number;
  caseSeed: number;
}

export function caseLabel(spec: CaseSpec): string {
  const m = MUTATIONS[spec.format][spec.mutation]!;
  return `${spec.format}:${m.seed}/${m.name}:${spec.caseSeed}`;
}

/** `count` cases spread evenly over `formats`, mutations picked by a generator seeded with `seed`. */
export function planCases(count: number, seed: number, formats: readonly FuzzFormat[] = FUZZ_FORMATS): CaseSpec[] {
  const rng = makeRng(seed);
  const out: CaseSpec[] = [];
  for (let i = 0; i < count; i++) {
    const format = formats[i % formats.length]!;
    // Each mutation of a format gets its turn before any repeats, then random picks.
    const n = MUTATIONS[format].length;
    const round = Math.floor(i / formats.length);
    out.push({ format, mutation: round < n ? round : rng.int(n), caseSeed: (seed * 1_000_003 + i) >>> 0 });
  }
  return out;
}

export function buildCase(spec: CaseSpec, seeds: Seeds): MutatedCase {
  const m = MUTATIONS[spec.format][spec.mutation]!;
  const files = m.apply(seeds.files[m.seed], makeRng(spec.caseSeed), seeds);
  return { format: spec.format, mutation: m.name, caseSeed: spec.caseSeed, seedName: m.seed, mustReject: m.mustReject, files };
}
