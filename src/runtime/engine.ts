// The in-thread engine: load a model, keep one chat session (KV cache) and answer OpenAI-shaped chat
// requests with streaming. The worker (src/worker/engine-worker.ts) wraps exactly this class; Node and
// tests use it directly.
import { AbortError, GlmError, InvalidArgumentError, ImageInputError, ModelNeedsConversionError, NoVisionTowerError, UnsupportedFieldError } from '../errors';
import { expandImagePrompt, imagePixelCount, imageTokenCount, type ImageSpan } from '../model/vision';
import { MissingFileError, type ModelFiles } from '../formats/byte-source';
import type { GlmConfig } from '../model/config';
import { loadTokenizerFromFolder, TOKENIZER_FILE_NAMES, type GlmTokenizer } from '../tokenizer/tokenizer';
import { checkTokenizerFitsModel } from '../tokenizer/types';
import { renderChat, stopIds as familyStopIds, type ChatFamily } from '../tokenizer/chat';
import { registryEntry } from './registry';
import { warmUpDecode } from './warm-up';
import { knowledgeOf, withKnowledge, type KnowledgeHit, type Retriever } from '../knowledge/index';
import { catalogueModel } from './catalogue';
import { platform } from '#platform';
import { bandwidthOf, cpuThreadingOf } from './calibration';
import { loadBackend, type LoadedBackend } from './backend';
import type { SamplingParams } from './sampler';
import { runChoice, yieldToEventLoop, type ChoiceDelta, type ChoiceResult } from './choice';
import { generationDefaults, normalizeMessages, pick, validateChatRequest, validateCompletionRequest, type GenerationDefaults } from './request';
import { argumentsSchema, forcedCallPrefix, planTools, templateReadsToolsVariable, type ToolPlan } from './tools';
import { anyObjectNode, compileSchema, JsonConstraint, VocabBytes } from './json-constraint';
import { ToolNameConstraint } from './tool-name-constraint';
import { vocabularyBytes } from '../tokenizer/token-bytes';
import { ContextOverflowError, type ModelSession } from './session';
import { checkImagesAllowed, imageUrlsOf, renderGlm4vChat, visionInfoOf, type VisionInfo } from '../vision/content';
import { preprocessImage } from '../vision/image-source';
import type {
  LoadProgress,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletionChunkChoice,
  Completion,
  CompletionChoice,
  CompletionChunk,
  CompletionRequest,
  EngineLoadOptions,
  EngineStats,
  ModelInfo,
  TokenLogprob,
  Usage,
} from './api-types';

export class ModelNotLoadedError extends GlmError {
  override name = 'ModelNotLoadedError';
}
export class GenerationInProgressError extends GlmError {
  override name = 'GenerationInProgressError';
}
/** Internal: thrown through a prefill by its checkpoint when abort() was called; ends as finish_reason "abort". */
class PrefillAborted extends Error {}

const DEFAULT_MAX_TOKENS = 256;
const DEFAULT_CONTEXT_CAP = 4096;

/** Which prompt format a loaded model speaks. */
export function chatFamilyFor(config: GlmConfig, tokenizer: GlmTokenizer): ChatFamily {
  if (config.family === 'chatglm1') return 'chatglm1';
  if (config.family === 'glm' || config.family === 'glm4') return 'glm4';
  // THUDM v2 code: GLM-4-9B-chat ships tokenizer.json (or its original tiktoken tokenizer.model) with a chat template; ChatGLM3 has role tokens in
  // its SentencePiece vocab; ChatGLM2 has neither.
  if (tokenizer.kind === 'tokenizer.json' || tokenizer.kind === 'tiktoken') return 'glm4';
  return tokenizer.tokenToId('<|user|>') !== undefined ? 'chatglm3' : 'chatglm2';
}

/** The tokenizer of a model folder (tokenizer.json, or a SentencePiece model for ChatGLM-6B/2/3). */
export function loadModelTokenizer(files: ModelFiles): Promise<GlmTokenizer> {
  return loadTokenizerFromFolder((file: (typeof TOKENIZER_FILE_NAMES)[number]) => readOptional(files, file));
}

async function readOptional(files: ModelFiles, name: string): Promise<Uint8Array | string | undefined> {
  if (!(await files.exists(name))) return undefined;
  if (name.endsWith('.model')) {
    const src = await files.open(name);
    try {
      return await src.read(0, src.size);
    } finally {
      await src.close?.();
    }
  }
  return files.readText(name);
}

