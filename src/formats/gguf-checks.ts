// Structural checks of a GGUF file's tensor table (issue #18), kept apart from the reader (gguf.ts) so
// the type table and tensor decoding can change without touching them. ggml's own reader requires each
// tensor offset to be a multiple of general.alignment; a writer never lets two tensors share bytes. A
// file that breaks either would otherwise load with weights read from the wrong place, silently.
import { GgufFormatError } from './gguf';

export interface GgufTensorExtent {
  name: string;
  /** Offset relative to the start of the data section. */
  relOffset: number;
  byteLength: number;
}

export function checkGgufTensorLayout(file: string, tensors: readonly GgufTensorExtent[], alignment: number): void {
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
