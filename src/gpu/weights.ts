// HostWeight (dense float32 or Q4/Q8 in JS memory) -> GpuWeight (GPU buffers), split by rows when a
// matrix exceeds the device's maxStorageBufferBindingSize (the 151552 x 4096 vocabulary matrices).
import { InvalidArgumentError } from '../errors';
import { f32ToF16 } from '../formats/dtype';
import type { HostWeight } from '../model/weights';
import {
  Q4_WORDS_PER_GROUP,
  Q8_WORDS_PER_GROUP,
  getHalf,
  halfPairWords,
  setHalf,
  validateQuantTensor,
  type QuantizedTensor,
} from '../quant/types';
import { qxSubsPerGroup, qxSuperStride, type QxLayout, type QxTensor } from '../quant/qx';
import type { GpuAllocator } from './buffers';
import type { GpuWeight, GpuWeightFormat, GpuWeightPart } from './tensor';

export interface UploadWeightOptions {
  /**
   * Storage of dense 2-D matrices: 'f32' (default, exact) or 'f16' (half the bytes; read through
   * unpack2x16float, so no `shader-f16` needed). Vectors (norm weights, biases) always stay f32.
   */
  denseMatrices?: 'f32' | 'f16';
}

/** Bytes of the largest buffer of one row, which bounds how many rows fit in one binding. */
function bytesPerRow(format: GpuWeightFormat, cols: number, groupsPerRow: number, qx?: QxTensor): number {
  switch (format) {
    case 'qx':
      // packed (16 bytes a group) is the largest buffer unless the high bits beside the scales outgrow it.
      return Math.max(groupsPerRow * Q4_WORDS_PER_GROUP * 4, (groupsPerRow / qx!.superGroups) * qxSuperStride(qx!) * 4);
    case 'f32':
      return cols * 4;
    case 'f16':
      return cols * 2;
    case 'q4':
      return groupsPerRow * Q4_WORDS_PER_GROUP * 4;
    case 'q8':
      return groupsPerRow * Q8_WORDS_PER_GROUP * 4;
  }
}

/** Row ranges [start, end) such that every part's largest buffer fits in `maxBindingBytes`. */
export function splitRows(name: string, rows: number, rowBytes: number, maxBindingBytes: number): [number, number][] {
  // f16 pairs may need one extra word per part; keep 4 bytes of headroom for it.
  const perPart = Math.floor((maxBindingBytes - 4) / rowBytes);
  if (perPart < 1) {
    throw new InvalidArgumentError(
      `weight "${name}": one row takes ${rowBytes} bytes, more than the binding limit of ${maxBindingBytes} bytes`,
    );
  }
  const ranges: [number, number][] = [];
  for (let r = 0; r < rows; r += perPart) ranges.push([r, Math.min(rows, r + perPart)]);
  return ranges;
}

/** Half-pair words (scales / mins) of groups [from, to) re-packed from index 0. */
function sliceHalves(words: Uint32Array, from: number, to: number): Uint32Array {
  if (from === 0 && to === words.length * 2) return words;
  if (from % 2 === 0) return words.slice(from / 2, from / 2 + halfPairWords(to - from));
  const out = new Uint32Array(halfPairWords(to - from));
  for (let i = from; i < to; i++) setHalf(out, i - from, getHalf(words, i));
  return out;
}

/** Dense values [from, to) as f16 pairs in u32 words (element e in word e >> 1, low half when even). */
function packF16(data: Float32Array, from: number, to: number): Uint32Array {
  const out = new Uint32Array(halfPairWords(to - from));
  for (let i = from; i < to; i++) setHalf(out, i - from, f32ToF16(data[i]!));
  return out;
}

