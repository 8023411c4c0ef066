// The engine's Web Worker: it owns the GPU device and runs the decode loop, so the page never
// freezes. The page talks to it through comlink (see client.ts). Errors cross as {name, message, stack}.
import * as Comlink from 'comlink';
import { GlmEngine } from '../runtime/engine';
import type { ChatCompletionChunk, ChatCompletionRequest, EngineLoadOptions, LoadProgress } from '../runtime/api-types';

const engine = new GlmEngine();

const api = {
  load(source: string, options: Omit<EngineLoadOptions, 'onProgress'>, onProgress?: (p: LoadProgress) => void) {
    return engine.load(source, { ...options, ...(onProgress ? { onProgress: (p: LoadProgress) => void onProgress(p) } : {}) });
  },
  unload() {
    engine.unload();
  },
  generate(request: ChatCompletionRequest, onChunk?: (chunk: ChatCompletionChunk) => void) {
    // Chunks are posted without waiting for the page: the decode loop never blocks on the UI.
    return engine.generate(request, onChunk ? (c) => void onChunk(c) : undefined);
  },
  abort() {
    engine.abort();
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
