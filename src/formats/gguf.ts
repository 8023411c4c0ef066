// GGUF reader (llama.cpp's format, versions 2 and 3): https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
//
//   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
//   metadata_kv_count x { string key, u32 value_type, value }
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the tensor data; each offset is relative to it.
//
// Strings are u64 length + UTF-8 bytes. ggml lists dimensions innermost first: ne[0] is the number of
// columns, so a PyTorch Linear weight [out, in] has ne = [in, out]; this module reverses ne into the
// row-major shape everything else uses. Quantized blocks run along ne[0] (along each row).
//
// Only the header is read up front (in chunks, never the whole file); tensors are read one at a time.
// Architectures: `chatglm` (llama.cpp's name for ChatGLM2/3, GLM-4-9B-chat and GLM-Edge) and `glm4`
// (GLM-4-0414). Tensor types F32, F16, BF16 and the quantized blocks of src/quant/gguf-blocks.ts (Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS) in any per-tensor mix, repacked into Q4/Q8/QX.
import { GlmError } from '../errors';
import { normalizeConfig, UnsupportedModelError, type GlmConfig } from '../model/config';
import type { HostWeight, LoadWeightsOptions } from '../model/weights';
import type { ModelWeights } from '../model/weights-types';
import { dequantize } from '../quant/index';
import { importGgufBlocks, isGgufBlockType } from '../quant/gguf-blocks';
import { assembleWeights, checkWeight } from './assemble';
import { memoryByteSource, MissingFileError, TruncatedFileError } from './byte-source';
import type { ByteSource, ModelFiles } from './byte-source';
import { bf16ArrayToF32, f16ArrayToF32 } from './dtype';
import { checkAllTensorsUsed, checkGgufTensorLayout, stackedShapeMatches } from './gguf-checks';
import { TensorNotFoundError, similarNames } from './safetensors';
import { TokenizerLimitError } from '../tokenizer/errors';
import { serializeSentencePieceModel, type SentencePiece, type SentencePieceType } from '../tokenizer/sentencepiece';
import { MAX_TOKEN_ID } from '../tokenizer/types';
import { WeightShapeError, weightRecipes } from '../model/weights';
import { checkLayerCount, checkPositiveFinite, checkPositiveInt } from '../model/limits';

/** Not a GGUF file, or a malformed one (bad magic, impossible counts, bad value types). */
export class GgufFormatError extends GlmError {
  override name = 'GgufFormatError';
}

/** A GGUF version this reader does not handle (v1, big-endian files, future versions). */
export class UnsupportedGgufVersionError extends GlmError {
  override name = 'UnsupportedGgufVersionError';
}

/** A tensor of a ggml type this build cannot load (K-quants, IQ-quants, ...). */
export class UnsupportedGgufTypeError extends GlmError {
  override name = 'UnsupportedGgufTypeError';
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** The name under which a ModelFiles exposes a GGUF file (see ggufModelFiles). */
export const GGUF_FILE_NAME = 'model.gguf';

export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

/**
 * ggml tensor types: [name, elements per block, bytes per block]. Every type is listed so that files
 * holding types we cannot load still open (and the error names the type); ids 4, 5, 31-33 and 36-38
 * are retired in ggml.
 */
export const GGML_TYPES: Readonly<Record<number, readonly [string, number, number]>> = {
  0: ['F32', 1, 4],
  1: ['F16', 1, 2],
  2: ['Q4_0', 32, 18],
  3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24],
  8: ['Q8_0', 32, 34],
  9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84],
  11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144],
  13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210],
  15: ['Q8_K', 256, 292],
  16: ['IQ2_XXS', 256, 66],
  17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98],
  19: ['IQ1_S', 256, 50],
  20: ['IQ4_NL', 32, 18],
  21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82],
  23: ['IQ4_XS', 256, 136],
  24: ['I8', 1, 1],
  25: ['I16', 1, 2],
  26: ['I32', 1, 4],
  27: ['I64', 1, 8],
  28: ['F64', 1, 8],
  29: ['IQ1_M', 256, 56],
  30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54],
  35: ['TQ2_0', 256, 66],
  39: ['MXFP4', 32, 17],
};
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
const LOADABLE_TYPES = 'F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS';

/** Whether tensors of this ggml type load (dense float types, or a block type of gguf-blocks.ts). */
export function isLoadableGgmlType(type: number): boolean {
  return type === GGML_TYPE.F32 || type === GGML_TYPE.F16 || type === GGML_TYPE.BF16 || isGgufBlockType(ggmlTypeName(type));
}

/** The file's tensor types with their counts, most frequent first: "Q4_K x5, Q6_K x3, F32 x6". */
export function ggufTypeMix(g: Pick<GgufFile, 'tensors'>): string {
  const counts = new Map<string, number>();
  for (const t of g.tensors.values()) counts.set(t.typeName, (counts.get(t.typeName) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} x${n}`).join(', ');
}

/** Refuses a file holding any tensor type this build cannot load, naming the whole mix and the fix. */
export function checkGgufTypes(g: GgufFile): void {
  const bad = [...g.tensors.values()].filter((t) => !isLoadableGgmlType(t.type));
  if (bad.length === 0) return;
  const types = [...new Set(bad.map((t) => t.typeName))];
  throw new UnsupportedGgufTypeError(
    `${g.source.name}: ${bad.length} tensor(s) are ${types.join(', ')} (e.g. "${bad[0]!.name}"), which this build cannot load. ` +
      `The file's tensor types: ${ggufTypeMix(g)}. This build loads ${LOADABLE_TYPES}. ` +
      'Re-quantize from the F16/BF16/F32 GGUF with llama-quantize (e.g. `llama-quantize model-f16.gguf out.gguf Q4_K_M`); ' +
      'do not use --allow-requantize on an already quantized file, which compounds the rounding.',
  );
}