interface Loaded {
  name: string;
  backend: LoadedBackend;
  tokenizer: GlmTokenizer;
  family: ChatFamily;
  stopIds: number[];
  session: ModelSession<unknown, unknown, unknown>;
  contextLength: number;
  /** The package's knowledge base (read on first use), when it has one and the load did not turn it off. */
  knowledge: { source: string; retriever: () => Promise<Retriever> } | null;
  /** Sampling defaults from generation_config.json (used where a request leaves a field out). */
  defaults: GenerationDefaults;
  /** Token bytes, built on the first JSON-mode request or logprobs (a pass over the vocabulary). */
  vocab: VocabBytes | null;
  /** EngineLoadOptions.pipelineDecode. */
  pipeline: boolean;
  /** Issue #21: the images the model takes (null: text only), and a key per image of the prompt now in the KV cache. */
  vision: VisionInfo | null;
  cachedImageKeys: string[];
}

/** `glm-cache:<id>` names a package already in the browser's IndexedDB model cache. */
export const CACHE_SCHEME = 'glm-cache:';

/** Resolves a source string to model files: an http(s)/relative URL in browsers, a folder path under Node. */
export type ModelResolver = (source: string, onProgress: (p: LoadProgress) => void, options?: EngineLoadOptions) => Promise<ModelFiles>;

/**
 * A registry id, a `glm-cache:` id, or what the platform opens (src/platform/): browsers read URLs, a
 * glm-webgpu package through the IndexedDB shard cache (downloaded once, resumable, checked); Node reads
 * folder paths or URLs.
 */
export async function defaultResolver(source: string, onProgress: (p: LoadProgress) => void, options: EngineLoadOptions = {}): Promise<ModelFiles> {
  // A catalogue name ("glm-edge-1.5b-chat") stands for its Hub repo.
  const listed = registryEntry(source) ? undefined : catalogueModel(source);
  if (listed?.access === 'convert-first') throw new ModelNeedsConversionError(`${listed.title} (${listed.repo}): ${listed.notes}`);
  if (listed) source = listed.repo;
  const { parseHubSource } = await import('../loader/hub');
  const hub = registryEntry(source) ? null : parseHubSource(source, options.hfEndpoint);
  if (hub) {
    // Hub repo ids, Hub URLs and .gguf URLs: converted into the cache once (src/loader/hub-load.ts).
    const { loadHubIntoCache } = await import('../loader/hub-load');
    return loadHubIntoCache(hub, options, onProgress);
  }
  const entry = registryEntry(source);
  if (entry) source = platform.registryLocation(entry);
  if (source.startsWith(CACHE_SCHEME)) {
    // A package the page already downloaded into IndexedDB (same origin, so the same database).
    const { cachedModelFiles } = await import('../loader/cache');
    return cachedModelFiles(source.slice(CACHE_SCHEME.length));
  }
  return platform.openModelFiles(source, onProgress);
}

export class GlmEngine {
  private loaded: Loaded | null = null;
  private abortRequested = false;
  private loadAborted = false;
  private running = false;
  private lastStats = { prefillTokPerSec: null as number | null, decodeTokPerSec: null as number | null, prefilled: 0, reused: 0, pipelined: false };
  /** Prompt tokens through the model so far while a prefill runs (stats().prefill), else null. */
  private prefill: { done: number; total: number } | null = null;

  constructor(private readonly resolve: ModelResolver = defaultResolver) {}

  async load(source: string | ModelFiles, options: EngineLoadOptions = {}): Promise<ModelInfo> {
    if (this.running) throw new GenerationInProgressError('a generation is running: abort it before loading another model');
    this.unload();
    this.loadAborted = false;
    const signal = options.signal;
    const checkAbort = () => {
      if (this.loadAborted || signal?.aborted) throw new AbortError('the load was aborted');
    };
    checkAbort();
    // Every progress report is a point where an abort takes effect (between files and tensors).
    const report = options.onProgress ?? (() => {});
    const progress = (p: LoadProgress) => {
      checkAbort();
      report(p);
    };
    const files = typeof source === 'string' ? await this.resolve(source, progress, options) : source;
    const name = typeof source === 'string' ? source : files.location;
    progress({ phase: 'config', done: 0, total: 1, text: `opening ${name}` });
    // Fail fast, naming the folder, when it is not a model at all (before any tokenizer or weights work).
    if (!(await files.exists('config.json'))) throw new MissingFileError(`missing file "config.json" in model folder "${files.location}": is this a model folder?`);
    progress({ phase: 'tokenizer', done: 0, total: 1, text: 'reading the tokenizer' });
    const tokenizer = await loadModelTokenizer(files);
    progress({ phase: 'tokenizer', done: 1, total: 1, text: 'tokenizer ready' });
    const knowledge = options.knowledge === false ? null : await knowledgeOf(files);
    const contextCap = options.contextLength ?? DEFAULT_CONTEXT_CAP;
    const backend = await loadBackend(files, {
      backend: options.backend ?? 'auto',
      quant: options.quant ?? 'none',
      contextLength: contextCap,
      ...(options.gpuBudget !== undefined ? { gpuBudget: options.gpuBudget } : {}),
      ...(options.gemv ? { gemv: options.gemv } : {}),
      ...(options.calibration ? { bandwidth: bandwidthOf(options.calibration), ...cpuThreadingOf(options.calibration) } : {}),
      onProgress: (done, total, what) => progress({ phase: 'weights', done, total, text: `weights: ${what}` }),
    });
    const { config, rawConfig } = backend.model;
    try {
      checkTokenizerFitsModel(tokenizer, config.vocabSize);
    } catch (err) {
      backend.dispose();
      throw err;
    }
    const contextLength = Math.min(contextCap, config.maxSequenceLength);
    const family = chatFamilyFor(config, tokenizer);
    let defaults: GenerationDefaults;
    try {
      checkAbort();
      defaults = await readGenerationDefaults(files);
      checkAbort();
    } catch (err) {
      backend.dispose();
      throw err;
    }
    this.loaded = {
      name,
      backend,
      tokenizer,
      family,
      stopIds: familyStopIds(family, tokenizer, rawConfig as { eos_token_id?: number | number[] }),
      session: backend.newSession(contextLength),
      contextLength,
      knowledge,
      defaults,
      vocab: null,
      pipeline: options.pipelineDecode ?? true,
      // Only a model loaded with its vision tower takes images; a GLM-4V config alone does not make one.
      vision: backend.model.vision ? visionInfoOf(rawConfig as Record<string, unknown>, tokenizer) : null,
      cachedImageKeys: [],
    };
    // A model that computes on the GPU compiles its pipelines here rather than in the first reply (warm-up.ts).
    if (backend.placement.gpu > 0) await warmUpDecode(this.loaded.session, this.loaded.pipeline);
    progress({ phase: 'ready', done: 1, total: 1, text: 'ready' });
    return this.info();
  }

