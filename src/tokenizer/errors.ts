// Tokenizer-specific errors. They live beside the tokenizer rather than in src/errors.ts so that this
// module can be loaded on its own (worker, CLI) without pulling the GPU error set in with it.
import { GlmError } from '../errors';

/** The tokenizer files are malformed: invalid JSON, a truncated protobuf, a missing model section. */
export class TokenizerError extends GlmError {
  override name = 'TokenizerError';
}

/** The tokenizer files are readable but in a format this engine does not implement. */
export class UnsupportedTokenizerError extends GlmError {
  override name = 'UnsupportedTokenizerError';
}

/** A chat prompt could not be built: template error, unknown role, a special token the vocabulary lacks. */
export class ChatTemplateError extends GlmError {
  override name = 'ChatTemplateError';
}

/**
 * A tokenizer file or chat template goes past a bound this engine sets so that hostile files cannot stall or
 * exhaust the page (issue #18): a token id or vocabulary too large, a SentencePiece piece too long, a
 * pre-tokenizer pattern that could backtrack without end, a template that loops too long.
 */
export class TokenizerLimitError extends TokenizerError {
  override name = 'TokenizerLimitError';
}

/** The tokenizer names token ids the model has no embedding row for (tokenizer and weights do not belong together). */
export class TokenizerModelMismatchError extends GlmError {
  override name = 'TokenizerModelMismatchError';
}

/** A chat template ran past its step, time or output budget (a `range(100000000)`, a runaway loop). */
export class ChatTemplateLimitError extends ChatTemplateError {
  override name = 'ChatTemplateLimitError';
}