export type GgufArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];
/** 64-bit integers are numbers when they fit in a double exactly, bigints otherwise. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufTensorInfo {
  name: string;
  type: number;
  typeName: string;
  /** ggml's dims, innermost first. */
  ne: number[];
  /** Row-major shape: ne reversed ([rows, cols] for a matrix). */
  shape: number[];
  /** Absolute file position of the first byte. */
  byteOffset: number;
  byteLength: number;
  source: ByteSource;
}

export interface GgufFile {
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  /** Value type of each metadata key (arrays: ARRAY). */
  metadataTypes: Map<string, GgufValueType>;
  tensors: Map<string, GgufTensorInfo>;
  /** Absolute position of the tensor data section. */
  dataOffset: number;
  source: ByteSource;
}

export function ggmlTypeName(type: number): string {
  return GGML_TYPES[type]?.[0] ?? `ggml type ${type}`;
}

// ---- header parsing ----

const CHUNK = 1 << 20;
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Sequential reads over a ByteSource through a refilled buffer (the header can be tens of MB of vocabulary). */
class Cursor {
  pos: number;
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(
    private readonly source: ByteSource,
    start = 0,
  ) {
    this.pos = start;
  }

  async need(n: number, what: string): Promise<void> {
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.byteLength) return;
    const left = this.source.size - this.pos;
    if (n > left) {
      throw new TruncatedFileError(`${this.source.name}: the GGUF header needs ${n} more bytes at offset ${this.pos} (${what}) but the file ends after ${left}; the file was cut short`);
    }
    this.buf = await this.source.read(this.pos, Math.min(left, Math.max(n, CHUNK)));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u8(): number {
    return this.view.getUint8(this.at(1));
  }
  u32(): number {
    return this.view.getUint32(this.at(4), true);
  }
  u64(): bigint {
    return this.view.getBigUint64(this.at(8), true);
  }

  bytes(n: number): Uint8Array {
    const o = this.at(n);
    return this.buf.subarray(o, o + n);
  }

  /** A copy of n bytes as a fresh, 8-byte aligned buffer (for typed array views). */
  copy(n: number): ArrayBuffer {
    const out = new Uint8Array(n);
    out.set(this.bytes(n));
    return out.buffer;
  }
}

