// One tokenizer interface for every GLM generation.
//
// GLM-4-9B-chat(-hf), GLM-4-0414 and GLM-Edge ship a Hugging Face `tokenizer.json` (byte-level BPE); that
// runs through @huggingface/tokenizers, which reproduces HF `tokenizers` exactly on GLM-4's pre-tokenizer
// regex (tests/unit/tokenizer.test.ts checks every fixture case). ChatGLM-6B/2/3 ship only a SentencePiece
// `ice_text.model` / `tokenizer.model`; those go through the SentencePiece reader in ./sentencepiece.ts.
// GLM-4-9B-chat's original THUDM repo ships a tiktoken rank file as `tokenizer.model` with a
// tokenizer_config.json naming ChatGLM4Tokenizer: that goes through ./tiktoken.ts.
import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidArgumentError } from '../errors';
import { TokenizerError, TokenizerLimitError, UnsupportedTokenizerError } from './errors';
import { createChatGlmSentencePieceTokenizer, type ChatGlmSentencePieceFlavor } from './sentencepiece';
import { createGlm4TiktokenTokenizer, isGlm4TiktokenConfig, looksLikeTiktokenRanks } from './tiktoken';
import { validateTokenizerJson } from './validate';
import { checkTokenIds, type DecodeOptions, type EncodeOptions, type GlmTokenizer } from './types';

export type { DecodeOptions, EncodeOptions, GlmTokenizer } from './types';
export { checkTokenIds } from './types';

export interface TokenizerFiles {
  /** tokenizer.json, as text or parsed. */
  tokenizerJson?: string | object;
  /** tokenizer_config.json, as text or parsed. */
  tokenizerConfig?: string | object;
  /** chat_template.jinja, which newer HF repos ship beside tokenizer_config.json; wins over `chat_template` in the config. */
  chatTemplate?: string;
  /**
   * `tokenizer.model` / `ice_text.model` bytes, used when there is no tokenizer.json: SentencePiece (ChatGLM-6B/2/3),
   * or GLM-4's tiktoken rank file (told apart by content; the latter needs a ChatGLM4Tokenizer tokenizer_config.json).
   */
  sentencepieceModel?: Uint8Array | ArrayBuffer;
  /** Which THUDM tokenizer wraps the SentencePiece model; detected from the model when left out. */
  sentencepieceFlavor?: ChatGlmSentencePieceFlavor;
}

/** File names a model folder may hold, in the order loadTokenizerFromFolder looks for them. */
export const TOKENIZER_FILE_NAMES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'tokenizer.model',
  'ice_text.model',
] as const;

export async function loadTokenizer(files: TokenizerFiles): Promise<GlmTokenizer> {
  const config = files.tokenizerConfig === undefined ? {} : parseJsonObject(files.tokenizerConfig, 'tokenizer_config.json');
  const chatTemplate = files.chatTemplate ?? pickChatTemplate(config.chat_template);
  if (files.tokenizerJson !== undefined) {
    const json = parseJsonObject(files.tokenizerJson, 'tokenizer.json');
    return new HfJsonTokenizer(json, config, chatTemplate);
  }
  if (files.sentencepieceModel !== undefined) {
    const bytes =
      files.sentencepieceModel instanceof Uint8Array ? files.sentencepieceModel : new Uint8Array(files.sentencepieceModel);
    if (looksLikeTiktokenRanks(bytes)) {
      if (!isGlm4TiktokenConfig(config)) {
        throw new UnsupportedTokenizerError(
          'tokenizer.model is a tiktoken rank file, which this engine reads for GLM-4 (THUDM\'s ChatGLM4Tokenizer) only: ' +
            'put the tokenizer_config.json that came with it (tokenizer_class "ChatGLM4Tokenizer") beside it, or use a tokenizer.json',
        );
      }
      return createGlm4TiktokenTokenizer(bytes, config, chatTemplate);
    }
    return createChatGlmSentencePieceTokenizer(bytes, config, files.sentencepieceFlavor);
  }
  throw new UnsupportedTokenizerError(
    'no tokenizer files: tokenizer.json is needed (or, for ChatGLM-6B/2/3, the SentencePiece tokenizer.model / ice_text.model)',
  );
}

/**
 * Loads a tokenizer from a model folder through `read`, which returns a file's bytes or text, or undefined when
 * the folder has no such file (fetch in the browser, fs under Node: the caller decides).
 */
