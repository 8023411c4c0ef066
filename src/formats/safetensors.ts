// safetensors reader: https://huggingface.co/docs/safetensors (8-byte little-endian header length,
// a JSON header, then the raw little-endian tensor bytes). Only the header is read up front; tensor
// bytes are read range by range when asked for, so multi-GB checkpoints never sit in memory whole.

import { GlmError } from '../errors';
import { MissingFileError, TruncatedFileError } from './byte-source';
import type { ByteSource, ModelFiles } from './byte-source';
import { describeJson } from './describe';
import { bf16ArrayToF32, f16ArrayToF32 } from './dtype';

/** The header is malformed: bad length, bad JSON, bad entry, inconsistent index.json. */
export class SafetensorsFormatError extends GlmError {
  override name = 'SafetensorsFormatError';
}

/** A tensor name that the checkpoint does not contain. */
export class TensorNotFoundError extends GlmError {
  override name = 'TensorNotFoundError';
}

/** A tensor's dtype cannot be converted the way the caller asked. */
export class UnsupportedDTypeError extends GlmError {
  override name = 'UnsupportedDTypeError';
}

export type SafetensorsDType =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I8'
  | 'U8'
  | 'I32'
  | 'I64'
  | 'F64'
  | 'I16'
  | 'U16'
  | 'BOOL'
  | 'U32'
  | 'U64'
  | 'F8_E4M3'
  | 'F8_E5M2';

/** Bytes per element of every dtype the reader accepts. */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<SafetensorsDType, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I8: 1,
  U8: 1,
  I32: 4,
  I64: 8,
  F64: 8,
  I16: 2,
  U16: 2,
  BOOL: 1,
  U32: 4,
  U64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

export function isSafetensorsDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_SIZES, value);
}

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute position of the first byte in the file (8 + header length + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
  source: ByteSource;
}

export interface SafetensorsFile {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  source: ByteSource;
  headerLength: number;
}

export interface TensorIndex {
  tensors: Map<string, TensorInfo>;
  /** `__metadata__` of the single file, or of the index.json (its `metadata` object, values as strings). */
  metadata: Record<string, string>;
  get(name: string): TensorInfo;
  has(name: string): boolean;
  /** Closes every file this index opened. */
  close(): Promise<void>;
}

/** The same limit as the reference implementation: a bigger header means a corrupt or non-safetensors file. */
export const MAX_HEADER_LENGTH = 100_000_000;

export const SINGLE_FILE_NAME = 'model.safetensors';
export const INDEX_FILE_NAME = 'model.safetensors.index.json';

export function tensorElementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const describe = (value: unknown): string => describeJson(value);