  info(): ModelInfo {
    const l = this.require();
    const { config } = l.backend.model;
    return {
      model: l.name,
      family: config.family,
      chatFormat: l.family,
      backend: l.backend.kind,
      contextLength: l.contextLength,
      vocabSize: config.vocabSize,
      numLayers: config.numLayers,
      knowledge: l.knowledge?.source ?? null,
      vision: l.vision ? { ...l.vision } : null,
    };
  }

  unload(): void {
    this.loaded?.backend.dispose();
    this.loaded = null;
  }

  /** Stops a running generation before its next token (finish_reason "abort"), or a running load (AbortError). */
  abort(): void {
    if (this.running) this.abortRequested = true;
    this.loadAborted = true;
  }

  resetChat(): void {
    this.loaded?.session.reset();
  }

  tokenize(text: string, addSpecialTokens = true): number[] {
    return this.require().tokenizer.encode(text, { addSpecialTokens });
  }

  /** Session counters (tokens run through the model), for tests of KV reuse. */
  counters(): { tokensEvaluated: number; cachedTokens: number } {
    const s = this.require().session;
    return { tokensEvaluated: s.counters.tokensEvaluated, cachedTokens: s.tokens.length };
  }

  stats(): EngineStats {
    const l = this.loaded;
    return {
      loaded: l !== null,
      ...(l ? { model: l.name, backend: l.backend.kind } : {}),
      prefillTokPerSec: this.lastStats.prefillTokPerSec,
      decodeTokPerSec: this.lastStats.decodeTokPerSec,
      lastPrefilledTokens: this.lastStats.prefilled,
      lastReusedTokens: this.lastStats.reused,
      lastDecodePipelined: this.lastStats.pipelined,
      placement: l ? l.backend.placement : { gpu: 0, cpu: 0 },
      ...cpuKernelsOf(l?.backend.describe()),
      prefill: this.prefill ? { ...this.prefill } : null,
    };
  }

  /**
   * Runs one chat request; `onChunk` receives the streamed chunks (the last one carries finish_reason
   * and usage). Returns the whole completion.
   */
  async generate(request: ChatCompletionRequest, onChunk?: (chunk: ChatCompletionChunk) => void): Promise<ChatCompletion> {
    return (await this.generateWithIds(request, onChunk)).completion;
  }

  /**
   * Plain text completion (no chat template): the prompt is tokenized with the tokenizer's own special
   * tokens and continued. Returns the completion and the generated ids (the CLI prints them).
   */
  async complete(
    prompt: string,
    request: Omit<ChatCompletionRequest, 'messages'> = {},
    onChunk?: (chunk: ChatCompletionChunk) => void,
  ): Promise<{ completion: ChatCompletion; ids: number[] }> {
    const l = this.require();
    validateChatRequest({ ...request, messages: [{ role: 'user', content: prompt }] }, l.backend.model.config.vocabSize);
    const promptIds = l.tokenizer.encode(prompt, { addSpecialTokens: true });
    return this.exclusive(() => this.run(l, promptIds, request, null, onChunk));
  }