/** The arrays of one part, in binding order (see GpuWeightPart.buffers). */
function partArrays(host: HostWeight, format: GpuWeightFormat, r0: number, r1: number): Uint32Array[] | Float32Array[] {
  if (host.dtype === 'f32') {
    const cols = host.shape.length === 2 ? host.shape[1]! : host.data.length;
    if (format === 'f16') return [packF16(host.data, r0 * cols, r1 * cols)];
    return [host.data.subarray(r0 * cols, r1 * cols)];
  }
  const q: QuantizedTensor = host;
  const g0 = r0 * q.groupsPerRow;
  const g1 = r1 * q.groupsPerRow;
  if (q.dtype === 'qx') {
    // Rows are whole super-blocks, and a subgroup pair is 2 bytes: every slice starts on a word.
    const stride = qxSuperStride(q);
    const subWords = (g: number) => (g * qxSubsPerGroup(q.subgroup) * 2) / 4;
    const arrays = [
      q.packed.subarray(g0 * Q4_WORDS_PER_GROUP, g1 * Q4_WORDS_PER_GROUP),
      q.supers.subarray((g0 / q.superGroups) * stride, (g1 / q.superGroups) * stride),
    ];
    if (q.subs) arrays.push(q.subs.subarray(subWords(g0), Math.ceil(subWords(g1))));
    return arrays;
  }
  const wpg = q.dtype === 'q4' ? Q4_WORDS_PER_GROUP : Q8_WORDS_PER_GROUP;
  const arrays = [q.packed.subarray(g0 * wpg, g1 * wpg), sliceHalves(q.scales, g0, g1)];
  if (q.dtype === 'q4' && q.mins) arrays.push(sliceHalves(q.mins, g0, g1));
  return arrays;
}

/**
 * Uploads one weight. Allocation goes through `alloc.createChecked`, so a refused buffer throws
 * GpuOutOfMemoryError naming the weight and its size before anything else is uploaded.
 */
export async function uploadWeight(
  device: GPUDevice,
  alloc: GpuAllocator,
  host: HostWeight,
  name: string,
  maxBindingBytes: number,
  options: UploadWeightOptions = {},
): Promise<GpuWeight> {
  let format: GpuWeightFormat;
  let rows: number;
  let cols: number;
  let shape: number[];
  let groupsPerRow = 0;
  let asymmetric = false;
  let qx: QxLayout | undefined;
  if (host.dtype === 'f32') {
    if (host.shape.length === 2) {
      [rows, cols] = host.shape as [number, number];
      format = options.denseMatrices === 'f16' ? 'f16' : 'f32';
    } else if (host.shape.length === 1) {
      rows = 1;
      cols = host.shape[0]!;
      format = 'f32';
    } else {
      throw new InvalidArgumentError(`weight "${name}": only 1-D and 2-D weights go to the GPU, got shape [${host.shape}]`);
    }
    shape = [...host.shape];
    if (host.data.length !== rows * cols) {
      throw new InvalidArgumentError(`weight "${name}": shape [${host.shape}] needs ${rows * cols} values, got ${host.data.length}`);
    }
  } else {
    validateQuantTensor(host);
    format = host.dtype;
    rows = host.rows;
    cols = host.cols;
    shape = [rows, cols];
    groupsPerRow = host.groupsPerRow;
    asymmetric = host.dtype === 'q4' && host.mins !== undefined;
    if (host.dtype === 'qx') qx = { bits: host.bits, subgroup: host.subgroup, superGroups: host.superGroups, hasMins: host.hasMins, hasSubs: host.subs !== undefined };
  }

  const ranges = splitRows(name, rows, bytesPerRow(format, cols, groupsPerRow, host.dtype === 'qx' ? host : undefined), maxBindingBytes);
  const parts: GpuWeightPart[] = [];
  const created: GPUBuffer[] = [];
  let bytes = 0;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  try {
    for (const [r0, r1] of ranges) {
      const buffers: GPUBuffer[] = [];
      let partBytes = 0;
      for (const [j, data] of partArrays(host, format, r0, r1).entries()) {
        const size = Math.max(4, data.byteLength);
        const what = ranges.length > 1 ? `weight "${name}" (rows ${r0}..${r1 - 1}, buffer ${j})` : `weight "${name}" (buffer ${j})`;
        const buffer = await alloc.createChecked(size, usage, what);
        created.push(buffer);
        buffers.push(buffer);
        if (data.byteLength > 0) device.queue.writeBuffer(buffer, 0, data as Uint32Array<ArrayBuffer>);
        partBytes += size;
      }
      parts.push({ rowStart: r0, rows: r1 - r0, buffers, bytes: partBytes });
      bytes += partBytes;
    }
  } catch (err) {
    for (const b of created) alloc.destroy(b);
    throw err;
  }
  return { name, format, shape, rows, cols, asymmetric, ...(qx ? { qx } : {}), parts, bytes };
}
