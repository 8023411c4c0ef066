// createEngine(): the API a page (or Node) programs against. In a browser the engine runs in its own
// Web Worker (comlink); `inThread: true`, or Node, runs it in the calling thread. Both modes expose
// the same interface, including an OpenAI-style `chat.completions.create`.
import * as Comlink from 'comlink';
import { GlmEngine } from '../runtime/engine';
import { AbortError } from '../errors';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  Completion,
  CompletionChunk,
  CompletionRequest,
  EngineLoadOptions,
  EngineStats,
  ModelInfo,
} from '../runtime/api-types';
import type { EngineWorkerApi } from './engine-worker';
import { registryEntry } from '../runtime/registry';
import { isHubRepoId } from '../loader/hub-id';
import { catalogueModel } from '../runtime/catalogue';

/** Per-call options of create(): an AbortSignal stops the generation within one token (finish_reason "abort"). */
export interface RequestOptions {
  signal?: AbortSignal;
}
import { platform } from '#platform';
import { createEngineWorker } from '#platform-engine-worker';
import { WorkerStartError } from '../errors';
import type { Calibration } from '../planner/speeds';

export interface Engine {
  /** options.signal aborts the load (AbortError), between files and tensors. */
  load(source: string, options?: EngineLoadOptions): Promise<ModelInfo>;
  unload(): Promise<void>;
  chat: {
    completions: {
      create(request: ChatCompletionRequest & { stream: true }, options?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false | null }, options?: RequestOptions): Promise<ChatCompletion>;
      create(request: ChatCompletionRequest, options?: RequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
    };
  };
  /** Plain text completion (no chat template), OpenAI's completions API. */
  completions: {
    create(request: CompletionRequest & { stream: true }, options?: RequestOptions): Promise<AsyncIterable<CompletionChunk>>;
    create(request: CompletionRequest & { stream?: false | null }, options?: RequestOptions): Promise<Completion>;
    create(request: CompletionRequest, options?: RequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>>;
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
  /**
   * A worker to use instead of the bundled one, e.g. one the app created from its own file that imports
   * `glm-webgpu/worker`: `new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' })`.
   */
  worker?: Worker;
}

/** The common shape both modes implement; create() is built on top of it. */
interface Backend {
  load(source: string, options: Omit<EngineLoadOptions, 'onProgress'>, onProgress?: EngineLoadOptions['onProgress']): Promise<ModelInfo>;
  generate(request: ChatCompletionRequest, onChunk?: (c: ChatCompletionChunk) => void): Promise<ChatCompletion>;
  complete(request: CompletionRequest, onChunk?: (c: CompletionChunk) => void): Promise<Completion>;
  unload(): Promise<void> | void;
  abort(): Promise<void> | void;
  resetChat(): Promise<void> | void;
  stats(): Promise<EngineStats> | EngineStats;
  tokenize(text: string, addSpecialTokens?: boolean): Promise<number[]> | number[];
  counters(): Promise<{ tokensEvaluated: number; cachedTokens: number }> | { tokensEvaluated: number; cachedTokens: number };
  calibrate(): Promise<Calibration>;
}

/**
 * Turns a callback stream into an async iterator; errors of the generation end the iteration with a
 * throw. Leaving the loop early (break, return, a throw in its body) aborts the generation and waits
 * until the engine is free, so the next create() can start at once.
 */
function streamOf<C>(start: (onChunk: (c: C) => void) => Promise<unknown>, abort: () => Promise<void> | void): AsyncIterable<C> {
  const queue: C[] = [];
  let done = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const running = start((c) => {
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
      try {
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
      } finally {
        if (!done) {
          await abort();
          await running;
        }
      }
    },
  };
}

function wrap(backend: Backend, terminate: () => Promise<void>): Engine {
  let active: Promise<unknown> | null = null;
  /** Starts `work`, wiring an AbortSignal to engine.abort(); a signal aborted already rejects with AbortError. */
  const guarded = <R>(signal: AbortSignal | undefined, work: () => Promise<R>): Promise<R> => {
    if (signal?.aborted) return Promise.reject(new AbortError('the request was aborted before it started'));
    const onAbort = () => void backend.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const p = work();
    active = p.catch(() => {});
    void p.finally(() => signal?.removeEventListener('abort', onAbort)).catch(() => {});
    return p;
  };
  const createWith = <Req extends { stream?: boolean | null }, Whole, Chunk>(run: (req: Req, onChunk?: (c: Chunk) => void) => Promise<Whole>) =>
    async (request: Req, options: RequestOptions = {}): Promise<Whole | AsyncIterable<Chunk>> => {
      if (request && typeof request === 'object' && 'signal' in request) {
        throw new TypeError('pass the AbortSignal as the second argument: create(request, { signal })');
      }
      if (request?.stream) {
        // The generation starts now; the first chunk (role) is queued even if iteration starts later.
        // Errors of the request (a bad field included) end the iteration with a throw.
        return streamOf<Chunk>(
          (onChunk) => guarded(options.signal, () => run(request, onChunk)),
          () => backend.abort(),
        );
      }
      return guarded(options.signal, () => run(request));
    };
  const create = createWith<ChatCompletionRequest, ChatCompletion, ChatCompletionChunk>((req, onChunk) => backend.generate(req, onChunk));
  const complete = createWith<CompletionRequest, Completion, CompletionChunk>((req, onChunk) => backend.complete(req, onChunk));
  return {
    load: (source, options = {}) => {
      const { onProgress, signal, ...rest } = options;
      if (signal?.aborted) return Promise.reject(new AbortError('the load was aborted before it started'));
      const onAbort = () => void backend.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      return backend.load(source, rest, onProgress).finally(() => signal?.removeEventListener('abort', onAbort));
    },
    unload: async () => {
      await backend.unload();
    },
    chat: { completions: { create: create as Engine['chat']['completions']['create'] } },
    completions: { create: complete as Engine['completions']['create'] },
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
  const entry = registryEntry(source);
  if (entry) return platform.registryLocation(entry);
  // Hub repo ids ("THUDM/glm-edge-1.5b-chat") and catalogue names are not paths (src/loader/hub.ts, src/runtime/catalogue.ts).
  if (typeof location === 'undefined' || /^[a-z][a-z0-9+.-]*:/i.test(source) || !/[/.]/.test(source) || isHubRepoId(source) || catalogueModel(source)) {
    return source;
  }
  return new URL(source, location.href).href;
}

/** How long a worker may take to answer its first message (a missing script fires `error` sooner). */
const WORKER_START_TIMEOUT_MS = 30_000;

/**
 * Guards every call to the worker: a module worker whose script is missing (404), has a syntax error or
 * fails an import fires `error` on the Worker object, and comlink alone would wait forever. Before the
 * first call goes out, the worker must answer `ready()` within a timeout; afterwards every call still
 * races the worker's `error` event, so a worker that dies rejects instead of hanging.
 */
function guardWorker(worker: Worker, remote: Comlink.Remote<EngineWorkerApi>): <T>(call: () => Promise<T>) => Promise<T> {
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {}); // observed through the races below; never an unhandled rejection
  worker.addEventListener('error', (e) => {
    const detail = e instanceof ErrorEvent && e.message ? ` (${e.message})` : '';
    fail(
      new WorkerStartError(
        `the engine worker failed to start or stopped${detail}. Check that your bundler emitted the library's worker file next to it ` +
          '(see "Install and use" in the README), or create the worker yourself and pass it as createEngine({ worker }).',
      ),
    );
  });
  let started: Promise<unknown> | null = null;
  const start = () =>
    (started ??= new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new WorkerStartError(`the engine worker did not answer within ${WORKER_START_TIMEOUT_MS / 1000} s: it may have failed to load`)),
        WORKER_START_TIMEOUT_MS,
      );
      Promise.race([remote.ready(), failed]).then(resolve, reject).finally(() => clearTimeout(timer));
    }));
  return async (call) => {
    await start();
    return Promise.race([call(), failed]);
  };
}