export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  if (source.size < 8) {
    throw new TruncatedFileError(
      `${file}: ${source.size} bytes is too short for a safetensors file (the 8-byte header length alone is missing)`,
    );
  }
  const prefix = await source.read(0, 8);
  const declaredLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declaredLength > BigInt(MAX_HEADER_LENGTH)) {
    throw new SafetensorsFormatError(
      `${file}: header length ${declaredLength} is larger than the ${MAX_HEADER_LENGTH}-byte limit; ` +
        `this is not a safetensors file or its first 8 bytes are corrupt`,
    );
  }
  const headerLength = Number(declaredLength);
  if (headerLength < 2) {
    throw new SafetensorsFormatError(`${file}: header length ${headerLength} is too small to hold a JSON object`);
  }
  if (8 + headerLength > source.size) {
    throw new TruncatedFileError(
      `${file}: the header says it is ${headerLength} bytes long but only ${source.size - 8} bytes follow the ` +
        `length field (file size ${source.size}); the file was cut short or its length field is corrupt`,
    );
  }

  const headerBytes = await source.read(8, headerLength);
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (err) {
    throw new SafetensorsFormatError(`${file}: header is not valid UTF-8`, { cause: err });
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (err) {
    throw new SafetensorsFormatError(`${file}: header is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isPlainObject(header)) {
    throw new SafetensorsFormatError(`${file}: header must be a JSON object, got ${describe(header)}`);
  }

  const dataStart = 8 + headerLength;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();

  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) {
        throw new SafetensorsFormatError(`${file}: __metadata__ must be an object of strings, got ${describe(entry)}`);
      }
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') {
          throw new SafetensorsFormatError(
            `${file}: __metadata__["${key}"] must be a string, got ${describe(value)}`,
          );
        }
        metadata[key] = value;
      }
      continue;
    }
    const where = `${file}: tensor "${name}"`;
    if (!isPlainObject(entry)) {
      throw new SafetensorsFormatError(`${where}: entry must be an object, got ${describe(entry)}`);
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isSafetensorsDType(dtype)) {
      throw new SafetensorsFormatError(
        `${where}: unknown dtype ${describe(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d): d is number => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsFormatError(`${where}: shape must be an array of non-negative integers, got ${describe(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o): o is number => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw new SafetensorsFormatError(
        `${where}: data_offsets must be [begin, end] with non-negative integers, got ${describe(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) {
      throw new SafetensorsFormatError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    }
    const elements = tensorElementCount(shape);
    const expectedBytes = elements * SAFETENSORS_DTYPE_SIZES[dtype];
    if (!Number.isSafeInteger(expectedBytes) || expectedBytes !== end - begin) {
      throw new SafetensorsFormatError(
        `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${expectedBytes} bytes but data_offsets ` +
          `[${begin}, ${end}] hold ${end - begin}`,
      );
    }
    tensors.set(name, { name, dtype, shape: [...shape], byteOffset: dataStart + begin, byteLength: end - begin, source });
  }

  checkNoOverlap(file, tensors);
  checkInsideFile(file, tensors, source.size, dataStart);
  checkDataCovered(file, tensors, source.size, dataStart);
  return { tensors, metadata, source, headerLength };
}

// Two tensors sharing bytes means the header is corrupt (a writer never does that); catching it here
// beats loading silently wrong weights.
function checkNoOverlap(file: string, tensors: Map<string, TensorInfo>): void {
  const ranges = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < ranges.length; i++) {
    const previous = ranges[i - 1]!;
    const current = ranges[i]!;
    if (current.byteOffset < previous.byteOffset + previous.byteLength) {
      throw new SafetensorsFormatError(
        `${file}: tensors "${previous.name}" and "${current.name}" overlap in the data section`,
      );
    }
  }
}

// Checked after every entry is known to be well formed, so that a malformed header is reported as such and a
// cut file names the first tensor it cuts into (the later ones are gone too, only counted).
function checkInsideFile(file: string, tensors: Map<string, TensorInfo>, fileSize: number, dataStart: number): void {
  const cut = [...tensors.values()]
    .filter((t) => t.byteOffset + t.byteLength > fileSize)
    .sort((a, b) => a.byteOffset - b.byteOffset);
  const first = cut[0];
  if (!first) return;
  const others = cut.length > 1 ? ` (${cut.length - 1} more tensors lie past the end too)` : '';
  throw new TruncatedFileError(
    `${file}: tensor "${first.name}" needs bytes ${first.byteOffset}..${first.byteOffset + first.byteLength} of the ` +
      `file (data_offsets [${first.byteOffset - dataStart}, ${first.byteOffset - dataStart + first.byteLength}]) but the file is only ${fileSize} bytes long; the file was cut short${others}`,
  );
}

// The reference implementation accepts a file only when its tensors tile the data section exactly: the
// first starts at 0, each starts where the previous one ends, the last ends at the end of the file. A
// header length off by one (every tensor shifted by a byte), a gap or trailing bytes all break that, and
// each would otherwise load silently wrong or unexplained bytes.
function checkDataCovered(file: string, tensors: Map<string, TensorInfo>, fileSize: number, dataStart: number): void {
  const sorted = [...tensors.values()].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let end = 0;
  let previous: string | null = null;
  for (const t of sorted) {
    const begin = t.byteOffset - dataStart;
    if (begin !== end) {
      throw new SafetensorsFormatError(
        `${file}: ${previous === null ? 'the data section starts' : `tensor "${previous}" ends at data offset ${end}`} but tensor "${t.name}" begins at ${begin}: ` +
          `${end} to ${begin} is a gap no tensor covers; the header is corrupt (a header length off by ${begin - end} bytes shifts every tensor)`,
      );
    }
    end = begin + t.byteLength;
    previous = t.name;
  }
  const dataSize = fileSize - dataStart;
  if (end !== dataSize) {
    throw new SafetensorsFormatError(
      `${file}: the tensors end at data offset ${end} but the data section holds ${dataSize} bytes: ${dataSize - end} trailing bytes belong to no tensor; ` +
        'the header length or the data offsets are corrupt, or something was appended to the file',
    );
  }
}

export async function openSafetensorsModel(files: ModelFiles): Promise<TensorIndex> {
  if (await files.exists(SINGLE_FILE_NAME)) {
    const source = await files.open(SINGLE_FILE_NAME);
    try {
      const file = await openSafetensors(source);
      return makeIndex(files.location, file.tensors, file.metadata, [source]);
    } catch (err) {
      await source.close?.();
      throw err;
    }
  }
  if (await files.exists(INDEX_FILE_NAME)) return openSharded(files);
  throw new MissingFileError(
    `model folder "${files.location}" has neither "${SINGLE_FILE_NAME}" nor "${INDEX_FILE_NAME}"`,
  );
}

async function openSharded(files: ModelFiles): Promise<TensorIndex> {
  const indexName = `${files.location}/${INDEX_FILE_NAME}`;
  let index: unknown;
  try {
    index = JSON.parse(await files.readText(INDEX_FILE_NAME));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new SafetensorsFormatError(`${indexName}: not valid JSON (${err.message})`, { cause: err });
  }
  if (!isPlainObject(index) || !isPlainObject(index.weight_map)) {
    throw new SafetensorsFormatError(`${indexName}: must be an object with a "weight_map" object`);
  }
  const weightMap = index.weight_map;
  const entries = Object.entries(weightMap);
  if (entries.length === 0) throw new SafetensorsFormatError(`${indexName}: "weight_map" is empty`);
  for (const [tensorName, shard] of entries) {
    if (typeof shard !== 'string' || shard === '') {
      throw new SafetensorsFormatError(
        `${indexName}: weight_map["${tensorName}"] must be a shard file name, got ${describe(shard)}`,
      );
    }
  }
  const metadata: Record<string, string> = {};
  if (isPlainObject(index.metadata)) {
    for (const [key, value] of Object.entries(index.metadata)) {
      metadata[key] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  }

  const shardNames = [...new Set(entries.map(([, shard]) => shard as string))];
  // Opened in parallel (each is a header fetch, slow over a network); on any failure the ones that did open are closed.
  const opened = await Promise.allSettled(shardNames.map((name) => files.open(name)));
  const sources = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const closeAll = () => Promise.allSettled(sources.map((s) => s.close?.()));
  const failedOpen = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failedOpen) {
    await closeAll();
    throw failedOpen.reason;
  }

  try {
    const shards = new Map<string, SafetensorsFile>();
    // allSettled, not all: no shard may still be reading when the catch below closes the files.
    const parsed = await Promise.allSettled(sources.map((s) => openSafetensors(s)));
    for (const [i, result] of parsed.entries()) {
      if (result.status === 'rejected') throw result.reason;
      shards.set(shardNames[i]!, result.value);
    }
    const tensors = new Map<string, TensorInfo>();
    for (const [tensorName, shard] of entries) {
      const info = shards.get(shard as string)!.tensors.get(tensorName);
      if (!info) {
        throw new SafetensorsFormatError(
          `${indexName}: weight_map puts tensor "${tensorName}" in "${shard}", but that shard has no such tensor`,
        );
      }
      tensors.set(tensorName, info);
    }
    return makeIndex(files.location, tensors, metadata, sources);
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function makeIndex(
  location: string,
  tensors: Map<string, TensorInfo>,
  metadata: Record<string, string>,
  sources: ByteSource[],
): TensorIndex {
  return {
    tensors,
    metadata,
    has: (name) => tensors.has(name),
    get(name) {
      const info = tensors.get(name);
      if (info) return info;
      const similar = similarNames(name, [...tensors.keys()], 5);
      throw new TensorNotFoundError(
        `tensor "${name}" is not in the checkpoint at "${location}" (${tensors.size} tensors)` +
          (similar.length > 0 ? `; similar names: ${similar.map((s) => `"${s}"`).join(', ')}` : ''),
      );
    },
    async close() {
      await Promise.all(sources.map((s) => s.close?.()));
    },
  };
}

/** The `count` names closest to `wanted` by edit distance: a wrong prefix or layer number shows at once. */
export function similarNames(wanted: string, names: readonly string[], count: number): string[] {
  return names
    .map((name) => ({ name, distance: editDistance(wanted, name) }))
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, count)
    .map((entry) => entry.name);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export async function readTensorBytes(info: TensorInfo): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = await info.source.read(info.byteOffset, info.byteLength);
  if (bytes.byteLength !== info.byteLength) {
    throw new TruncatedFileError(
      `${info.source.name}: tensor "${info.name}" needs ${info.byteLength} bytes but the read returned ${bytes.byteLength}`,
    );
  }
  return bytes;
}

const hostIsLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export async function readTensorF32(info: TensorInfo): Promise<Float32Array<ArrayBuffer>> {
  if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
    throw new UnsupportedDTypeError(
      `${info.source.name}: tensor "${info.name}" is ${info.dtype}; only F32, F16 and BF16 convert to float32 ` +
        `(read its raw bytes with readTensorBytes instead)`,
    );
  }
  const bytes = await readTensorBytes(info);
  if (info.dtype === 'F32') return decodeF32(bytes);
  const bits = decodeU16(bytes);
  return (info.dtype === 'F16' ? f16ArrayToF32(bits) : bf16ArrayToF32(bits)) as Float32Array<ArrayBuffer>;
}

// Copying byte-wise into a fresh typed array both fixes alignment (a file read may start at any byte)
// and gives the caller a buffer nothing else aliases. DataView only on the (theoretical) big-endian host.
function decodeF32(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(bytes.byteLength / 4);
  if (hostIsLittleEndian) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

function decodeU16(bytes: Uint8Array): Uint16Array<ArrayBuffer> {
  const out = new Uint16Array(bytes.byteLength / 2);
  if (hostIsLittleEndian) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getUint16(i * 2, true);
  }
  return out;
}