function num(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

async function readCount(c: Cursor, what: string, max: number): Promise<number> {
  await c.need(8, what);
  const v = c.u64();
  if (v > BigInt(max)) throw new GgufFormatError(`${what}: ${v} is impossible for a ${max}-byte file; the file is corrupt or not GGUF`);
  return Number(v);
}

async function readString(c: Cursor, what: string, size: number): Promise<string> {
  const len = await readCount(c, `${what} (string length)`, size);
  await c.need(len, what);
  return decoder.decode(c.bytes(len));
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

async function readValue(c: Cursor, type: number, what: string, size: number, depth = 0): Promise<GgufValue> {
  if (type === GgufValueType.STRING) return readString(c, what, size);
  if (type === GgufValueType.ARRAY) {
    if (depth > 8) throw new GgufFormatError(`${what}: arrays nested more than 8 deep`);
    await c.need(4, what);
    const elemType = c.u32();
    const count = await readCount(c, `${what} (array length)`, size);
    return readArray(c, elemType, count, what, size, depth + 1);
  }
  const width = SCALAR_SIZE[type];
  if (width === undefined) throw new GgufFormatError(`${what}: unknown metadata value type ${type}`);
  await c.need(width, what);
  const o = c.bytes(width);
  const v = new DataView(o.buffer, o.byteOffset, width);
  switch (type) {
    case GgufValueType.UINT8:
      return v.getUint8(0);
    case GgufValueType.INT8:
      return v.getInt8(0);
    case GgufValueType.UINT16:
      return v.getUint16(0, true);
    case GgufValueType.INT16:
      return v.getInt16(0, true);
    case GgufValueType.UINT32:
      return v.getUint32(0, true);
    case GgufValueType.INT32:
      return v.getInt32(0, true);
    case GgufValueType.FLOAT32:
      return v.getFloat32(0, true);
    case GgufValueType.BOOL:
      return v.getUint8(0) !== 0;
    case GgufValueType.UINT64:
      return num(v.getBigUint64(0, true));
    case GgufValueType.INT64:
      return num(v.getBigInt64(0, true));
    default:
      return v.getFloat64(0, true);
  }
}

const hostIsLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

async function readArray(c: Cursor, type: number, count: number, what: string, size: number, depth: number): Promise<GgufArray> {
  const width = SCALAR_SIZE[type];
  if (width !== undefined && type !== GgufValueType.BOOL) {
    if (count * width > size) throw new GgufFormatError(`${what}: an array of ${count} values does not fit in the file`);
    await c.need(count * width, what);
    if (!hostIsLittleEndian) throw new UnsupportedGgufVersionError('reading GGUF arrays on a big-endian host is not supported');
    const buf = c.copy(count * width);
    switch (type) {
      case GgufValueType.UINT8:
        return new Uint8Array(buf);
      case GgufValueType.INT8:
        return new Int8Array(buf);
      case GgufValueType.UINT16:
        return new Uint16Array(buf);
      case GgufValueType.INT16:
        return new Int16Array(buf);
      case GgufValueType.UINT32:
        return new Uint32Array(buf);
      case GgufValueType.INT32:
        return new Int32Array(buf);
      case GgufValueType.FLOAT32:
        return new Float32Array(buf);
      case GgufValueType.UINT64:
        return new BigUint64Array(buf);
      case GgufValueType.INT64:
        return new BigInt64Array(buf);
      default:
        return new Float64Array(buf);
    }
  }
  if (type === GgufValueType.BOOL) {
    await c.need(count, what);
    return Array.from(c.bytes(count), (b) => b !== 0);
  }
  if (type !== GgufValueType.STRING && type !== GgufValueType.ARRAY) throw new GgufFormatError(`${what}: unknown array element type ${type}`);
  // Every string or nested array takes at least 8 bytes: a cheap bound against absurd counts.
  if (count * 8 > size) throw new GgufFormatError(`${what}: an array of ${count} values does not fit in the file`);
  const out: GgufValue[] = [];
  for (let i = 0; i < count; i++) out.push(await readValue(c, type, `${what}[${i}]`, size, depth));
  return out as GgufArray;
}

/** Parses the header of a GGUF file: metadata and tensor infos. Reads only the header's bytes. */
export async function openGguf(source: ByteSource): Promise<GgufFile> {
  const file = source.name;
  if (source.size < 24) throw new TruncatedFileError(`${file}: ${source.size} bytes is too short for a GGUF file (the fixed header alone is 24 bytes)`);
  const c = new Cursor(source);
  await c.need(8, 'magic and version');
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    throw new GgufFormatError(`${file}: not a GGUF file (the first 4 bytes are ${JSON.stringify(decoder.decode(new Uint8Array(new Uint32Array([magic]).buffer)))}, expected "GGUF")`);
  }
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    const hint =
      version === 1
        ? 'GGUF v1 is obsolete; re-convert the model with a current llama.cpp'
        : (version & 0xffff) === 0 && version >>> 16 !== 0
          ? 'this looks like a big-endian GGUF file; use a little-endian one'
          : 'this build reads GGUF versions 2 and 3';
    throw new UnsupportedGgufVersionError(`${file}: GGUF version ${version >>> 0}: ${hint}`);
  }
  const tensorCount = await readCount(c, 'tensor count', source.size);
  const kvCount = await readCount(c, 'metadata count', source.size);

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, GgufValueType>();
  for (let i = 0; i < kvCount; i++) {
    const key = await readString(c, `metadata key ${i}`, source.size);
    // A second value under the same key would silently replace the first: which one a reader takes is not defined.
    if (metadata.has(key)) throw new GgufFormatError(`${file}: metadata key "${key}" appears twice (entry ${i}); the file is corrupt`);
    await c.need(4, `type of "${key}"`);
    const type = c.u32();
    metadata.set(key, await readValue(c, type, `${file}: metadata "${key}"`, source.size));
    metadataTypes.set(key, type as GgufValueType);
  }

  const alignmentValue = metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignmentValue !== 'number' || !Number.isInteger(alignmentValue) || alignmentValue < 1 || (alignmentValue & (alignmentValue - 1)) !== 0) {
    throw new GgufFormatError(`${file}: general.alignment must be a power of two, got ${String(alignmentValue)}`);
  }
  const alignment = alignmentValue;

  const infos: Omit<GgufTensorInfo, 'byteOffset'>[] = [];
  const relOffsets: number[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await readString(c, `tensor ${i} name`, source.size);
    await c.need(4, `dims of "${name}"`);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) throw new GgufFormatError(`${file}: tensor "${name}" has ${nDims} dimensions (ggml allows 1 to 4)`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(await readCount(c, `dim ${d} of "${name}"`, Number.MAX_SAFE_INTEGER));
    await c.need(4, `type of "${name}"`);
    const type = c.u32();
    const offset = await readCount(c, `offset of "${name}"`, source.size);
    const spec = GGML_TYPES[type];
    if (!spec) throw new UnsupportedGgufTypeError(`${file}: tensor "${name}" has unknown ggml type ${type}; this build loads ${LOADABLE_TYPES}`);
    const [typeName, blockSize, blockBytes] = spec;
    const elements = ne.reduce((a, b) => a * b, 1);
    if (ne[0]! % blockSize !== 0) throw new GgufFormatError(`${file}: tensor "${name}" is ${typeName} but its row length ${ne[0]} is not a multiple of the block size ${blockSize}`);
    const byteLength = (elements / blockSize) * blockBytes;
    if (!Number.isSafeInteger(byteLength)) throw new GgufFormatError(`${file}: tensor "${name}" is impossibly large`);
    infos.push({ name, type, typeName, ne, shape: [...ne].reverse(), byteLength, source });
    relOffsets.push(offset);
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const layout = infos.map((info, i) => ({ name: info.name, relOffset: relOffsets[i]!, byteLength: info.byteLength }));
  checkGgufTensorLayout(file, layout, alignment, source.size - dataOffset);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const [i, info] of infos.entries()) {
    if (tensors.has(info.name)) throw new GgufFormatError(`${file}: tensor "${info.name}" appears twice`);
    const byteOffset = dataOffset + relOffsets[i]!;
    if (byteOffset + info.byteLength > source.size) {
      throw new TruncatedFileError(
        `${file}: tensor "${info.name}" needs bytes ${byteOffset}..${byteOffset + info.byteLength} but the file is only ${source.size} bytes long; the file was cut short`,
      );
    }
    tensors.set(info.name, { ...info, byteOffset });
  }
  return { version, alignment, metadata, metadataTypes, tensors, dataOffset, source };
}