  /**
   * Generation from an already rendered prompt: `ids` as the chat template gives them and, for GLM-4V,
   * `images` (preprocessed CHW float32, vision image_size²), the i-th for the i-th <|begin_of_image|> id
   * (laid out <|begin_of_image|> placeholder <|end_of_image|>). A model without a vision tower answers
   * images with NoVisionTowerError; usage.prompt_tokens counts each image's rows.
   */
  async generateFromPrompt(
    prompt: { ids: number[]; images?: readonly Float32Array[] },
    request: Omit<ChatCompletionRequest, 'messages'> = {},
    onChunk?: (chunk: ChatCompletionChunk) => void,
  ): Promise<{ completion: ChatCompletion; ids: number[] }> {
    const l = this.require();
    validateChatRequest({ ...request, messages: [{ role: 'user', content: '' }] }, l.backend.model.config.vocabSize);
    if (!Array.isArray(prompt.ids) || prompt.ids.length === 0) throw new InvalidArgumentError('generateFromPrompt: ids must be a non-empty array of token ids');
    return this.exclusive(() => this.run(l, prompt.ids, request, null, onChunk, undefined, prompt.images));
  }

  /** OpenAI's completions.create: a text_completion for `prompt` (no chat template). */
  async createCompletion(request: CompletionRequest, onChunk?: (chunk: CompletionChunk) => void): Promise<Completion> {
    const l = this.require();
    validateCompletionRequest(request, l.backend.model.config.vocabSize);
    const { prompt, echo, logprobs, ...rest } = request;
    const promptIds = l.tokenizer.encode(prompt, { addSpecialTokens: true });
    const chat: Omit<ChatCompletionRequest, 'messages'> = { ...rest, ...(logprobs !== undefined && logprobs !== null ? { logprobs: true, top_logprobs: logprobs } : {}) };
    // Streamed as the whole response reads: the prompt first when echo is set (in each choice's first
    // chunk), and each piece's logprobs with text_offset counted from the start of the choice's text.
    const start = echo ? prompt.length : 0;
    const tokenAt = new Map<number, number>();
    const toText = (c: ChatCompletionChunk): CompletionChunk => ({
      id: completionId(c.id),
      object: 'text_completion',
      created: c.created,
      model: c.model,
      system_fingerprint: c.system_fingerprint,
      choices: c.choices
        .filter((ch) => ch.delta.content || ch.finish_reason || ch.logprobs || (echo && ch.delta.role))
        .map((ch) => {
          const text = (echo && ch.delta.role ? prompt : '') + (ch.delta.content ?? '');
          let logprobs: CompletionChoice['logprobs'] = null;
          if (ch.logprobs) {
            const at = tokenAt.get(ch.index) ?? start;
            logprobs = completionLogprobs(ch.logprobs.content, at);
            tokenAt.set(ch.index, at + ch.logprobs.content.reduce((n, t) => n + t.token.length, 0));
          }
          return { index: ch.index, text, finish_reason: ch.finish_reason, logprobs };
        }),
      ...(c.usage ? { usage: c.usage } : {}),
    });
    const { completion } = await this.exclusive(() => this.run(l, promptIds, chat, null, onChunk ? (c) => {
      const t = toText(c);
      if (t.choices.length > 0 || t.usage) onChunk(t);
    } : undefined));
    return {
      id: completionId(completion.id),
      object: 'text_completion',
      created: completion.created,
      model: completion.model,
      system_fingerprint: completion.system_fingerprint,
      choices: completion.choices.map((ch) => ({
        index: ch.index,
        text: (echo ? prompt : '') + ch.message.content,
        finish_reason: ch.finish_reason,
        logprobs: ch.logprobs ? completionLogprobs(ch.logprobs.content, start) : null,
      })),
      usage: completion.usage,
    };
  }

  /** Like generate(), but also returns the generated ids (of the first choice). */
  async generateWithIds(
    request: ChatCompletionRequest, onChunk?: (chunk: ChatCompletionChunk) => void,
  ): Promise<{ completion: ChatCompletion; ids: number[] }> {
    const l = this.require();
    validateChatRequest(request, l.backend.model.config.vocabSize);
    request = { ...request, messages: normalizeMessages(request.messages) };
    // Images (issue #21): refused at once by a model without a vision tower, or beyond its count.
    const imageUrls = imageUrlsOf(request.messages);
    checkImagesAllowed(imageUrls.length, l.vision);
    // Retrieval before the chat template: each question's knowledge-base entry goes in as an observation.
    const retrieved = l.knowledge ? withKnowledge(request.messages, await l.knowledge.retriever()) : null;
    // GLM-4V's prompt is built as its reference code builds it, not by the Jinja template, so tools go in as a system message.
    const readsTools = imageUrls.length === 0 && templateReadsToolsVariable(l.tokenizer.chatTemplate);
    const tools = planTools(l.family, retrieved?.messages ?? request.messages, request.tools, request.tool_choice, readsTools);
    const rendered = imageUrls.length > 0
      ? renderGlm4vChat(tools.messages, l.tokenizer)
      : renderChat(l.family, tools.messages, l.tokenizer, { templateVariables: tools.templateVariables });
    // Decoded and preprocessed before the generation starts: a bad image fails the request with the cache untouched.
    const images = await Promise.all(imageUrls.map((url) => preprocessImage(url, l.vision!.imageSize)));
    let promptIds = rendered.ids;
    // A forced call starts the reply with the function's name line; JSON mode with the "\n" a GLM
    // reply opens with (as the templates render an assistant turn), so the value itself comes next.
    if (tools.forced) promptIds = [...promptIds, ...l.tokenizer.encode(forcedCallPrefix(tools.forced), { addSpecialTokens: false })];
    else if (wantsJson(request) && (l.family === 'glm4' || l.family === 'chatglm3')) promptIds = [...promptIds, ...l.tokenizer.encode('\n', { addSpecialTokens: false })];
    return this.exclusive(() => this.run(l, promptIds, request, tools, onChunk, retrieved ? retrieved.hit : undefined, images));
  }

