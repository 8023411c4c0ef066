// Turns generated ids into text as they arrive, never emitting half a UTF-8 character.
//
// Byte-level BPE (GLM-4) splits one Chinese character or emoji over several tokens, and SentencePiece
// byte fallback does the same; decoding such a prefix ends in U+FFFD. So: decode the ids since the last
// emitted boundary together with one window of context, hold back while the text ends in U+FFFD, and
// emit the new tail otherwise. The context window also keeps decoders that drop a sentence-initial space
// (SentencePiece's dummy prefix) from dropping it at every chunk. Windows only ever start at boundaries
// where the text was complete, so the chunks concatenate to exactly decode(allIds).
//
// A model's embedding is often padded past its tokenizer (ChatGLM3: 65024 rows, 64798 tokens); a padding id
// the model samples has no text (THUDM's tokenizer converts it to ""), so it is skipped, not an error.
import type { DecodeOptions, GlmTokenizer } from './types';

const REPLACEMENT_CHAR = '\ufffd';

export class StreamingDetokenizer {
  private readonly ids: number[] = [];
  /** Start of the context window: ids before it are final and emitted. */
  private prefixOffset = 0;
  /** End of what has been emitted: ids from here on are pending. */
  private readOffset = 0;
  private readonly decodeOptions: DecodeOptions;

  constructor(
    private readonly tokenizer: Pick<GlmTokenizer, 'decode'> & Partial<Pick<GlmTokenizer, 'vocabSize'>>,
    options: DecodeOptions = {},
  ) {
    this.decodeOptions = { ...options };
  }

  /** Every id pushed so far (padding ids past the tokenizer's vocabulary left out). */
  get allIds(): readonly number[] {
    return this.ids;
  }

  /** Adds one id; returns the text it completes ('' while a character is still incomplete). */
  push(id: number): string {
    const vocab = this.tokenizer.vocabSize;
    if (vocab !== undefined && Number.isInteger(id) && id >= vocab) return '';
    this.ids.push(id);
    const prefixText = this.decodeRange(this.prefixOffset, this.readOffset);
    const newText = this.decodeRange(this.prefixOffset, this.ids.length);
    if (newText.length > prefixText.length && !newText.endsWith(REPLACEMENT_CHAR)) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return newText.slice(prefixText.length);
    }
    return '';
  }

  /** Emits whatever is still held back (an incomplete character decodes to U+FFFD here) and resets the window. */
  flush(): string {
    if (this.readOffset === this.ids.length) return '';
    const prefixText = this.decodeRange(this.prefixOffset, this.readOffset);
    const newText = this.decodeRange(this.prefixOffset, this.ids.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return newText.slice(prefixText.length);
  }

  private decodeRange(start: number, end: number): string {
    return start >= end ? '' : this.tokenizer.decode(this.ids.slice(start, end), this.decodeOptions);
  }
}