// ---- tensors ----

/** Loads one tensor: dense types as float32, quantized blocks repacked (gguf-blocks.ts), anything else refused. */
export async function readGgufTensor(info: GgufTensorInfo): Promise<HostWeight> {
  return decodeTensor(info, await info.source.read(info.byteOffset, info.byteLength));
}

function unsupportedType(info: GgufTensorInfo): UnsupportedGgufTypeError {
  return new UnsupportedGgufTypeError(
    `${info.source.name}: tensor "${info.name}" is ${info.typeName}; this build loads ${LOADABLE_TYPES}. ` +
      'Re-quantize from the F16/BF16/F32 GGUF with llama-quantize (not --allow-requantize from a quantized file).',
  );
}

function decodeTensor(info: GgufTensorInfo, bytes: Uint8Array<ArrayBuffer>): HostWeight {
  const { shape } = info;
  const rows = shape.length === 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const cols = shape.at(-1)!;
  switch (info.type) {
    case GGML_TYPE.F32: {
      const data = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(data.buffer).set(bytes);
      return { dtype: 'f32', shape: [...shape], data };
    }
    case GGML_TYPE.F16:
    case GGML_TYPE.BF16: {
      const bits = new Uint16Array(bytes.byteLength / 2);
      new Uint8Array(bits.buffer).set(bytes);
      const data = info.type === GGML_TYPE.F16 ? f16ArrayToF32(bits) : bf16ArrayToF32(bits);
      return { dtype: 'f32', shape: [...shape], data };
    }
    default: {
      if (!isGgufBlockType(info.typeName)) throw unsupportedType(info);
      const q = importGgufBlocks(info.typeName, bytes, rows, cols);
      // A quantized vector (never seen in practice) is handed on dense: quantized weights are matrices.
      return shape.length === 2 ? q : { dtype: 'f32', shape: [...shape], data: dequantize(q) };
    }
  }
}

function concatRows(parts: HostWeight[], shape: number[]): HostWeight {
  if (parts.length === 1) return parts[0]!;
  const dense = parts.map((p) => (p.dtype === 'f32' ? p.data : dequantize(p)));
  const data = new Float32Array(dense.reduce((s, d) => s + d.length, 0));
  let o = 0;
  for (const d of dense) {
    data.set(d, o);
    o += d.length;
  }
  return { dtype: 'f32', shape, data };
}

/**
 * Reads several GGUF tensors stacked by rows (q, k, v -> qkv; gate, up -> mlpUp). Same quantized type:
 * the blocks are concatenated and imported once, so the result is exact. Mixed types: dense float32.
 */
async function readStacked(infos: GgufTensorInfo[], shape: number[]): Promise<HostWeight> {
  if (infos.length === 1) return readGgufTensor(infos[0]!);
  const types = new Set(infos.map((i) => i.type));
  const first = infos[0]!;
  if (types.size === 1 && isGgufBlockType(first.typeName) && shape.length === 2) {
    const total = infos.reduce((s, i) => s + i.byteLength, 0);
    const bytes = new Uint8Array(total);
    let o = 0;
    for (const info of infos) {
      bytes.set(await info.source.read(info.byteOffset, info.byteLength), o);
      o += info.byteLength;
    }
    const merged: GgufTensorInfo = { ...first, name: infos.map((i) => i.name).join(' + '), ne: [...shape].reverse(), shape, byteLength: total };
    return decodeTensor(merged, bytes);
  }
  const parts: HostWeight[] = [];
  for (const info of infos) parts.push(await readGgufTensor(info));
  return concatRows(parts, shape);
}

/** llama.cpp tensor names that make up a canonical path ('layers.3.qkv.weight' -> blk.3.attn_qkv.weight or attn_q/k/v). */
export function ggufSourceNames(path: string, has: (name: string) => boolean): string[] {
  if (path === 'embedding') return ['token_embd.weight'];
  if (path === 'lmHead') return ['output.weight'];
  const fin = /^finalNorm\.(weight|bias)$/.exec(path);
  if (fin) return [`output_norm.${fin[1]}`];
  const m = /^layers\.(\d+)\.(\w+)\.(weight|bias)$/.exec(path);
  if (!m) return [path];
  const [, i, part, kind] = m;
  const t = (name: string) => `blk.${i}.${name}.${kind}`;
  switch (part) {
    case 'attnNorm':
      return [t('attn_norm')];
    case 'qkv':
      return has(t('attn_qkv')) ? [t('attn_qkv')] : [t('attn_q'), t('attn_k'), t('attn_v')];
    case 'attnOut':
      return [t('attn_output')];
    case 'postAttnNorm':
      return [t('post_attention_norm')];
    case 'mlpNorm':
      return [t('ffn_norm')];
    case 'mlpUp':
      // llama.cpp's chatglm and glm4 store the fused [gate; up] rows as ffn_up (gate first, as
      // LLM_FFN_SWIGLU splits it: silu(first half) * second half), which is our mlpUp order.
      // Files that split them carry ffn_gate too.
      return has(t('ffn_gate')) ? [t('ffn_gate'), t('ffn_up')] : [t('ffn_up')];
    case 'mlpDown':
      return [t('ffn_down')];
    case 'postMlpNorm':
      return [t('post_ffw_norm')];
    default:
      return [path];
  }
}