  private async exclusive<R>(work: () => Promise<R>): Promise<R> {
    if (this.running) throw new GenerationInProgressError('another generation is running on this engine; await it or abort() it first');
    this.running = true;
    this.abortRequested = false;
    try {
      return await work();
    } finally {
      this.running = false;
      this.abortRequested = false;
    }
  }

  private vocabOf(l: Loaded): VocabBytes {
    l.vocab ??= new VocabBytes(l.backend.model.config.vocabSize, vocabularyBytes(l.tokenizer));
    return l.vocab;
  }

  private async run(
    l: Loaded,
    promptIds: number[],
    request: Omit<ChatCompletionRequest, 'messages'>,
    tools: ToolPlan | null,
    onChunk?: (chunk: ChatCompletionChunk) => void,
    knowledge?: KnowledgeHit | null,
    /** GLM-4V: preprocessed images (CHW float32), the i-th for the i-th <|begin_of_image|> of promptIds. */
    images: readonly Float32Array[] = [],
  ): Promise<{ completion: ChatCompletion; ids: number[] }> {
    // GLM-4V: the rows the prompt takes in the model once each image's three ids become its tower rows
    // (the KV cache holds rows). Checked before anything is cached, so a bad image leaves the session as it was.
    const layout = images.length ? imagePromptLayout(l, promptIds, images) : { ids: promptIds, spans: [] };
    const promptRows = layout.ids.length;
    const cited = knowledge === undefined ? {} : { knowledge };
    const id = `chatcmpl-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const fingerprint = systemFingerprint(l);
    const chunk = (choices: ChatCompletionChunkChoice[], usage?: Usage): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: l.name,
      system_fingerprint: fingerprint,
      choices,
      ...(usage ? { usage } : {}),
    });

    if (promptRows >= l.contextLength) {
      throw new ContextOverflowError(
        `the prompt is ${promptRows} tokens, but the context is ${l.contextLength}: shorten the message, or start a new chat (the page's New chat button, or engine.resetChat())`,
      );
    }
    const d = l.defaults;
    const params: SamplingParams = {
      temperature: pick(request.temperature, d.temperature, 0),
      topK: pick(request.top_k, d.top_k, 0),
      topP: pick(request.top_p, d.top_p, 1),
      repetitionPenalty: pick(request.repetition_penalty, d.repetition_penalty, 1),
    };
    const asked = request.max_completion_tokens ?? request.max_tokens ?? d.max_new_tokens ?? DEFAULT_MAX_TOKENS;
    const maxTokens = Math.min(asked, l.contextLength - promptRows);
    const stop = request.stop ?? [];
    const stops = Array.isArray(stop) ? stop : [stop];
    const n = request.n ?? 1;
    const baseSeed = request.seed ?? Math.floor(Math.random() * 2 ** 32);
    const includeUsage = request.stream_options?.include_usage === true;
    const logitBias = new Map(Object.entries(request.logit_bias ?? {}).map(([k, v]) => [Number(k), v]));
    const topLogprobs = request.logprobs ? (request.top_logprobs ?? 0) : null;
    const schema = jsonSchemaOf(request, tools);
    const strict = strictToolSchemas(l.family, tools);
    const needsBytes = schema !== null || topLogprobs !== null || strict.size > 0;
    const vocab = needsBytes ? this.vocabOf(l) : null;
    const root = schema === null ? null : schema === 'object' ? anyObjectNode() : compileSchema(schema);

    // Each choice's constraint from its first token: the JSON value, or tool_choice "required"'s name line.
    const firstConstraint = () => {
      if (root && vocab) return new JsonConstraint(root, vocab, l.stopIds);
      if (tools?.required && vocab) return new ToolNameConstraint(tools.callable.map((t) => t.function.name), vocab);
      return null;
    };