export async function loadTokenizerFromFolder(
  read: (name: (typeof TOKENIZER_FILE_NAMES)[number]) => Promise<Uint8Array | string | undefined>,
): Promise<GlmTokenizer> {
  const asText = (v: Uint8Array | string | undefined): string | undefined =>
    v === undefined ? undefined : typeof v === 'string' ? v : new TextDecoder().decode(v);
  const tokenizerJson = asText(await read('tokenizer.json'));
  const tokenizerConfig = asText(await read('tokenizer_config.json'));
  const chatTemplate = asText(await read('chat_template.jinja'));
  const files: TokenizerFiles = {};
  if (tokenizerConfig !== undefined) files.tokenizerConfig = tokenizerConfig;
  if (chatTemplate !== undefined) files.chatTemplate = chatTemplate;
  if (tokenizerJson !== undefined) {
    files.tokenizerJson = tokenizerJson;
    return loadTokenizer(files);
  }
  const model = (await read('tokenizer.model')) ?? (await read('ice_text.model'));
  if (model !== undefined) {
    files.sentencepieceModel = typeof model === 'string' ? new TextEncoder().encode(model) : model;
  }
  return loadTokenizer(files);
}

function parseJsonObject(source: string | object, what: string): Record<string, unknown> {
  let value: unknown = source;
  if (typeof source === 'string') {
    try {
      value = JSON.parse(source);
    } catch (err) {
      throw new TokenizerError(`${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TokenizerError(`${what} must hold a JSON object`);
  }
  const depth = jsonDepth(value, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) throw new TokenizerLimitError(`${what} nests objects/arrays more than ${MAX_JSON_DEPTH} deep; no real tokenizer file does`);
  return value as Record<string, unknown>;
}

/** Real tokenizer files nest a few levels (normalizer/pre-tokenizer sequences); code that walks them recursively must never meet more. */
const MAX_JSON_DEPTH = 64;

/** How deep a parsed JSON value nests, counted without recursion and stopping past `limit`. */
function jsonDepth(root: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Object.values(v as object)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return max;
}

/**
 * @huggingface/tokenizers reads parts of tokenizer.json (post-processor, decoder) only when it first uses
 * them, so a malformed part fails there, as a bare TypeError: name it after the file it came from.
 */
function libraryCall<R>(what: string, run: () => R): R {
  try {
    return run();
  } catch (err) {
    if (err instanceof Error && err.name !== 'TypeError' && err.name !== 'RangeError' && err.name !== 'Error') throw err;
    throw new TokenizerError(`tokenizer.json could not ${what}: ${(err as Error).message} (is the file damaged?)`, { cause: err });
  }
}

/** tokenizer_config.json's chat_template is a string, or a list of named templates of which "default" is the chat one. */
function pickChatTemplate(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) {
    const named = raw.filter(
      (t): t is { name: string; template: string } =>
        t !== null && typeof t === 'object' && typeof t.name === 'string' && typeof t.template === 'string',
    );
    return (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

class HfJsonTokenizer implements GlmTokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly specialIds: Readonly<Record<string, number>>;
  readonly chatTemplate?: string;
  readonly config: Readonly<Record<string, unknown>>;
  private readonly inner: Tokenizer;
  private readonly cleanUpSpaces: boolean;

  constructor(json: Record<string, unknown>, config: Record<string, unknown>, chatTemplate: string | undefined) {
    const model = json.model;
    if (model === null || typeof model !== 'object') throw new TokenizerError('tokenizer.json has no "model" section');
    const modelType = (model as { type?: unknown }).type;
    if (modelType !== undefined && modelType !== 'BPE' && modelType !== 'Unigram' && modelType !== 'WordPiece') {
      throw new UnsupportedTokenizerError(`tokenizer.json model type ${String(modelType)} is not supported`);
    }
    // Ids, merges and regexes are checked first: the library trusts them (issue #18).
    validateTokenizerJson(json);
    try {
      this.inner = new Tokenizer(json, config);
    } catch (err) {
      throw new TokenizerError(`tokenizer.json could not be loaded: ${(err as Error).message}`, { cause: err });
    }
    this.config = config;
    if (chatTemplate !== undefined) this.chatTemplate = chatTemplate;
    // GLM configs set clean_up_tokenization_spaces false; that cleanup rewrites " 's" and " ," which would
    // break the streaming detokenizer's prefix property, so it stays off unless the config asks for it.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;

    let maxId = -1;
    for (const id of this.inner.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const specials: Record<string, number> = {};
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as unknown[]) : [];
    for (const t of added) {
      if (t === null || typeof t !== 'object') continue;
      const { content, id, special } = t as { content?: unknown; id?: unknown; special?: unknown };
      if (special === true && typeof content === 'string' && typeof id === 'number') specials[content] = id;
    }
    this.specialIds = Object.freeze(specials);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('encode expects a string');
    return libraryCall('encode', () => this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const checked = checkTokenIds(ids, this.vocabSize);
    // @huggingface/tokenizers throws on an empty list; nothing decodes to nothing.
    if (checked.length === 0) return '';
    return libraryCall('decode', () =>
      this.inner.decode(checked, {
        skip_special_tokens: options.skipSpecialTokens ?? false,
        clean_up_tokenization_spaces: this.cleanUpSpaces,
      }),
    );
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }
}