/** Every canonical weight of a GGUF model, one tensor at a time through `convert` (like loadWeights). */
export async function loadGgufWeights<W = HostWeight>(config: GlmConfig, gguf: GgufFile, options: LoadWeightsOptions<W> = {}): Promise<ModelWeights<W>> {
  checkGgufTypes(gguf);
  const where = gguf.source.name;
  const has = (name: string) => gguf.tensors.has(name);
  // Before any tensor is read: every tensor of the file must be one the model uses.
  const used = new Set(weightRecipes(config).model.flatMap((r) => ggufSourceNames(r.path, has)));
  checkAllTensorsUsed(where, gguf.tensors.keys(), used);
  return assembleWeights(
    config,
    async (path, shape) => {
      const names = ggufSourceNames(path, has);
      const infos = names.map((name) => {
        const info = gguf.tensors.get(name);
        if (!info) {
          const similar = similarNames(name, [...gguf.tensors.keys()], 4);
          throw new TensorNotFoundError(`${where}: GGUF tensor "${name}" (for ${path}) is missing; similar names: ${similar.map((s) => `"${s}"`).join(', ')}`);
        }
        return info;
      });
      if (!stackedShapeMatches(infos.map((i) => i.shape), shape)) {
        throw new WeightShapeError(`${where}: GGUF tensor(s) ${names.map((n) => `"${n}"`).join(' + ')} have shape ${infos.map((i) => `[${i.shape}]`).join(' + ')} but the metadata gives [${shape}] for ${path}`);
      }
      const w = await readStacked(infos, [...shape]);
      checkWeight(w, path, shape, `${where} (${names.join(' + ')})`);
      return w;
    },
    options,
  );
}

// ---- config ----

function metaNumber(g: GgufFile, key: string): number | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  // Per-layer arrays (head_count_kv can be one): accept them when every layer agrees.
  if (ArrayBuffer.isView(v) && !(v instanceof BigInt64Array || v instanceof BigUint64Array)) {
    const arr = Array.from(v as ArrayLike<number>);
    if (arr.length > 0 && arr.every((x) => x === arr[0])) return arr[0];
    throw new UnsupportedModelError(`${g.source.name}: "${key}" differs between layers (${arr.slice(0, 8).join(', ')}...); per-layer shapes are not supported`);
  }
  throw new GgufFormatError(`${g.source.name}: metadata "${key}" should be a number, got ${typeof v}`);
}

function requireNumber(g: GgufFile, key: string): number {
  const v = metaNumber(g, key);
  if (v === undefined) throw new GgufFormatError(`${g.source.name}: GGUF metadata "${key}" is missing; it is needed to build the model config`);
  return v;
}

function metaString(g: GgufFile, key: string): string | undefined {
  const v = g.metadata.get(key);
  return typeof v === 'string' ? v : undefined;
}

export const GGUF_ARCHITECTURES = ['chatglm', 'glm4'] as const;

/** Context when a GGUF file does not say (or says something impossible): GLM-Edge's and GLM-4-0414's limit. */
export const GGUF_DEFAULT_CONTEXT = 8192;

/**
 * The model's context length. llama.cpp's converter writes `chatglm.context_length` = the hidden size
 * for Hugging Face `glm` checkpoints (GlmForCausalLM, e.g. GLM-Edge: it looks for THUDM's `seq_length`,
 * finds none and falls back to the hidden size), which would cap a 1.5B GLM-Edge at 2048 tokens. A
 * `chatglm` value equal to the hidden size is therefore taken as unknown and replaced by
 * GGUF_DEFAULT_CONTEXT (8192, GLM-Edge's max_position_embeddings); the raw config records which (`_gguf`).
 */
function ggufContextLength(g: GgufFile, arch: string, hidden: number): number {
  const stated = metaNumber(g, `${arch}.context_length`);
  if (stated === undefined) return GGUF_DEFAULT_CONTEXT;
  if (arch === 'chatglm' && stated === hidden) return GGUF_DEFAULT_CONTEXT;
  return stated;
}

/**
 * The config.json a Hugging Face checkpoint of this model would have, built from GGUF metadata, so that
 * normalizeConfig (and anything else that reads config.json) applies unchanged. A `chatglm` file becomes
 * THUDM's v2 config (ChatGLM2/3, GLM-4-9B-chat) when its shapes fit it, else transformers' GlmForCausalLM
 * config (GLM-Edge: split q/k/v, other RoPE widths, tied embeddings); a `glm4` file becomes Glm4ForCausalLM's.
 */
