// createEngine(): the API a page (or Node) programs against. In a browser the engine runs in its own
// Web Worker (comlink); `inThread: true`, or Node, runs it in the calling thread. Both modes expose
// the same interface, including an OpenAI-style `chat.completions.create`.
import * as Comlink from 'comlink';
import { GlmEngine } from '../runtime/engine';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EngineLoadOptions,
  EngineStats,
  ModelInfo,
} from '../runtime/api-types';
import type { EngineWorkerApi } from './engine-worker';
import { registryEntry } from '../runtime/registry';
import type { Calibration } from '../planner/speeds';

export interface Engine {
  load(source: string, options?: EngineLoadOptions): Promise<ModelInfo>;
  unload(): Promise<void>;
  chat: {
    completions: {
      create(request: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
      create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
    };
  };
  /** Stops a running generation within one token (finish_reason "abort"). */
  abort(): Promise<void>;
  /** Forgets the conversation (the KV cache). */
  resetChat(): Promise<void>;
  stats(): Promise<EngineStats>;
  tokenize(text: string, addSpecialTokens?: boolean): Promise<number[]>;
  /** Tokens evaluated by the model and tokens cached (to check KV reuse). */
  counters(): Promise<{ tokensEvaluated: number; cachedTokens: number }>;
  /**
   * Measures this machine's GPU and CPU speeds with the engine's kernels (a second or two; issue #16).
   * Pass the result to load({ calibration }) so that 'auto' picks the fastest placement.
   */
  calibrate(): Promise<Calibration>;
  /** Stops the worker (or releases the in-thread engine's GPU memory). */
  terminate(): Promise<void>;
}

export interface CreateEngineOptions {
  /** Run in the calling thread instead of a worker (always the case under Node). */
  inThread?: boolean;
  /** A worker to use (e.g. one the page created itself); default: the bundled engine worker. */
  worker?: Worker;
}

/** The common shape both modes implement; create() is built on top of it. */
interface Backend {
  load(source: string, options: Omit<EngineLoadOptions, 'onProgress'>, onProgress?: EngineLoadOptions['onProgress']): Promise<ModelInfo>;
  generate(request: ChatCompletionRequest, onChunk?: (c: ChatCompletionChunk) => void): Promise<ChatCompletion>;
  unload(): Promise<void> | void;
  abort(): Promise<void> | void;
  resetChat(): Promise<void> | void;
  stats(): Promise<EngineStats> | EngineStats;
  tokenize(text: string, addSpecialTokens?: boolean): Promise<number[]> | number[];
  counters(): Promise<{ tokensEvaluated: number; cachedTokens: number }> | { tokensEvaluated: number; cachedTokens: number };
  calibrate(): Promise<Calibration>;
}

/** Turns a callback stream into an async iterator; errors of the generation end the iteration with a throw. */
function streamOf(start: (onChunk: (c: ChatCompletionChunk) => void) => Promise<unknown>): AsyncIterable<ChatCompletionChunk> {
  const queue: ChatCompletionChunk[] = [];
  let done = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  start((c) => {
    queue.push(c);
    notify();
  }).then(
    () => {
      done = true;
      notify();
    },
    (err) => {
      failure = err;
      done = true;
      notify();
    },
  );
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (done) {
          if (failure) throw failure;
          return;
        }
        await new Promise<void>((ok) => (wake = ok));
      }
    },
  };
}

function wrap(backend: Backend, terminate: () => Promise<void>): Engine {
  let active: Promise<unknown> | null = null;
  const create = async (request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> => {
    if (request.stream) {
      // The generation starts now; the first chunk (role) is queued even if iteration starts later.
      let started!: Promise<unknown>;
      const iterable = streamOf((onChunk) => (started = backend.generate(request, onChunk)));
      active = started.catch(() => {});
      return iterable;
    }
    const p = backend.generate(request);
    active = p.catch(() => {});
    return p;
  };
  return {
    load: (source, options = {}) => {
      const { onProgress, ...rest } = options;
      return backend.load(source, rest, onProgress);
    },
    unload: async () => {
      await backend.unload();
    },
    chat: { completions: { create: create as Engine['chat']['completions']['create'] } },
    abort: async () => {
      await backend.abort();
      await active;
    },
    resetChat: async () => {
      await backend.resetChat();
    },
    stats: async () => backend.stats(),
    tokenize: async (text, addSpecialTokens) => backend.tokenize(text, addSpecialTokens),
    counters: async () => backend.counters(),
    calibrate: () => backend.calibrate(),
    terminate,
  };
}

/**
 * A worker resolves relative URLs against its own script URL, not the page: resolve paths here.
 * Bare names without a slash or dot (registry ids) pass through.
 */
function pageRelative(source: string): string {
  if (typeof location === 'undefined') return source;
  const entry = registryEntry(source);
  if (entry) return new URL(entry.url, location.href).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(source) || !/[/.]/.test(source)) return source;
  return new URL(source, location.href).href;
}

export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const inThread = options.inThread ?? typeof Worker === 'undefined';
  if (inThread) {
    const engine = new GlmEngine();
    const backend: Backend = {
      load: (source, opts, onProgress) => engine.load(source, { ...opts, ...(onProgress ? { onProgress } : {}) }),
      generate: (req, onChunk) => engine.generate(req, onChunk),
      unload: () => engine.unload(),
      abort: () => engine.abort(),
      resetChat: () => engine.resetChat(),
      stats: () => engine.stats(),
      tokenize: (t, a) => engine.tokenize(t, a),
      counters: () => engine.counters(),
      // Loaded on demand: the kernels it measures stay out of a page bundle that only talks to a worker.
      calibrate: async () => (await import('../runtime/calibration')).calibrateHere(),
    };
    return wrap(backend, async () => engine.unload());
  }
  const worker = options.worker ?? new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'glm-webgpu-engine' });
  const remote = Comlink.wrap<EngineWorkerApi>(worker);
  const backend: Backend = {
    load: (source, opts, onProgress) => remote.load(pageRelative(source), opts, onProgress ? Comlink.proxy(onProgress) : undefined),
    generate: (req, onChunk) => remote.generate(req, onChunk ? Comlink.proxy(onChunk) : undefined),
    unload: () => remote.unload(),
    abort: () => remote.abort(),
    resetChat: () => remote.resetChat(),
    stats: () => remote.stats(),
    tokenize: (t, a) => remote.tokenize(t, a),
    counters: () => remote.counters(),
    calibrate: () => remote.calibrate(),
  };
  return wrap(backend, async () => {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  });
}
