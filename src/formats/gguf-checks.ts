// Structural checks of a GGUF file's tensor table (issue #18), kept apart from the reader (gguf.ts) so
// the type table and tensor decoding can change without touching them. ggml's own reader requires each
// tensor offset to be a multiple of general.alignment and the tensors to be packed in table order; a
// file that breaks either would otherwise load with weights read from the wrong place, silently.
import { GgufFormatError } from './gguf';

export interface GgufTensorExtent {
  name: string;
  /** Offset relative to the start of the data section. */
  relOffset: number;
  byteLength: number;
}

export function checkGgufTensorLayout(file: string, tensors: readonly GgufTensorExtent[], alignment: number, dataBytes: number): void {
  for (const t of tensors) {
    if (t.relOffset % alignment !== 0) {
      throw new GgufFormatError(
        `${file}: tensor "${t.name}" starts at data offset ${t.relOffset}, which is not a multiple of general.alignment ${alignment}; the tensor table is corrupt`,
      );
    }
  }
  const sorted = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.relOffset - b.relOffset);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!;
    const current = sorted[i]!;
    if (current.relOffset < previous.relOffset + previous.byteLength) {
      throw new GgufFormatError(
        `${file}: tensors "${previous.name}" (data bytes ${previous.relOffset}..${previous.relOffset + previous.byteLength}) and "${current.name}" (from ${current.relOffset}) overlap; the tensor table is corrupt`,
      );
    }
  }  // ggml's reader (gguf_init_from_file) goes further: tensors follow each other in table order, each padded
  // to the alignment, with nothing in between. A gap means bytes no tensor explains, and usually a tensor
  // whose type or shape was changed so that it reads only part of its real data.
  let expected = 0;
  for (const t of tensors) {
    if (t.relOffset !== expected) {
      throw new GgufFormatError(
        `${file}: tensor "${t.name}" starts at data offset ${t.relOffset} but the tensors before it end at ${expected} ` +
          `(ggml lays tensors out in table order, each padded to ${alignment} bytes); the tensor table is corrupt`,
      );
    }
    expected += Math.ceil(t.byteLength / alignment) * alignment;
  }
  // After the last tensor only its padding may follow (bytes past that belong to no tensor: a last tensor
  // whose type or shape shrank). Too few bytes is a cut file, reported by the reader with the tensor's name.
  const last = tensors.at(-1);
  if (last && dataBytes > expected) {
    throw new GgufFormatError(
      `${file}: the data section holds ${dataBytes} bytes but the tensors end at ${last.relOffset + last.byteLength} (${expected} with padding); ` +
        `${dataBytes - expected} trailing bytes belong to no tensor; the tensor table is corrupt`,
    );
  }
}

/**
 * Every tensor of a GGUF file must be used by the model its metadata describes (ggml's loader refuses a
 * file with tensors it did not create too): an unused bias or an extra layer means the metadata and the
 * tensors disagree, and loading would silently drop weights.
 */
export function checkAllTensorsUsed(file: string, names: Iterable<string>, used: ReadonlySet<string>): void {
  const unused = [...names].filter((n) => !used.has(n));
  if (unused.length > 0) {
    throw new GgufFormatError(
      `${file}: ${unused.length} tensor(s) are not part of the model the metadata describes: ${unused.slice(0, 5).map((n) => `"${n}"`).join(', ')}${unused.length > 5 ? ', ...' : ''}; the metadata and the tensors disagree`,
    );
  }
}

/**
 * The shapes of the GGUF tensors that make up one canonical weight (one tensor, or q/k/v or gate/up stacked
 * by rows) must give the shape the config needs, checked from the tensor table before any byte is read or
 * any buffer is sized from the config.
 */
export function stackedShapeMatches(parts: readonly (readonly number[])[], shape: readonly number[]): boolean {
  if (parts.length === 0) return false;
  let rows = 0;
  for (const p of parts) {
    if (p.length !== shape.length) return false;
    for (let d = 1; d < shape.length; d++) if (p[d] !== shape[d]) return false;
    rows += p[0]!;
  }
  return rows === shape[0];
}