export function ggufRawConfig(g: GgufFile): Record<string, unknown> {
  const arch = metaString(g, 'general.architecture');
  if (arch !== 'chatglm' && arch !== 'glm4') {
    throw new UnsupportedModelError(
      `${g.source.name}: GGUF architecture ${JSON.stringify(arch ?? null)} is not a GLM model this build runs; ` +
        'supported: "chatglm" (ChatGLM2/3, GLM-4-9B-chat, GLM-Edge) and "glm4" (GLM-4-0414)',
    );
  }
  const k = (name: string) => `${arch}.${name}`;
  const embd = g.tensors.get('token_embd.weight');
  if (!embd || embd.shape.length !== 2) throw new TensorNotFoundError(`${g.source.name}: GGUF tensor "token_embd.weight" is missing or not a matrix`);
  // Every value through src/model/limits.ts, named by its GGUF key, before anything is sized from it.
  const file = g.source.name;
  const vocab = checkPositiveInt(embd.shape[0], 'token_embd.weight rows', 'vocabSize', file);
  const hidden = checkPositiveInt(requireNumber(g, k('embedding_length')), k('embedding_length'), 'hiddenSize', file);
  const layers = checkPositiveInt(requireNumber(g, k('block_count')), k('block_count'), 'numLayers', file);
  checkLayerCount(layers, g.tensors.keys(), /^blk\.(\d+)\./, k('block_count'), file);
  const heads = checkPositiveInt(requireNumber(g, k('attention.head_count')), k('attention.head_count'), 'numHeads', file);
  const kvHeads = checkPositiveInt(metaNumber(g, k('attention.head_count_kv')) ?? heads, k('attention.head_count_kv'), 'numHeads', file);
  const headDim = checkPositiveInt(metaNumber(g, k('attention.key_length')) ?? hidden / heads, k('attention.key_length'), 'headDim', file);
  const ffn = checkPositiveInt(requireNumber(g, k('feed_forward_length')), k('feed_forward_length'), 'ffnHiddenSize', file);
  const rotary = checkPositiveInt(metaNumber(g, k('rope.dimension_count')) ?? headDim / 2, k('rope.dimension_count'), 'headDim', file);
  const base = checkPositiveFinite(metaNumber(g, k('rope.freq_base')) ?? 10000, k('rope.freq_base'), 'ropeBase', file);
  const eps = checkPositiveFinite(metaNumber(g, k('attention.layer_norm_rms_epsilon')) ?? 1e-5, k('attention.layer_norm_rms_epsilon'), 'normEps', file);
  const context = checkPositiveInt(ggufContextLength(g, arch, hidden), k('context_length'), 'contextLength', file);
  const scaling = metaString(g, k('rope.scaling.type'));
  if (scaling !== undefined && scaling !== 'none') throw new UnsupportedModelError(`${g.source.name}: RoPE scaling "${scaling}" is not supported yet`);

  const has = (name: string) => g.tensors.has(name);
  const qkvBias = has('blk.0.attn_qkv.bias') || has('blk.0.attn_q.bias');
  const outBias = has('blk.0.attn_output.bias');
  const mlpBias = has('blk.0.ffn_up.bias') || has('blk.0.ffn_down.bias');
  const tied = !has('output.weight');
  const token = (name: string) => metaNumber(g, `tokenizer.ggml.${name}_token_id`);
  const eos = [...new Set([token('eos'), token('eot'), token('eom')].filter((x): x is number => x !== undefined))];
  const ids = {
    eos_token_id: eos.length === 1 ? eos[0] : eos,
    ...(token('padding') !== undefined ? { pad_token_id: token('padding') } : {}),
    ...(token('bos') !== undefined ? { bos_token_id: token('bos') } : {}),
  };
  const stated = metaNumber(g, k('context_length'));
  const origin = {
    architecture: arch,
    name: metaString(g, 'general.name') ?? null,
    file_type: metaNumber(g, 'general.file_type') ?? null,
    version: g.version,
    context_length:
      stated === context
        ? 'from the file'
        : `${context} (default): the file's ${k('context_length')} ${stated ?? '(missing)'} ${stated === hidden ? "equals the hidden size, llama.cpp's converter's fallback for HF glm checkpoints" : 'is missing'}`,
  };

  let raw: Record<string, unknown>;
  if (arch === 'chatglm' && rotary === headDim / 2 && !tied && outBias === mlpBias && (!outBias || qkvBias) && Number.isInteger(headDim)) {
    raw = {
      model_type: 'chatglm',
      architectures: ['ChatGLMModel'],
      num_layers: layers,
      padded_vocab_size: vocab,
      vocab_size: vocab,
      hidden_size: hidden,
      ffn_hidden_size: ffn,
      kv_channels: headDim,
      num_attention_heads: heads,
      multi_query_attention: true,
      multi_query_group_num: kvHeads,
      layernorm_epsilon: eps,
      rmsnorm: true,
      add_qkv_bias: qkvBias,
      add_bias_linear: outBias,
      seq_length: context,
      rope_ratio: base / 10000,
      ...ids,
    };
  } else {
    if (outBias || mlpBias) {
      throw new UnsupportedModelError(`${g.source.name}: a ${arch} GGUF with attention-output or MLP biases but this RoPE/embedding layout matches no GLM checkpoint`);
    }
    raw = {
      model_type: arch === 'glm4' ? 'glm4' : 'glm',
      architectures: [arch === 'glm4' ? 'Glm4ForCausalLM' : 'GlmForCausalLM'],
      vocab_size: vocab,
      hidden_size: hidden,
      intermediate_size: ffn,
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: kvHeads,
      head_dim: headDim,
      hidden_act: 'silu',
      rms_norm_eps: eps,
      partial_rotary_factor: rotary / headDim,
      rope_theta: base,
      attention_bias: qkvBias,
      tie_word_embeddings: tied,
      max_position_embeddings: context,
      ...ids,
    };
  }
  raw._gguf = origin;
  const config = normalizeConfig(raw);
  if (config.rope.rotaryDim !== rotary) {
    throw new UnsupportedModelError(`${g.source.name}: rope.dimension_count ${rotary} with head dimension ${headDim} cannot be expressed in a GLM config`);
  }
  return raw;
}

// ---- tokenizer ----

