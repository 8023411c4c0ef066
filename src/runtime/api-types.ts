// The public, OpenAI-shaped types of the chat API (what a web developer programs against).
import type { ChatMessage } from '../tokenizer/chat';
import type { KnowledgeAsk, KnowledgeHit } from '../knowledge/retrieval';

export type { ChatMessage, KnowledgeAsk, KnowledgeHit };
export type FinishReason = 'stop' | 'length' | 'abort' | 'tool_calls';

/** A text part of a message's content (OpenAI's content-parts form); other part types are a named error. */
export interface ChatCompletionContentPartText {
  type: 'text';
  text: string;
}

/**
 * An image part of a user message (issue #21), for a model with a vision tower (ModelInfo.vision): a
 * data:, blob: or http(s) URL of a PNG or JPEG (browsers also WebP, GIF, BMP, AVIF). `detail` is
 * accepted and has no effect (GLM-4V sees every image at its one configured size).
 */
export interface ChatCompletionContentPartImage {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}

export type ChatCompletionContentPart = ChatCompletionContentPartText | ChatCompletionContentPartImage;

/** A call the model made (response), or one it made earlier (request history). */
export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  function: { name: string; /** JSON text of the arguments object. */ arguments: string };
}

/**
 * A request message. `tool` (OpenAI) and `observation` (GLM) carry a tool's result; an assistant message
 * with `tool_calls` is a call the model made earlier. `metadata` is GLM's own field (the tool name on a
 * call); it is filled from `tool_calls` when those are given.
 */
export interface ChatCompletionMessageParam {
  /** `developer` is OpenAI's newer name for `system`, and is rendered as the system prompt. */
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'observation';
  content?: string | null | ChatCompletionContentPart[];
  /** Tool results only (the tool's name); on other roles an UnsupportedFieldError (GLM templates have no participant names). */
  name?: string;
  tool_calls?: ChatCompletionMessageToolCall[];
  /** Tool results: the id of the call (in an earlier assistant message's tool_calls) this answers. */
  tool_call_id?: string;
  metadata?: string;
  /** As a response message carries it: only null is accepted (the engine never refuses). */
  refusal?: null;
}

/** JSON Schema, the subset json-constraint.ts supports (anything else is a named error). */
export type JsonSchema = { [key: string]: unknown };

export interface ChatCompletionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}

/** "required": the reply calls one of the tools (its name line and JSON arguments are constrained). */
export type ChatCompletionToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: JsonSchema; strict?: boolean | null } };

export interface ChatCompletionRequest {
  messages: ChatCompletionMessageParam[];
  /** Accepted for OpenAI compatibility; the loaded model answers whatever it names. */
  model?: string;
  stream?: boolean;
  /** include_usage: a last chunk with `usage` and empty `choices`. */
  stream_options?: { include_usage?: boolean } | null;
  /** Most new tokens to generate (default 256; always bounded by the context left). */
  max_tokens?: number | null;
  /** OpenAI's newer name for max_tokens. */
  max_completion_tokens?: number | null;
  /** 0 = greedy. Left out: the model's generation_config.json (do_sample/temperature), else 0 (greedy). */
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  repetition_penalty?: number | null;
  /** OpenAI penalties in [-2, 2]: logit -= frequency * count(id in reply) + presence * (count > 0). */
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  /** Token id (as a string key, like OpenAI) -> bias in [-100, 100] added to its logit before sampling. */
  logit_bias?: Record<string, number> | null;
  /** Log-probabilities of the chosen tokens; with top_logprobs (0..20) the most likely alternatives. */
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  /** Strings that end the reply; they are not included in it. */
  stop?: string | string[] | null;
  /** Seed of the sampler: the same seed and request give the same reply, on the CPU and on the GPU. */
  seed?: number | null;
  /** Choices to generate (1..8), one after the other from the shared prompt cache. */
  n?: number | null;
  /** json_object / json_schema: constrained decoding, the reply always parses (and validates). */
  response_format?: ResponseFormat | null;
  tools?: ChatCompletionTool[] | null;
  tool_choice?: ChatCompletionToolChoice | null;
  /** GLM models make one call per turn; false is accepted, true (the default) is too. */
  parallel_tool_calls?: boolean | null;
  /** End-user id (OpenAI); accepted and not used. */
  user?: string;
}

