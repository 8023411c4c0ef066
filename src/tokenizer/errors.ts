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