/** GLM-4's pre-tokenizer split (llama.cpp's LLAMA_VOCAB_PRE_TYPE_CHATGLM4, HF tokenizer.json of GLM-4). */
const GLM4_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** GPT-2's default byte-level split, for other BPE pre-tokenizer names. */
const GPT2_SPLIT_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/**
 * A tokenizer.json (Hugging Face `tokenizers` format) rebuilt from the GGUF vocabulary, for byte-level
 * BPE vocabularies (tokenizer.ggml.model "gpt2": GLM-4, GLM-4-0414, GLM-Edge). Returns null for others
 * (ChatGLM2/3's SentencePiece vocabulary is "llama": use the model's own tokenizer files).
 */
export function ggufTokenizerJson(g: GgufFile): Record<string, unknown> | null {
  if (metaString(g, 'tokenizer.ggml.model') !== 'gpt2') return null;
  const tokens = ggufTokenList(g);
  if (tokens === null) return null;
  const types = ggufTokenTypes(g, tokens.length);
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  tokens.forEach((content, id) => {
    const type = types[id]!;
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED) {
      added.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TOKEN_TYPE.CONTROL });
    } else {
      vocab[content] = id;
    }
  });
  const merges = g.metadata.get('tokenizer.ggml.merges');
  if (merges !== undefined && !Array.isArray(merges)) throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.merges" must be an array of strings`);
  const mergeList = (merges ?? []).map((m, i) => {
    // "left right", split at the first space after the first character (a piece may itself be a space).
    const space = typeof m === 'string' ? m.indexOf(' ', 1) : -1;
    if (space < 0) {
      throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.merges" entry ${i} is ${JSON.stringify(typeof m === 'string' ? m.slice(0, 40) : typeof m)}, not a "left right" string`);
    }
    const text = m as string;
    return [text.slice(0, space), text.slice(space + 1)];
  });
  const pre = metaString(g, 'tokenizer.ggml.pre') ?? 'default';
  const regex = pre === 'chatglm-bpe' || pre === 'glm4' ? GLM4_SPLIT_REGEX : GPT2_SPLIT_REGEX;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: mergeList,
    },
  };
}

/** `tokenizer.ggml.tokens` as strings (null when absent), bounded so that no vocabulary size can stall a load. */
function ggufTokenList(g: GgufFile): string[] | null {
  const tokens = g.metadata.get('tokenizer.ggml.tokens');
  if (tokens === undefined) return null;
  if (!Array.isArray(tokens)) throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.tokens" must be an array of strings`);
  if (tokens.length > MAX_TOKEN_ID + 1) {
    throw new TokenizerLimitError(`${g.source.name}: ${tokens.length} tokens in "tokenizer.ggml.tokens"; this engine accepts at most ${MAX_TOKEN_ID + 1}`);
  }
  tokens.forEach((t, i) => {
    if (typeof t !== 'string') throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.tokens" entry ${i} is a ${typeof t}, not a string`);
  });
  return tokens as string[];
}

/** `tokenizer.ggml.token_type` (llama.cpp's SentencePiece types 1-6), NORMAL for all when absent. */
function ggufTokenTypes(g: GgufFile, count: number): Int32Array {
  const types = g.metadata.get('tokenizer.ggml.token_type');
  if (types === undefined) return new Int32Array(count).fill(TOKEN_TYPE.NORMAL);
  if (!(types instanceof Int32Array) && !(types instanceof Uint32Array) && !(types instanceof Int8Array) && !(types instanceof Uint8Array)) {
    throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.token_type" must be an integer array`);
  }
  if (types.length !== count) throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.token_type" has ${types.length} entries for ${count} tokens`);
  const out = Int32Array.from(types as ArrayLike<number>);
  out.forEach((t, i) => {
    if (t < TOKEN_TYPE.NORMAL || t > TOKEN_TYPE.BYTE) throw new GgufFormatError(`${g.source.name}: token ${i} has type ${t}; token types run from 1 to 6`);
  });
  return out;
}

const SP_TYPES: Record<number, SentencePieceType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user_defined', 5: 'unused', 6: 'byte' };
/** THUDM's ChatGLM2/3 tokenizer numbers these right after the SentencePiece pieces; llama.cpp's converter writes them there. */
const CHATGLM_APPENDED_SPECIALS = ['[MASK]', '[gMASK]', '[sMASK]', 'sop', 'eop'];

/**
 * ChatGLM2/3's SentencePiece vocabulary (tokenizer.ggml.model "llama", as llama.cpp's converter writes it:
 * the tokenizer.model pieces with their scores and types, then [MASK] [gMASK] [sMASK] sop eop, the role tokens
 * and [PAD] fillers up to the padded vocabulary) as the `tokenizer.model` bytes THUDM's repo ships: only the
 * SentencePiece part, since our ChatGLM tokenizer appends the specials itself, at the same ids. What GGUF does
 * not store is the ChatGLM2/3 one: BPE with byte fallback, identity normalizer, spaces kept, a dummy prefix
 * (`tokenizer.ggml.add_space_prefix`, default true). Null for other vocabularies.
 */