/** A plain text completion request (no chat template): completions.create. */
export interface CompletionRequest extends Omit<ChatCompletionRequest, 'messages' | 'tools' | 'tool_choice' | 'parallel_tool_calls' | 'response_format' | 'logprobs' | 'top_logprobs'> {
  prompt: string;
  /** OpenAI's legacy form: the number of alternatives (0..20) per token, or null. */
  logprobs?: number | null;
  /** Text prepended to the returned text (the prompt itself with true). */
  echo?: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens taken from the KV cache of the previous request instead of being run again. */
  prompt_tokens_details: { cached_tokens: number };
  /** Prompt tokens actually run through the model (prompt_tokens - cached_tokens). */
  prefilled_tokens: number;
}

export interface TopLogprob {
  token: string;
  logprob: number;
  /** UTF-8 bytes of the token (a token may hold part of a character). */
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

export interface ChoiceLogprobs {
  content: TokenLogprob[];
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: {
    role?: 'assistant';
    content?: string;
    tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function: { name?: string; arguments?: string } }>;
  };
  finish_reason: FinishReason | null;
  logprobs?: ChoiceLogprobs | null;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  /** The engine configuration that produced it: "glm-webgpu/<backend>/<gpu layers>gpu+<cpu layers>cpu". */
  system_fingerprint: string;
  /** One choice per chunk; empty in the usage chunk of stream_options.include_usage. */
  choices: ChatCompletionChunkChoice[];
  /** On the last chunk (without include_usage), or the usage chunk alone (with it). */
  usage?: Usage;
  /** First chunk only, for a model with a knowledge base: what the retrieval step found for the last question (null: nothing looked up). */
  knowledge?: KnowledgeHit | null;
}

export interface ChatCompletionChoice {
  index: number;
  /** content is "" when the model called a tool (see tool_calls). */
  message: { role: 'assistant'; content: string; refusal: null; tool_calls?: ChatCompletionMessageToolCall[] };
  finish_reason: FinishReason;
  logprobs: ChoiceLogprobs | null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  /** The engine configuration that produced it: "glm-webgpu/<backend>/<gpu layers>gpu+<cpu layers>cpu". */
  system_fingerprint: string;
  choices: ChatCompletionChoice[];
  usage: Usage;
  /** For a model with a knowledge base: the entry the reply was given for the last question (null: nothing looked up). */
  knowledge?: KnowledgeHit | null;
}

export interface CompletionChoice {
  index: number;
  text: string;
  finish_reason: FinishReason;
  logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>> | null; text_offset: number[] } | null;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  /** The engine configuration that produced it: "glm-webgpu/<backend>/<gpu layers>gpu+<cpu layers>cpu". */
  system_fingerprint: string;
  choices: CompletionChoice[];
  usage: Usage;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  /** The engine configuration that produced it: "glm-webgpu/<backend>/<gpu layers>gpu+<cpu layers>cpu". */
  system_fingerprint: string;
  choices: CompletionChoice[] | Array<Omit<CompletionChoice, 'finish_reason'> & { finish_reason: FinishReason | null }>;
  usage?: Usage;
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

import type { Calibration } from '../planner/speeds';
import type { VisionInfo } from '../vision/content';

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
  /** Aborting it stops the load (between files and tensors) with an AbortError. */
  signal?: AbortSignal;
  /**
   * Pipelined decode steps on the GPU (default true): the next step runs while the CPU reads the last id
   * (README "Pipelined decode"). false: one submit and wait per token (a baseline for measurements).
   */
  pipelineDecode?: boolean;
  /**
   * The GPU decode GEMV's arithmetic on Q4 weights (issue #17; GpuOpsOptions.gemv): 'int8' (dot4I8Packed,
   * the default where WGSL has packed_4x8_integer_dot_product) or 'float'.
   */
  gemv?: 'int8' | 'float';
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
  /** Issue #21: what images the model takes (image_url parts), or null for a text-only model (pages hide the attach button). */
  vision: VisionInfo | null;
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
  /** Whether the last request decoded with pipelined steps (README "Pipelined decode": which requests fall back). */
  lastDecodePipelined: boolean;
  /** Where the layers run: e.g. { gpu: 40, cpu: 0 }. */
  placement: { gpu: number; cpu: number };
  /** The CPU layers' q4/q8 kernels and why: "wasm-simd, 4 threads", "ts (WebAssembly refused by the page's Content-Security-Policy; ...)". */
  cpuKernels?: string;
  /** While a prompt is being prefilled: its tokens done so far of the total (pages show it); else null. */
  prefill?: { done: number; total: number } | null;
}