export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const worker = options.inThread ? undefined : (options.worker ?? createEngineWorker());
  if (!worker) {
    const engine = new GlmEngine();
    const backend: Backend = {
      load: (source, opts, onProgress) => engine.load(source, { ...opts, ...(onProgress ? { onProgress } : {}) }),
      generate: (req, onChunk) => engine.generate(req, onChunk),
      complete: (req, onChunk) => engine.createCompletion(req, onChunk),
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
  const remote = Comlink.wrap<EngineWorkerApi>(worker);
  const guard = guardWorker(worker, remote);
  const backend: Backend = {
    load: (source, opts, onProgress) => guard(() => remote.load(pageRelative(source), opts, onProgress ? Comlink.proxy(onProgress) : undefined)),
    generate: (req, onChunk) => guard(() => remote.generate(req, onChunk ? Comlink.proxy(onChunk) : undefined)),
    complete: (req, onChunk) => guard(() => remote.complete(req, onChunk ? Comlink.proxy(onChunk) : undefined)),
    unload: () => guard(() => remote.unload()),
    abort: () => guard(() => remote.abort()),
    resetChat: () => guard(() => remote.resetChat()),
    stats: () => guard(() => remote.stats()),
    tokenize: (t, a) => guard(() => remote.tokenize(t, a)),
    counters: () => guard(() => remote.counters()),
    calibrate: () => guard(() => remote.calibrate()),
  };
  return wrap(backend, async () => {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  });
}
