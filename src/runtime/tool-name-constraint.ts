// tool_choice "required" with several tools: the reply's first line must be one of their names. Before
// each draw, only tokens whose bytes keep the reply a prefix of some `name\n` are allowed (no stop id,
// no token that runs past the newline); once a whole `name\n` is written, choice.ts switches to that
// tool's arguments, decoded as JSON under its schema (json-constraint.ts).
import type { VocabBytes } from './json-constraint';

const encoder = new TextEncoder();

/** What the decode loop asks of a constraint (JsonConstraint has the same shape). */
export interface TokenConstraint {
  /** Bit i (word i >> 5, bit i & 31) set when id i may come next, with `tokensLeft` tokens left. */
  mask(tokensLeft: number): Uint32Array;
  /** Advances past a sampled id's bytes. */
  accept(bytes: Uint8Array | null): void;
}

export class ToolNameConstraint implements TokenConstraint {
  /** Each allowed line, `name\n`, as bytes. */
  private readonly lines: Uint8Array[];
  private written = new Uint8Array(0);

  constructor(
    names: readonly string[],
    private readonly vocab: VocabBytes,
  ) {
    this.lines = names.map((n) => encoder.encode(`${n}\n`));
  }

  /** Whether `written` + `bytes` is a prefix of one of the lines (or one whole line). */
  private fits(bytes: Uint8Array): boolean {
    const at = this.written.length;
    return this.lines.some((line) => {
      if (at + bytes.length > line.length) return false;
      for (let i = 0; i < at; i++) if (line[i] !== this.written[i]) return false;
      for (let i = 0; i < bytes.length; i++) if (line[at + i] !== bytes[i]) return false;
      return true;
    });
  }

  mask(): Uint32Array {
    const mask = new Uint32Array(Math.ceil(this.vocab.vocabSize / 32));
    this.vocab.bytes.forEach((b, id) => {
      if (b && b.length > 0 && this.fits(b)) mask[id >>> 5]! |= 1 << (id & 31);
    });
    return mask;
  }

  accept(bytes: Uint8Array | null): void {
    if (bytes === null) return;
    if (!this.fits(bytes)) throw new Error('ToolNameConstraint.accept: the token does not continue a tool name line');
    const next = new Uint8Array(this.written.length + bytes.length);
    next.set(this.written);
    next.set(bytes, this.written.length);
    this.written = next;
  }
}