export function ggufSentencePieceModel(g: GgufFile): Uint8Array | null {
  if (metaString(g, 'tokenizer.ggml.model') !== 'llama') return null;
  const tokens = ggufTokenList(g);
  if (tokens === null) return null;
  const types = ggufTokenTypes(g, tokens.length);
  const scores = g.metadata.get('tokenizer.ggml.scores');
  if (scores !== undefined && !(scores instanceof Float32Array && scores.length === tokens.length)) {
    throw new GgufFormatError(`${g.source.name}: "tokenizer.ggml.scores" must be ${tokens.length} float32 values, one per token`);
  }
  // The SentencePiece pieces end where ChatGLM's appended specials begin.
  const end = tokens.findIndex((_, i) => CHATGLM_APPENDED_SPECIALS.every((name, k) => tokens[i + k] === name && types[i + k] === TOKEN_TYPE.CONTROL));
  if (end < 0) return null;
  const pieces: SentencePiece[] = [];
  for (let id = 0; id < end; id++) pieces.push({ piece: tokens[id]!, score: scores?.[id] ?? 0, type: SP_TYPES[types[id]!]! });
  if (!pieces.some((p) => p.type === 'unknown')) throw new GgufFormatError(`${g.source.name}: the SentencePiece vocabulary has no unknown token (type 2)`);
  const addPrefix = g.metadata.get('tokenizer.ggml.add_space_prefix');
  const removeSpaces = g.metadata.get('tokenizer.ggml.remove_extra_whitespaces');
  return serializeSentencePieceModel({
    pieces,
    modelType: 'bpe',
    byteFallback: pieces.some((p) => p.type === 'byte'),
    treatWhitespaceAsSuffix: false,
    unkSurface: ' \u2047 ',
    normalizer: {
      name: 'identity',
      precompiledCharsmap: new Uint8Array(0),
      addDummyPrefix: typeof addPrefix === 'boolean' ? addPrefix : true,
      removeExtraWhitespaces: typeof removeSpaces === 'boolean' ? removeSpaces : false,
      escapeWhitespaces: true,
    },
  });
}

/** tokenizer_config.json from GGUF metadata: the chat template and special tokens, when present. */
export function ggufTokenizerConfig(g: GgufFile): Record<string, unknown> | null {
  const tokens = g.metadata.get('tokenizer.ggml.tokens');
  const template = metaString(g, 'tokenizer.chat_template');
  if (!Array.isArray(tokens) && template === undefined) return null;
  const tokenText = (name: string): string | undefined => {
    const id = metaNumber(g, `tokenizer.ggml.${name}_token_id`);
    return id !== undefined && Array.isArray(tokens) && typeof tokens[id] === 'string' ? (tokens[id] as string) : undefined;
  };
  const out: Record<string, unknown> = { tokenizer_class: 'PreTrainedTokenizerFast', clean_up_tokenization_spaces: false };
  if (template !== undefined) out.chat_template = template;
  for (const [key, name] of [['eos_token', 'eos'], ['bos_token', 'bos'], ['pad_token', 'padding'], ['unk_token', 'unknown']] as const) {
    const text = tokenText(name);
    if (text !== undefined) out[key] = text;
  }
  return out;
}

// ---- a GGUF file as a model folder ----

/**
 * A ModelFiles view of one GGUF file: `model.gguf` is the file itself (each open() opens it afresh; the
 * caller closes what it opened); `config.json`, `tokenizer.json` and `tokenizer_config.json` are built
 * from its metadata (the last two when it has a vocabulary), and `tokenizer.model` from a ChatGLM2/3
 * SentencePiece vocabulary, so code that reads a Hugging Face folder
 * reads a GGUF file the same way.
 */
export function ggufModelFiles(openSource: () => Promise<ByteSource>, location: string): ModelFiles {
  let header: Promise<GgufFile> | null = null;
  const gguf = () =>
    (header ??= (async () => {
      const source = await openSource();
      try {
        return await openGguf(source);
      } finally {
        await source.close?.();
      }
    })());
  let spModel: Promise<Uint8Array | null> | null = null;
  const sentencePieceModel = () => (spModel ??= gguf().then(ggufSentencePieceModel));
  const virtual = async (name: string): Promise<string | null> => {
    let obj: Record<string, unknown> | null = null;
    if (name === 'config.json') obj = ggufRawConfig(await gguf());
    else if (name === 'tokenizer.json') obj = ggufTokenizerJson(await gguf());
    else if (name === 'tokenizer_config.json') obj = ggufTokenizerConfig(await gguf());
    return obj === null ? null : JSON.stringify(obj);
  };
  const text = async (name: string): Promise<string> => {
    const t = name === GGUF_FILE_NAME ? null : await virtual(name);
    if (t === null) throw new MissingFileError(`"${name}" is not available from GGUF file "${location}"`);
    return t;
  };
  return {
    location,
    async exists(name) {
      if (name === GGUF_FILE_NAME) return true;
      if (name === 'config.json' || name === 'tokenizer.json' || name === 'tokenizer_config.json') return (await virtual(name)) !== null;
      if (name === 'tokenizer.model') return (await sentencePieceModel()) !== null;
      return false;
    },
    readText: text,
    async open(name) {
      if (name === GGUF_FILE_NAME) return openSource();
      if (name === 'tokenizer.model') {
        const model = await sentencePieceModel();
        if (model === null) throw new MissingFileError(`"tokenizer.model" is not available from GGUF file "${location}" (no SentencePiece vocabulary)`);
        return memoryByteSource(model, `${location}#tokenizer.model`);
      }
      return memoryByteSource(new TextEncoder().encode(await text(name)), `${location}#${name}`);
    },
  };
}

/** The weights and config of a GGUF file (used by loadModelFolder). */
export async function loadGgufModel<W = HostWeight>(
  source: ByteSource,
  options: LoadWeightsOptions<W> = {},
): Promise<{ config: GlmConfig; rawConfig: Record<string, unknown>; weights: ModelWeights<W> }> {
  const g = await openGguf(source);
  const rawConfig = ggufRawConfig(g);
  const config = normalizeConfig(rawConfig);
  const weights = await loadGgufWeights(config, g, options);
  return { config, rawConfig, weights };
}