    const session = l.session;
    // Reuse compares rows: the cached rows against this prompt's, and each cached image against this one's.
    const imageKeys = images.map(imageKey);
    const reused = keepMatchingImages(l.cachedImageKeys, layout.spans, imageKeys, reusablePrefix(l, session.tokens, layout.ids));
    session.truncate(reused);
    const { ids: fresh, images: freshImages } = promptAfterRows(l, promptIds, images, reused);
    l.cachedImageKeys = imageKeys;

    const t0 = performance.now();
    let prefillMs = 0;
    const results: ChoiceResult[] = [];
    // Stop and progress during a long prefill: checked after every layer of every chunk (issue #16).
    const control = {
      checkpoint: async (done: number, total: number) => {
        this.prefill = { done, total };
        await yieldToEventLoop(); // lets an abort() message in
        if (this.abortRequested) throw new PrefillAborted();
      },
    };
    const t1 = performance.now();
    for (let index = 0; index < n; index++) {
      // Choice i > 0 starts again from the prompt: its cache is kept, only the last prompt token reruns.
      if (index > 0) {
        session.truncate(promptRows - 1);
        if (this.abortRequested) break;
      }
      let logits: unknown;
      this.prefill = { done: 0, total: index === 0 ? promptRows - reused : 1 };
      try {
        logits = index === 0
          ? await session.appendPrompt({ ids: fresh, images: freshImages }, 'last', control)
          : await session.append(promptIds.slice(-1), 'last', control);
      } catch (err) {
        if (!(err instanceof PrefillAborted)) throw err;
        // Stopped during the prefill: this choice ends with no text, and no further choice starts.
        results.push({ text: '', ids: [], finish: 'abort', call: null, logprobs: null, pipelined: false });
        const stopped: ChatCompletionChunkChoice = { index, delta: { role: 'assistant', content: '' }, finish_reason: 'abort' };
        onChunk?.({ ...chunk([stopped], includeUsage ? undefined : usageOf(promptRows, reused, results)), ...(index === 0 ? cited : {}) });
        break;
      } finally {
        this.prefill = null;
      }
      if (index === 0) prefillMs = performance.now() - t0;
      onChunk?.({ ...chunk([{ index, delta: { role: 'assistant', content: '' }, finish_reason: null }]), ...(index === 0 ? cited : {}) });
      const onDelta = (delta: ChoiceDelta) => {
        const out: ChatCompletionChunkChoice = { index, delta: {}, finish_reason: null };
        if (delta.content !== undefined) out.delta.content = delta.content;
        if (delta.toolCall) {
          const { id: callId, name, arguments: args } = delta.toolCall;
          out.delta.tool_calls = [{ index: 0, ...(callId ? { id: callId, type: 'function' as const } : {}), function: { ...(name !== undefined ? { name } : {}), ...(args !== undefined ? { arguments: args } : {}) } }];
        }
        if (delta.logprobs) out.logprobs = { content: delta.logprobs };
        onChunk?.(chunk([out]));
      };
      const result = await runChoice(
        {
          session,
          tokenizer: l.tokenizer,
          family: l.family,
          stopIds: l.stopIds,
          params,
          // Choice i draws from its own stream; choice 0 from the request's seed itself.
          seed: (baseSeed + Math.imul(index, 0x9e3779b9)) >>> 0,
          maxTokens,
          stops,
          logitBias,
          frequencyPenalty: request.frequency_penalty ?? 0,
          presencePenalty: request.presence_penalty ?? 0,
          constraint: firstConstraint(),
          strictArguments: strict.size > 0 && vocab ? (name) => {
            const node = strict.get(name);
            return node ? new JsonConstraint(node, vocab, l.stopIds) : null;
          } : null,
          tokenBytes: (tid) => (vocab ? vocab.bytes[tid] ?? null : null),
          topLogprobs,
          callable: tools?.callable ?? [],
          required: tools?.required ?? false,
          forced: tools?.forced ?? null,
          stripLeadingNewline: l.family === 'glm4' && !tools?.forced && !tools?.required && schema === null,
          aborted: () => this.abortRequested,
          pipeline: l.pipeline,
          onDelta,
        },
        logits,
      );
      results.push(result);
      const last: ChatCompletionChunkChoice = { index, delta: {}, finish_reason: result.finish };
      onChunk?.(chunk([last], includeUsage || index < n - 1 ? undefined : usageOf(promptRows, reused, results)));
    }
    const decodeMs = performance.now() - t1 - prefillMs;
    const usage = usageOf(promptRows, reused, results);
    if (includeUsage) onChunk?.(chunk([], usage));
    const generatedCount = results.reduce((s, r) => s + r.ids.length, 0);
    // Rows, not ids: an image's three ids ran as its tower rows.
    const prefilledRows = promptRows - reused;
    this.lastStats = {
      prefillTokPerSec: prefilledRows > 0 && prefillMs > 0 ? (prefilledRows / prefillMs) * 1000 : null,
      decodeTokPerSec: generatedCount > 1 && decodeMs > 0 ? ((generatedCount - 1) / decodeMs) * 1000 : null,
      prefilled: prefilledRows,
      reused,
      pipelined: results.some((r) => r.pipelined),
    };
    const completion: ChatCompletion = {
      id,
      object: 'chat.completion',
      created,
      model: l.name,
      system_fingerprint: fingerprint,
      choices: results.map((r, index) => ({
        index,
        message: {
          role: 'assistant',
          content: r.text,
          refusal: null,
          ...(r.call ? { tool_calls: [{ id: r.call.id, type: 'function' as const, function: { name: r.call.name, arguments: r.call.arguments } }] } : {}),
        },
        finish_reason: r.finish,
        logprobs: r.logprobs ? { content: r.logprobs } : null,
      })),
      usage,
      ...cited,
    };
    return { completion, ids: results[0]?.ids ?? [] };
  }

  private require(): Loaded {
    if (!this.loaded) throw new ModelNotLoadedError('no model is loaded: call engine.load(source) first');
    return this.loaded;
  }
}

