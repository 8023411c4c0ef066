// Builds safetensors files (and sharded checkpoints) in memory, for synthetic test checkpoints.
// Follows the reference writer: tensors packed in order, header padded with spaces to 8 bytes so the
// data section starts aligned.

import { f32ArrayToF16, f32ToBf16 } from '../../src/formats/dtype';
import { SAFETENSORS_DTYPE_SIZES, tensorElementCount } from '../../src/formats/safetensors';
import type { SafetensorsDType } from '../../src/formats/safetensors';

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /**
   * Uint8Array: the raw little-endian bytes, for any dtype.
   * Float32Array: values; stored as is for F32, rounded to F16/BF16 for those dtypes.
   * Uint16Array: raw 16-bit patterns (F16, BF16, I16, U16).
   */
  data: Uint8Array | Float32Array | Uint16Array;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** The raw bytes that `tensor` will occupy in the file. */
export function encodeTensorData(tensor: TensorToWrite): Uint8Array {
  const { name, dtype, data } = tensor;
  if (data instanceof Uint8Array) return data;
  if (data instanceof Float32Array) {
    if (dtype === 'F32') return bytesOf(data);
    if (dtype === 'F16') return bytesOf(f32ArrayToF16(data));
    if (dtype === 'BF16') return bytesOf(Uint16Array.from(data, (v) => f32ToBf16(v)));
    throw new Error(`safetensors-writer: "${name}": Float32Array data cannot be written as ${dtype}`);
  }
  if (SAFETENSORS_DTYPE_SIZES[dtype] !== 2) {
    throw new Error(`safetensors-writer: "${name}": Uint16Array data cannot be written as ${dtype}`);
  }
  return bytesOf(data);
}

/**
 * Low-level: a header object (or the exact header text) followed by `data`. Lets tests write headers that
 * the reader must reject. `declaredHeaderLength` overrides the length prefix (default: the real length).
 */
export function encodeSafetensors(
  header: unknown,
  data: Uint8Array = new Uint8Array(0),
  options: { declaredHeaderLength?: number | bigint; pad?: boolean } = {},
): Uint8Array<ArrayBuffer> {
  let headerText = typeof header === 'string' ? header : JSON.stringify(header);
  if (options.pad ?? typeof header !== 'string') {
    const rawLength = new TextEncoder().encode(headerText).byteLength;
    headerText += ' '.repeat((8 - ((8 + rawLength) % 8)) % 8);
  }
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(options.declaredHeaderLength ?? headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.byteLength);
  return out;
}

export function buildSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    const bytes = encodeTensorData(tensor);
    const wanted = tensorElementCount(tensor.shape) * SAFETENSORS_DTYPE_SIZES[tensor.dtype];
    if (bytes.byteLength !== wanted) {
      throw new Error(
        `safetensors-writer: "${tensor.name}" shape [${tensor.shape}] ${tensor.dtype} needs ${wanted} bytes, data has ${bytes.byteLength}`,
      );
    }
    if (Object.hasOwn(header, tensor.name)) throw new Error(`safetensors-writer: duplicate tensor "${tensor.name}"`);
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.byteLength;
  }
  return encodeSafetensors(header, data);
}

/**
 * A sharded checkpoint as the files of a model folder: `model-0000i-of-0000n.safetensors` plus
 * `model.safetensors.index.json`, tensors kept in order and split as evenly as possible over `shardCount` shards.
 * Feed the record to memoryModelFiles, or write each entry to a directory.
 */
export function buildShardedSafetensors(
  tensors: TensorToWrite[],
  shardCount: number,
  metadata: Record<string, unknown> = {},
): Record<string, Uint8Array | string> {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > tensors.length) {
    throw new Error(`safetensors-writer: cannot split ${tensors.length} tensors into ${shardCount} shards`);
  }
  const pad = (n: number) => String(n).padStart(5, '0');
  const files: Record<string, Uint8Array | string> = {};
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let shard = 0; shard < shardCount; shard++) {
    const part = tensors.slice(
      Math.floor((shard * tensors.length) / shardCount),
      Math.floor(((shard + 1) * tensors.length) / shardCount),
    );
    const fileName = `model-${pad(shard + 1)}-of-${pad(shardCount)}.safetensors`;
    files[fileName] = buildSafetensors(part, { format: 'pt' });
    for (const tensor of part) {
      weightMap[tensor.name] = fileName;
      totalSize += encodeTensorData(tensor).byteLength;
    }
  }
  files['model.safetensors.index.json'] = JSON.stringify(
    { metadata: { total_size: totalSize, ...metadata }, weight_map: weightMap },
    null,
    2,
  );
  return files;
}
