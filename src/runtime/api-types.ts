// The public, OpenAI-shaped types of the chat API (what a web developer programs against).
import type { ChatMessage } from '../tokenizer/chat';

export type { ChatMessage };
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
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }];
  usage: Usage;
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
}

import type { Calibration } from '../planner/speeds';

export interface EngineLoadOptions {
  /** 'auto' (default): the planner places layers on the GPU and the CPU within the GPU budget; the CPU alone without WebGPU. */
  backend?: 'cpu' | 'gpu' | 'auto';
  /** GPU bytes the model may use (default: a conservative guess per adapter class). */
  gpuBudget?: number;
  /**
   * Speeds measured on this machine (engine.calibrate(), runtime/calibration.ts). With it, 'auto' places
   * the model where the planner predicts it runs fastest: on the CPU alone when the GPU is slower.
   */
  calibration?: Calibration;
  quant?: 'none' | 'q4' | 'q8';
  /** Context length of the session (default: the model's, capped at 4096). */
  contextLength?: number;
  onProgress?: (p: LoadProgress) => void;
}

export interface ModelInfo {
  model: string;
  family: string;
  chatFormat: string;
  backend: 'cpu' | 'gpu' | 'hybrid';
  contextLength: number;
  vocabSize: number;
  numLayers: number;
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
  /** While a prompt is being prefilled: its tokens done so far of the total (pages show it); else null. */
  prefill?: { done: number; total: number } | null;
}
