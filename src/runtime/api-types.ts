// The public, OpenAI-shaped types of the chat API (what a web developer programs against).
import type { ChatMessage } from '../tokenizer/chat';
import type { KnowledgeHit } from '../knowledge/retrieval';

export type { ChatMessage, KnowledgeHit };
export type FinishReason = 'stop' | 'length' | 'abort';

export interface ChatCompletionRequest {
  messages: ChatMessage[];
  stream?: boolean;
  /** Most new tokens to generate (default 256; always bounded by the context left). */
  max_tokens?: number;
  /** 0 = greedy (the default is 0.8 when sampling parameters are given, else 0). */
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
  /** Strings that end the reply; they are not included in it. */
  stop?: string | string[];
  /** Seed of the sampler: the same seed and request give the same reply. */
  seed?: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens actually run through the model (fewer than prompt_tokens when the KV cache was reused). */
  prefilled_tokens: number;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [{ index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null }];
  /** Present on the last chunk only. */
  usage?: Usage;
  /** First chunk only, for a model with a knowledge base: what the retrieval step found for the last question (null: nothing looked up). */
  knowledge?: KnowledgeHit | null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }];
  usage: Usage;
  /** For a model with a knowledge base: the entry the reply was given for the last question (null: nothing looked up). */
  knowledge?: KnowledgeHit | null;
}

export interface LoadProgress {
  phase: 'config' | 'download' | 'tokenizer' | 'weights' | 'ready';
  /** Units done / total in this phase (download: bytes; weights: tensors). */
  done: number;
  total: number;
  text: string;
  /** Download phase only: bytes per second and seconds left (null when unknown). */
  rate?: number;
  etaSeconds?: number | null;
  /** While a Hub model or GGUF URL is converted into the cache (issue #14): tensors and shards so far. */
  conversion?: { tensorsDone: number; tensorsTotal: number; shardsWritten: number; bytesWritten: number; resumed: boolean };
}

export interface EngineLoadOptions {
  /** 'auto' (default): the planner places layers on the GPU and the CPU within the GPU budget; the CPU alone without WebGPU. */
  backend?: 'cpu' | 'gpu' | 'auto';
  /** GPU bytes the model may use (default: a conservative guess per adapter class). */
  gpuBudget?: number;
  quant?: 'none' | 'q4' | 'q8';
  /** Context length of the session (default: the model's, capped at 4096). */
  contextLength?: number;
  /** Use the package's knowledge base (knowledge.json) when it has one: retrieval before the chat template (default true). */
  knowledge?: boolean;
  onProgress?: (p: LoadProgress) => void;
  /**
   * Hugging Face Hub sources ("org/repo", Hub URLs, .gguf URLs) are converted into the cache once; this
   * is the Hub's base URL (default https://huggingface.co; a mirror or a test server).
   */
  hfEndpoint?: string;
  /** Package shard size in bytes when a Hub model is converted into the cache (default 64 MiB). */
  convertShardSize?: number;
}

export interface ModelInfo {
  model: string;
  family: string;
  chatFormat: string;
  backend: 'cpu' | 'gpu' | 'hybrid';
  contextLength: number;
  vocabSize: number;
  numLayers: number;
  /** The knowledge base the retrieval step reads (e.g. "WordNet 3.0"), or null. */
  knowledge: string | null;
}

export interface EngineStats {
  loaded: boolean;
  model?: string;
  backend?: 'cpu' | 'gpu' | 'hybrid';
  /** Tokens per second of the last request's prefill and decode. */
  prefillTokPerSec: number | null;
  decodeTokPerSec: number | null;
  /** Tokens run through the model by the last request (prompt part), and cached before it. */
  lastPrefilledTokens: number;
  lastReusedTokens: number;
  /** Where the layers run: e.g. { gpu: 40, cpu: 0 }. */
  placement: { gpu: number; cpu: number };
  /** The CPU layers' q4/q8 kernels and why: "wasm-simd, 4 threads", "ts (WebAssembly refused by the page's Content-Security-Policy; ...)". */
  cpuKernels?: string;
}
