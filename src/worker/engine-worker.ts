// The engine's Web Worker: it owns the GPU device and runs the decode loop, so the page never
// freezes. The page talks to it through comlink (see client.ts). Errors cross as {name, message, stack}.
import * as Comlink from 'comlink';
import { GlmEngine } from '../runtime/engine';
import { calibrateHere } from '../runtime/calibration';
import type { ChatCompletionChunk, ChatCompletionRequest, CompletionChunk, CompletionRequest, EngineLoadOptions, LoadProgress } from '../runtime/api-types';

const engine = new GlmEngine();

const api = {
  /** Answers once the worker's script has loaded: the page's start-up check (client.ts guardWorker). */
  ready() {
    return true;
  },
  load(source: string, options: Omit<EngineLoadOptions, 'onProgress'>, onProgress?: (p: LoadProgress) => void) {
    return engine.load(source, { ...options, ...(onProgress ? { onProgress: (p: LoadProgress) => void onProgress(p) } : {}) });
  },
  unload() {
    engine.unload();
  },
  async generate(request: ChatCompletionRequest, onChunk?: (chunk: ChatCompletionChunk) => unknown) {
    // Chunks are posted without waiting for the page (the decode loop never blocks on the UI), but the
    // result must not overtake them: chunk calls travel on the callback's own MessagePort and the result
    // on the worker's, and two ports keep no order between them. Waiting for every chunk call to be
    // acknowledged before returning keeps the last chunk (finish_reason, usage) from being dropped.
    const delivered: Promise<unknown>[] = [];
    const completion = await engine.generate(request, onChunk ? (c) => void delivered.push(Promise.resolve(onChunk(c)).catch(() => {})) : undefined);
    await Promise.all(delivered);
    return completion;
  },
  async complete(request: CompletionRequest, onChunk?: (chunk: CompletionChunk) => unknown) {
    // As generate(): the result waits for every chunk call to be acknowledged.
    const delivered: Promise<unknown>[] = [];
    const completion = await engine.createCompletion(request, onChunk ? (c) => void delivered.push(Promise.resolve(onChunk(c)).catch(() => {})) : undefined);
    await Promise.all(delivered);
    return completion;
  },
  abort() {
    engine.abort();
  },
  calibrate() {
    return calibrateHere();
  },
  resetChat() {
    engine.resetChat();
  },
  stats() {
    return engine.stats();
  },
  counters() {
    return engine.counters();
  },
  tokenize(text: string, addSpecialTokens = true) {
    return engine.tokenize(text, addSpecialTokens);
  },
};

export type EngineWorkerApi = typeof api;
Comlink.expose(api);
