// The tokenizer interface shared by the tokenizer.json and SentencePiece implementations.
import { InvalidArgumentError } from '../errors';
import { TokenizerModelMismatchError } from './errors';

/**
 * The largest token id a tokenizer file may use (2^21 - 1; real GLM vocabularies stop at 151552, the largest
 * public ones near 262144). Checked before anything is sized from an id, so a hostile id of 1e9 is a
 * TokenizerLimitError at once instead of a stalled load.
 */
export const MAX_TOKEN_ID = (1 << 21) - 1;

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
  readonly kind: 'tokenizer.json' | 'sentencepiece' | 'tiktoken';
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

/**
 * Every id the tokenizer can produce must have an embedding row: a tokenizer whose vocabulary goes past the
 * model's (files from two different models) is refused at load rather than failing mid-generation.
 */
export function checkTokenizerFitsModel(tokenizer: Pick<GlmTokenizer, 'vocabSize'>, modelVocabSize: number): void {
  if (tokenizer.vocabSize > modelVocabSize) {
    throw new TokenizerModelMismatchError(
      `the tokenizer has token ids up to ${tokenizer.vocabSize - 1} but the model's vocabulary has ${modelVocabSize} rows: ` +
        'the tokenizer files belong to another model; use the tokenizer that came with these weights',
    );
  }
}
