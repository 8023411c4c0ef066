// Tokenizers, chat prompt formats and streaming detokenization for every GLM generation.
export { loadTokenizer, loadTokenizerFromFolder, TOKENIZER_FILE_NAMES, type TokenizerFiles } from './tokenizer';
export { checkTokenIds, type DecodeOptions, type EncodeOptions, type GlmTokenizer } from './types';
export {
  renderChat,
  stopIds,
  resolveSpecialToken,
  DEFAULT_GLM4_CHAT_TEMPLATE,
  type ChatFamily,
  type ChatMessage,
  type ChatRole,
  type ChatTokenNames,
  type RenderChatOptions,
  type RenderedChat,
  type StopIdConfig,
} from './chat';
export { StreamingDetokenizer } from './stream';
export {
  SentencePieceProcessor,
  parseSentencePieceModel,
  chatglm1Preprocess,
  chatglm1Postprocess,
  type ChatGlmSentencePieceFlavor,
  type SentencePiece,
  type SentencePieceModelProto,
  type SentencePieceType,
} from './sentencepiece';
export { TokenizerError, UnsupportedTokenizerError, ChatTemplateError } from './errors';
