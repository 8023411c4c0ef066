// Tokenizers, chat prompt formats and streaming detokenization for every GLM generation.
export { loadTokenizer, loadTokenizerFromFolder, TOKENIZER_FILE_NAMES, type TokenizerFiles } from './tokenizer';
export { checkTokenIds, checkTokenizerFitsModel, MAX_TOKEN_ID, type DecodeOptions, type EncodeOptions, type GlmTokenizer } from './types';
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
  serializeSentencePieceModel,
  chatglm1Preprocess,
  chatglm1Postprocess,
  type ChatGlmSentencePieceFlavor,
  type SentencePiece,
  type SentencePieceModelProto,
  type SentencePieceType,
} from './sentencepiece';
export {
  TiktokenTokenizer,
  parseTiktokenRanks,
  bytePairEncode,
  GLM4_TIKTOKEN_PATTERN,
  GLM4_SPECIAL_TOKENS,
} from './tiktoken';
export {
  TokenizerError,
  UnsupportedTokenizerError,
  ChatTemplateError,
  TokenizerLimitError,
  TokenizerModelMismatchError,
  ChatTemplateLimitError,
} from './errors';
