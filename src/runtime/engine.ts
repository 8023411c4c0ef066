// The in-thread engine: load a model, keep one chat session (KV cache) and answer OpenAI-shaped chat
// requests with streaming. The worker (src/worker/engine-worker.ts) wraps exactly this class; Node and
// tests use it directly.
import { GlmError, InvalidArgumentError } from '../errors';
import { MissingFileError, type ModelFiles } from '../formats/byte-source';
import type { GlmConfig } from '../model/config';
import { loadTokenizerFromFolder, TOKENIZER_FILE_NAMES, type GlmTokenizer } from '../tokenizer/tokenizer';
import { renderChat, stopIds as familyStopIds, type ChatFamily } from '../tokenizer/chat';
import { StreamingDetokenizer } from '../tokenizer/stream';
import { registryEntry } from './registry';
import { bandwidthOf } from './calibration';
import { loadBackend, type LoadedBackend } from './backend';
import { createRng, sample, type SamplingParams } from './sampler';
import { ContextOverflowError, type ModelSession } from './session';
import type {
  LoadProgress,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EngineLoadOptions,
  EngineStats,
  FinishReason,
  ModelInfo,
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
/** Ids the repetition penalty looks back over. */
const REPETITION_WINDOW = 64;

/** Which prompt format a loaded model speaks. */
export function chatFamilyFor(config: GlmConfig, tokenizer: GlmTokenizer): ChatFamily {
  if (config.family === 'chatglm1') return 'chatglm1';
  if (config.family === 'glm' || config.family === 'glm4') return 'glm4';
  // THUDM v2 code: GLM-4-9B-chat ships tokenizer.json with a chat template; ChatGLM3 has role tokens in
  // its SentencePiece vocab; ChatGLM2 has neither.
  if (tokenizer.kind === 'tokenizer.json') return 'glm4';
  return tokenizer.tokenToId('<|user|>') !== undefined ? 'chatglm3' : 'chatglm2';
}

/** Lets queued messages (abort, page calls) run between tokens, even when a step is fully synchronous. */
function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((ok) => setTimeout(ok, 0));
  return new Promise((ok) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      ok();
    };
    ch.port2.postMessage(null);
  });
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
}

/** `glm-cache:<id>` names a package already in the browser's IndexedDB model cache. */
export const CACHE_SCHEME = 'glm-cache:';

/** Resolves a source string to model files: an http(s)/relative URL in browsers, a folder path under Node. */
export type ModelResolver = (source: string, onProgress: (p: LoadProgress) => void) => Promise<ModelFiles>;

/**
 * Browsers: a glm-webgpu package (manifest.json) goes through the IndexedDB shard cache (downloaded once,
 * resumable, checked); any other folder URL is read with HTTP range requests. Node: a folder path.
 */
export async function defaultResolver(source: string, onProgress: (p: LoadProgress) => void): Promise<ModelFiles> {
  const entry = registryEntry(source);
  if (entry) {
    const inBrowser = typeof location !== 'undefined' && typeof process === 'undefined';
    if (inBrowser) source = new URL(entry.url, location.href).href;
    else {
      const { fileURLToPath } = await import('node:url');
      const { existsSync } = await import('node:fs');
      // src/runtime/ (tests) and dist/cli/ (the CLI) both sit two folders below the package root.
      const beside = fileURLToPath(new URL(`../../${entry.path}`, import.meta.url));
      source = existsSync(beside) ? beside : entry.path;
    }
  }
  if (source.startsWith(CACHE_SCHEME)) {
    // A package the page already downloaded into IndexedDB (same origin, so the same database).
    const { cachedModelFiles } = await import('../loader/cache');
    return cachedModelFiles(source.slice(CACHE_SCHEME.length));
  }
  const { httpModelFiles } = await import('../formats/http-files');
  const isBrowser = typeof window !== 'undefined' || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
  if (/^https?:\/\//.test(source) || isBrowser) {
    const base = isBrowser && typeof location !== 'undefined' ? new URL(source, location.href).href : source;
    const http = httpModelFiles(base.endsWith('/') ? base : `${base}/`);
    if (isBrowser && typeof indexedDB !== 'undefined' && (await http.exists('manifest.json'))) {
      const { loadModelPackage } = await import('../loader/cache');
      const pkg = await loadModelPackage(base, {
        onProgress: (p) =>
          onProgress({
            phase: 'download',
            done: p.bytesDone,
            total: p.bytesTotal,
            rate: p.rate,
            etaSeconds: p.etaSeconds,
            text: `downloading: ${p.shardsDone}/${p.shardsTotal} files`,
          }),
      });
      return pkg.files;
    }
    return http;
  }
  const { nodeModelFiles } = await import('../formats/node-files');
  return nodeModelFiles(source);
}

