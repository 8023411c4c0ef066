// The tokenizer interface shared by the tokenizer.json and SentencePiece implementations.
import { InvalidArgumentError } from '../errors';

export interface EncodeOptions {
  /** Add the specials the tokenizer's post-processor adds (GLM: `[gMASK]<sop>` in front). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (`[gMASK]`, `<sop>`, `<|user|>`, eos, ...) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface GlmTokenizer {
  /** Which implementation backs this tokenizer. */
  readonly kind: 'tokenizer.json' | 'sentencepiece';
  /** One more than the largest token id (added and special tokens included). */
  readonly vocabSize: number;
  /** Special token string -> id. */
  readonly specialIds: Readonly<Record<string, number>>;
  /** The Jinja chat template from tokenizer_config.json (or chat_template.jinja), when there is one. */
  readonly chatTemplate?: string;
  /** tokenizer_config.json as parsed; `{}` when none was given. */
  readonly config: Readonly<Record<string, unknown>>;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** Throws InvalidArgumentError for an id that is not an integer in [0, vocabSize). */
export function checkTokenIds(ids: ArrayLike<number>, vocabSize: number): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidArgumentError(`token id ${id} at index ${i} is outside the vocabulary [0, ${vocabSize})`);
    }
    out[i] = id;
  }
  return out;
}