/**
 * How many cached tokens the new prompt can keep: the common prefix, minus one so that at least one
 * token runs (its logits start the reply). ChatGLM-6B's context attends bidirectionally, so its cache
 * is only valid when the new prompt keeps the same context ([gMASK]/sop position) — else start over.
 */
/** GLM-4V: rows of a prompt with images (each image's 3 ids -> its tower rows); named errors for a model without a tower or a bad layout. */
/** The prompt as the model sees it: each image's three ids expanded to its rows (expandImagePrompt), images checked. */
function imagePromptLayout(l: Loaded, promptIds: readonly number[], images: readonly Float32Array[]): { ids: readonly number[]; spans: readonly ImageSpan[] } {
  const v = l.backend.model.config.vision;
  if (!v) throw new NoVisionTowerError(`${l.name} has no vision tower (only GLM-4V models take images); send the message without images or load a GLM-4V model`);
  const pixels = imagePixelCount(v);
  images.forEach((img, i) => {
    if (!(img instanceof Float32Array) || img.length !== pixels) {
      throw new ImageInputError(`image ${i} must be a Float32Array of ${pixels} values (${v.inChannels}x${v.imageSize}x${v.imageSize}, CHW, preprocessed)`);
    }
  });
  return expandImagePrompt(v, promptIds, images.length);
}

/** The prompt ids and images after its first `rows` rows (never inside an image: see keepMatchingImages). */
function promptAfterRows(l: Loaded, promptIds: readonly number[], images: readonly Float32Array[], rows: number) {
  const v = l.backend.model.config.vision;
  let row = 0;
  let i = 0;
  let image = 0;
  while (row < rows) {
    if (v && promptIds[i] === v.boiTokenId) {
      row += imageTokenCount(v);
      i += 3;
      image++;
    } else {
      row++;
      i++;
    }
  }
  return { ids: promptIds.slice(i), images: images.slice(image) };
}

function reusablePrefix(l: Loaded, cached: readonly number[], prompt: readonly number[]): number {
  let common = 0;
  while (common < cached.length && common < prompt.length && cached[common] === prompt[common]) common++;
  common = Math.min(common, prompt.length - 1);
  if (l.family === 'chatglm1') {
    const bos = l.backend.model.config.tokens.bos;
    const ctx = bos === undefined ? -1 : prompt.indexOf(bos);
    if (ctx < 0 || common <= ctx || cached.indexOf(bos!) !== ctx) return 0;
  }
  return Math.max(0, common);
}

/**
 * The same placeholder ids stand for any image, so the cached rows are kept only up to the first image that
 * differs from the one cached at its place (its key), and never end inside an image.
 */
function keepMatchingImages(cachedKeys: readonly string[], spans: readonly ImageSpan[], keys: readonly string[], reused: number): number {
  for (const [k, span] of spans.entries()) {
    if (span.start >= reused) break;
    if (cachedKeys[k] !== keys[k] || span.start + span.length > reused) return span.start;
  }
  return reused;
}