export class GlmEngine {
  private loaded: Loaded | null = null;
  private abortRequested = false;
  private running = false;
  private lastStats = { prefillTokPerSec: null as number | null, decodeTokPerSec: null as number | null, prefilled: 0, reused: 0 };
  /** Prompt tokens through the model so far while a prefill runs (stats().prefill), else null. */
  private prefill: { done: number; total: number } | null = null;

  constructor(private readonly resolve: ModelResolver = defaultResolver) {}

  async load(source: string | ModelFiles, options: EngineLoadOptions = {}): Promise<ModelInfo> {
    if (this.running) throw new GenerationInProgressError('a generation is running: abort it before loading another model');
    this.unload();
    const progress = options.onProgress ?? (() => {});
    const files = typeof source === 'string' ? await this.resolve(source, progress) : source;
    const name = typeof source === 'string' ? source : files.location;
    progress({ phase: 'config', done: 0, total: 1, text: `opening ${name}` });
    // Fail fast, naming the folder, when it is not a model at all (before any tokenizer or weights work).
    if (!(await files.exists('config.json'))) throw new MissingFileError(`missing file "config.json" in model folder "${files.location}": is this a model folder?`);
    progress({ phase: 'tokenizer', done: 0, total: 1, text: 'reading the tokenizer' });
    const tokenizer = await loadModelTokenizer(files);
    progress({ phase: 'tokenizer', done: 1, total: 1, text: 'tokenizer ready' });
    const contextCap = options.contextLength ?? DEFAULT_CONTEXT_CAP;
    const backend = await loadBackend(files, {
      backend: options.backend ?? 'auto',
      quant: options.quant ?? 'none',
      contextLength: contextCap,
      ...(options.gpuBudget !== undefined ? { gpuBudget: options.gpuBudget } : {}),
      ...(options.calibration ? { bandwidth: bandwidthOf(options.calibration) } : {}),
      onProgress: (done, total, what) => progress({ phase: 'weights', done, total, text: `weights: ${what}` }),
    });
    const { config, rawConfig } = backend.model;
    const contextLength = Math.min(contextCap, config.maxSequenceLength);
    const family = chatFamilyFor(config, tokenizer);
    this.loaded = {
      name,
      backend,
      tokenizer,
      family,
      stopIds: familyStopIds(family, tokenizer, rawConfig as { eos_token_id?: number | number[] }),
      session: backend.newSession(contextLength),
      contextLength,
    };
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
    };
  }

  unload(): void {
    this.loaded?.backend.dispose();
    this.loaded = null;
  }

  /** Stops a running generation before its next token; it finishes with finish_reason "abort". */
  abort(): void {
    if (this.running) this.abortRequested = true;
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
      placement: l ? l.backend.placement : { gpu: 0, cpu: 0 },
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
    validateRequest({ ...request, messages: [{ role: 'user', content: prompt }] });
    const promptIds = l.tokenizer.encode(prompt, { addSpecialTokens: true });
    return this.exclusive(() => this.run(l, promptIds, request, onChunk));
  }

  /** Like generate(), but also returns the generated ids. */
  async generateWithIds(request: ChatCompletionRequest, onChunk?: (chunk: ChatCompletionChunk) => void): Promise<{ completion: ChatCompletion; ids: number[] }> {
    const l = this.require();
    validateRequest(request);
    const promptIds = renderChat(l.family, request.messages, l.tokenizer).ids;
    return this.exclusive(() => this.run(l, promptIds, request, onChunk));
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

  private async run(
    l: Loaded,
    promptIds: number[],
    request: Omit<ChatCompletionRequest, 'messages'>,
    onChunk?: (chunk: ChatCompletionChunk) => void,
  ): Promise<{ completion: ChatCompletion; ids: number[] }> {
    const id = `chatcmpl-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null, usage?: Usage): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: l.name,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...(usage ? { usage } : {}),
    });

    if (promptIds.length >= l.contextLength) {
      throw new ContextOverflowError(
        `the prompt is ${promptIds.length} tokens, but the context is ${l.contextLength}: shorten the message, or start a new chat (the page's New chat button, or engine.resetChat())`,
      );
    }
    const session = l.session;
    const reused = reusablePrefix(l, session.tokens, promptIds);
    session.truncate(reused);
    const fresh = promptIds.slice(reused);

    const params: SamplingParams = {
      temperature: request.temperature ?? 0,
      topK: request.top_k,
      topP: request.top_p,
      repetitionPenalty: request.repetition_penalty,
    };
    const maxTokens = Math.min(request.max_tokens ?? DEFAULT_MAX_TOKENS, l.contextLength - promptIds.length);
    const stops = request.stop === undefined ? [] : Array.isArray(request.stop) ? request.stop : [request.stop];
    const holdBack = stops.reduce((m, s) => Math.max(m, s.length - 1), 0);

    onChunk?.(chunk({ role: 'assistant', content: '' }, null));
    const seed = request.seed ?? Math.floor(Math.random() * 2 ** 32);
    const rng = createRng(seed);
    // The next token: drawn on the device when it can (the GPU reads back one id, not the logits),
    // else from the logits on the CPU. Each backend is reproducible for a given seed.
    const pick = async (logits: unknown, step: number): Promise<number> => {
      const recentIds = session.tokens.slice(-REPETITION_WINDOW);
      const onDevice = await session.ops.sampleNext?.(logits, {
        temperature: params.temperature,
        topK: params.topK ?? 0,
        topP: params.topP ?? 1,
        repetitionPenalty: params.repetitionPenalty ?? 1,
        recentIds: Int32Array.from(recentIds),
        seed,
        step,
      });
      return onDevice ?? sample(await session.ops.read(logits), { ...params, recentIds }, rng);
    };
    const t0 = performance.now();
    // Stop and progress during a long prefill: checked after every layer of every chunk (issue #16).
    this.prefill = { done: 0, total: fresh.length };
    const control = {
      checkpoint: async (done: number, total: number) => {
        this.prefill = { done, total };
        await yieldToEventLoop(); // lets an abort() message in
        if (this.abortRequested) throw new PrefillAborted();
      },
    };
    let logits: unknown;
    try {
      logits = await session.append(fresh, 'last', control);
    } catch (err) {
      if (!(err instanceof PrefillAborted)) throw err;
      this.prefill = null;
      const usage: Usage = { prompt_tokens: promptIds.length, completion_tokens: 0, total_tokens: promptIds.length, prefilled_tokens: 0 };
      onChunk?.(chunk({}, 'abort', usage));
      const completion: ChatCompletion = {
        id,
        object: 'chat.completion',
        created,
        model: l.name,
        choices: [{ index: 0, message: { role: 'assistant', content: '' }, finish_reason: 'abort' }],
        usage,
      };
      return { completion, ids: [] };
    } finally {
      this.prefill = null;
    }
    let next = await pick(logits, 0);
    const prefillMs = performance.now() - t0;

    const detok = new StreamingDetokenizer(l.tokenizer);
    const generated: number[] = [];
    let text = ''; // everything decoded so far (stop strings cut it)
    let emitted = 0; // chars of `text` already sent
    let finish: FinishReason = 'length';
    let stoppedByString = false;
    let stripLeadingNewline = l.family === 'glm4';
    const t1 = performance.now();
    const emit = (upTo: number) => {
      if (upTo > emitted) {
        onChunk?.(chunk({ content: text.slice(emitted, upTo) }, null));
        emitted = upTo;
      }
    };

    while (generated.length < maxTokens) {
      await yieldToEventLoop();
      if (this.abortRequested) {
        finish = 'abort';
        break;
      }
      if (l.stopIds.includes(next)) {
        finish = 'stop';
        break;
      }
      generated.push(next);
      text += detok.push(next);
      if (stripLeadingNewline && text.length > 0) {
        // GLM-4 answers "<|assistant|>\n<reply>"; its chat template puts that "\n" back when the reply is
        // sent as history, so the reply itself starts after it.
        if (text.startsWith('\n')) text = text.slice(1);
        stripLeadingNewline = false;
      }
      const hit = firstStop(text, stops);
      if (hit >= 0) {
        text = text.slice(0, hit);
        finish = 'stop';
        stoppedByString = true;
        break;
      }
      emit(text.length - holdBack);
      if (generated.length === maxTokens) break;
      logits = await session.append([next], 'last');
      next = await pick(logits, generated.length);
    }
    if (!stoppedByString) {
      // Bytes of an unfinished character at the end are decoded as they are (e.g. U+FFFD).
      text += detok.flush();
      const hit = firstStop(text, stops);
      if (hit >= 0) text = text.slice(0, hit);
    }
    emit(text.length);
    const decodeMs = performance.now() - t1;

    this.lastStats = {
      prefillTokPerSec: fresh.length > 0 && prefillMs > 0 ? (fresh.length / prefillMs) * 1000 : null,
      decodeTokPerSec: generated.length > 1 && decodeMs > 0 ? ((generated.length - 1) / decodeMs) * 1000 : null,
      prefilled: fresh.length,
      reused,
    };
    const usage: Usage = {
      prompt_tokens: promptIds.length,
      completion_tokens: generated.length,
      total_tokens: promptIds.length + generated.length,
      prefilled_tokens: fresh.length,
    };
    onChunk?.(chunk({}, finish, usage));
    const completion: ChatCompletion = {
      id,
      object: 'chat.completion',
      created,
      model: l.name,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }],
      usage,
    };
    return { completion, ids: generated };
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

function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

function validateRequest(r: ChatCompletionRequest): void {
  if (!Array.isArray(r.messages) || r.messages.length === 0) throw new InvalidArgumentError('messages must be a non-empty array of {role, content}');
  for (const m of r.messages) {
    if (!m || typeof m.content !== 'string' || !['system', 'user', 'assistant', 'observation'].includes(m.role)) {
      throw new InvalidArgumentError(`bad message ${JSON.stringify(m)}: role must be system/user/assistant/observation and content a string`);
    }
  }
  const check = (name: string, v: number | undefined, ok: (v: number) => boolean, rule: string) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))) throw new InvalidArgumentError(`${name} must be ${rule}, got ${v}`);
  };
  check('max_tokens', r.max_tokens, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  check('temperature', r.temperature, (v) => v >= 0, '>= 0');
  check('top_p', r.top_p, (v) => v > 0 && v <= 1, 'in (0, 1]');
  check('top_k', r.top_k, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  check('repetition_penalty', r.repetition_penalty, (v) => v > 0, '> 0');
  check('seed', r.seed, (v) => Number.isInteger(v), 'an integer');
}