/** A key for a preprocessed image (FNV-1a over its float bits): equal keys, same model input. */
function imageKey(image: Float32Array): string {
  const words = new Uint32Array(image.buffer, image.byteOffset, image.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return `${image.length}:${(h >>> 0).toString(16)}`;
}

function usageOf(promptTokens: number, cached: number, results: readonly ChoiceResult[]): Usage {
  const completion = results.reduce((sum, r) => sum + r.ids.length, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
    prompt_tokens_details: { cached_tokens: cached },
    prefilled_tokens: promptTokens - cached,
  };
}

function wantsJson(r: Omit<ChatCompletionRequest, 'messages'>): boolean {
  const t = r.response_format?.type;
  return t === 'json_object' || t === 'json_schema';
}

/**
 * The compiled arguments schemas of the tools declared `strict: true` that the model may call by itself
 * (a named tool_choice constrains its tool anyway). GLM-4 formats write arguments as JSON, so they are
 * decoded under the schema once the reply names the tool; ChatGLM3 writes Python keyword arguments,
 * which JSON constraints cannot hold: a named error there rather than a promise not kept.
 */
function strictToolSchemas(family: ChatFamily, tools: ToolPlan | null): Map<string, ReturnType<typeof compileSchema>> {
  const out = new Map<string, ReturnType<typeof compileSchema>>();
  if (!tools || tools.forced) return out;
  // tool_choice "required": every tool's arguments are decoded as JSON under its schema, as a forced call's.
  if (tools.required) {
    for (const t of tools.callable) out.set(t.function.name, compileSchema(argumentsSchema(t), `tools[${t.function.name}].parameters`));
    return out;
  }
  for (const t of tools.callable) {
    if (t.function.strict !== true) continue;
    if (family !== 'glm4') {
      throw new UnsupportedFieldError(`tools: strict: true on "${t.function.name}" needs GLM-4 (JSON arguments); ChatGLM3 writes Python arguments: pass tool_choice naming the function to decode its arguments as JSON under the schema, or drop strict`);
    }
    out.set(t.function.name, compileSchema(argumentsSchema(t), `tools[${t.function.name}].parameters`));
  }
  return out;
}

/** A text completion's id: the same request id as its chat run, with OpenAI's cmpl- prefix (streamed and whole alike). */
function completionId(chatId: string): string {
  return chatId.replace('chatcmpl-', 'cmpl-');
}

/**
 * OpenAI's system_fingerprint: the engine configuration a reply came from. A seeded request repeats
 * exactly under the same fingerprint; across placements only within the logits' float differences.
 */
function systemFingerprint(l: Loaded): string {
  const { gpu, cpu } = l.backend.placement;
  return `glm-webgpu/${l.backend.kind}/${gpu}gpu+${cpu}cpu`;
}

/** The schema the reply is decoded under: 'object' (json_object), a JSON schema, or null (free text). */
function jsonSchemaOf(r: Omit<ChatCompletionRequest, 'messages'>, tools: ToolPlan | null): 'object' | Record<string, unknown> | null {
  const f = r.response_format;
  if (tools?.forced) {
    if (f && f.type !== 'text') throw new UnsupportedFieldError('response_format cannot be combined with a forced tool call (the arguments are JSON already)');
    return argumentsSchema(tools.forced);
  }
  if (f === undefined || f === null || f.type === 'text') return null;
  if (tools && tools.callable.length > 0) throw new UnsupportedFieldError('response_format json_* cannot be combined with tools the model may call');
  if (f.type === 'json_object') return 'object';
  if (f.type === 'json_schema') {
    const schema = f.json_schema?.schema;
    if (!f.json_schema || typeof f.json_schema !== 'object') throw new InvalidArgumentError('response_format json_schema needs {json_schema: {name, schema}}');
    return schema ?? {};
  }
  throw new UnsupportedFieldError(`response_format type ${JSON.stringify((f as { type?: unknown }).type)} is not supported: use text, json_object or json_schema`);
}

/** Character offsets of each token in the text (completions' logprobs.text_offset). */
/** Chat logprobs in the legacy completions form; text_offset counts from `start` (the prompt's length with echo). */
function completionLogprobs(content: readonly TokenLogprob[], start: number): NonNullable<CompletionChoice['logprobs']> {
  return {
    tokens: content.map((t) => t.token),
    token_logprobs: content.map((t) => t.logprob),
    top_logprobs: content.map((t) => Object.fromEntries(t.top_logprobs.map((x) => [x.token, x.logprob]))),
    text_offset: offsets(content.map((t) => t.token), start),
  };
}

function offsets(tokens: readonly string[], start: number): number[] {
  let at = start;
  return tokens.map((t) => {
    const o = at;
    at += t.length;
    return o;
  });
}

/** generation_config.json's sampling defaults; absent or unreadable -> none. */
async function readGenerationDefaults(files: ModelFiles): Promise<GenerationDefaults> {
  if (!(await files.exists('generation_config.json'))) return {};
  try {
    return generationDefaults(JSON.parse(await files.readText('generation_config.json')) as Record<string, unknown>);
  } catch {
    return {};
  }
}

/** The backend's CPU kernel description, when it has CPU layers (a page shows it; strict CSP changes it). */
function cpuKernelsOf(described: Record<string, unknown> | undefined): { cpuKernels?: string } {
  const k = described?.cpuKernels;
  return typeof k === 'string' ? { cpuKernels: k } : {};
}
