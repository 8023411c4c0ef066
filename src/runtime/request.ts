// Checking and resolving a chat/completion request: every field is either implemented or a named error
// (UnsupportedFieldError naming it), bad values are InvalidArgumentError, and the fields a request leaves
// out take the model's generation_config.json defaults where it has them.
import { InvalidArgumentError, UnsupportedFieldError } from '../errors';
import type { ChatCompletionMessageParam, ChatCompletionRequest, CompletionRequest } from './api-types';
import { checkImagePart, checkTextPart, IMAGE_MARK } from '../vision/content';

/** Fields of ChatCompletionRequest the engine implements (see README "Chat API"). */
const CHAT_FIELDS = new Set([
  'messages',
  'model',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'repetition_penalty',
  'frequency_penalty',
  'presence_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'stop',
  'seed',
  'n',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'user',
]);

const COMPLETION_FIELDS = new Set([...CHAT_FIELDS, 'prompt', 'echo'].filter((f) => !['messages', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'top_logprobs'].includes(f)));

/** OpenAI fields with a known meaning that this engine does not implement, and why. */
const NOT_IMPLEMENTED: Record<string, string> = {
  functions: 'the deprecated functions field is not supported: pass tools instead',
  function_call: 'the deprecated function_call field is not supported: pass tool_choice instead',
  audio: 'GLM chat models here produce text only',
  modalities: 'GLM chat models here produce text only',
  prediction: 'predicted outputs are not supported',
  service_tier: 'there is no service tier in a local engine',
  store: 'completions are not stored',
  metadata: 'request metadata is not stored',
  reasoning_effort: 'reasoning effort is not supported',
  web_search_options: 'web search is not supported',
  best_of: 'best_of is not supported: use n',
  suffix: 'suffix (fill-in-the-middle) is not supported',
};

/** Largest n: each choice is a full generation, run one after the other. */
export const MAX_CHOICES = 8;
/** OpenAI's cap on top_logprobs. */
export const MAX_TOP_LOGPROBS = 20;

function checkFields(r: object, known: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(r)) {
    if (known.has(key)) continue;
    const why = NOT_IMPLEMENTED[key];
    throw new UnsupportedFieldError(why ? `${what} field "${key}": ${why}` : `${what} field "${key}" is not a field this engine knows; remove it (see the README's Chat API table)`);
  }
}

type NumberRule = [field: string, ok: (v: number) => boolean, rule: string];

const NUMBER_RULES: NumberRule[] = [
  ['max_tokens', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'],
  ['max_completion_tokens', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'],
  ['temperature', (v) => v >= 0, '>= 0'],
  ['top_p', (v) => v > 0 && v <= 1, 'in (0, 1]'],
  ['top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0'],
  ['repetition_penalty', (v) => v > 0, '> 0'],
  ['frequency_penalty', (v) => v >= -2 && v <= 2, 'in [-2, 2]'],
  ['presence_penalty', (v) => v >= -2 && v <= 2, 'in [-2, 2]'],
  ['seed', (v) => Number.isInteger(v), 'an integer'],
  ['n', (v) => Number.isInteger(v) && v >= 1 && v <= MAX_CHOICES, `an integer in [1, ${MAX_CHOICES}]`],
  ['top_logprobs', (v) => Number.isInteger(v) && v >= 0 && v <= MAX_TOP_LOGPROBS, `an integer in [0, ${MAX_TOP_LOGPROBS}]`],
];

function checkCommon(r: Record<string, unknown>, vocabSize: number): void {
  for (const [field, ok, rule] of NUMBER_RULES) {
    const v = r[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new InvalidArgumentError(`${field} must be ${rule}, got ${JSON.stringify(v)}`);
  }
  if (r.stream !== undefined && r.stream !== null && typeof r.stream !== 'boolean') throw new InvalidArgumentError('stream must be true or false');
  const so = r.stream_options;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Object.keys(so).some((k) => k !== 'include_usage')) throw new UnsupportedFieldError('stream_options supports only include_usage');
    if (!r.stream) throw new InvalidArgumentError('stream_options is only allowed with stream: true');
  }
  const stop = r.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) {
    throw new InvalidArgumentError('stop must be a string or an array of strings');
  }
  const bias = r.logit_bias;
  if (bias !== undefined && bias !== null) {
    if (typeof bias !== 'object' || Array.isArray(bias)) throw new InvalidArgumentError('logit_bias must be an object {"token id": bias}');
    for (const [key, value] of Object.entries(bias)) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || id >= vocabSize) throw new InvalidArgumentError(`logit_bias key "${key}" is not a token id in [0, ${vocabSize})`);
      if (typeof value !== 'number' || !(value >= -100 && value <= 100)) throw new InvalidArgumentError(`logit_bias[${key}] must be a number in [-100, 100], got ${JSON.stringify(value)}`);
    }
  }
  if (r.model !== undefined && typeof r.model !== 'string') throw new InvalidArgumentError('model must be a string');
  if (r.user !== undefined && typeof r.user !== 'string') throw new InvalidArgumentError('user must be a string');
}

/** `developer` is OpenAI's newer name for `system` (normalizeMessages turns it into one). */
const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'observation'];
/** Message fields by role: anything else is an UnsupportedFieldError naming it. */
const MESSAGE_FIELDS = new Set(['role', 'content', 'name', 'tool_calls', 'tool_call_id', 'metadata', 'refusal']);

/**
 * The text of a message's content: a string, or text parts joined (OpenAI's content-parts form). An
 * image_url part (issue #21) is checked and stands in the text as IMAGE_MARK until the GLM-4V prompt
 * is built (src/vision/content.ts).
 */
export function contentText(m: ChatCompletionMessageParam, index: number): string {
  const c = m.content;
  if (c === undefined || c === null) return '';
  if (typeof c === 'string') return checkTextPart(c, `message ${index} content`);
  if (!Array.isArray(c)) throw new InvalidArgumentError(`message ${index}: content must be a string or an array of parts`);
  return c
    .map((part, j) => {
      if (part && part.type === 'text' && typeof part.text === 'string') return checkTextPart(part.text, `message ${index} content part ${j}`);
      if (part && part.type === 'image_url' && m.role === 'user') {
        checkImagePart(part, `message ${index} content part ${j}`);
        return IMAGE_MARK;
      }
      const type = (part as { type?: unknown } | null)?.type;
      if (type === 'image_url') throw new InvalidArgumentError(`message ${index} (${m.role}) has an image: only user messages carry images`);
      throw new UnsupportedFieldError(`message ${index} content part ${j} has type ${JSON.stringify(type)}: only "text" and "image_url" parts are supported`);
    })
    .join('');
}

/**
 * The fields OpenAI puts on some roles only, checked so that none is silently dropped: `name` (GLM's
 * templates have no participant names; on a tool result it is the tool's name, which the observation turn
 * does not repeat), `tool_call_id` (must answer a call an earlier assistant message made), `refusal` (the
 * field OpenAI's responses carry; null when a response message is sent back as history).
 */
function checkMessageExtras(m: ChatCompletionMessageParam, i: number, callIds: ReadonlySet<string>): void {
  const isResult = m.role === 'tool' || m.role === 'observation';
  if (m.name !== undefined && m.name !== null) {
    if (!isResult) throw new UnsupportedFieldError(`message ${i} (${m.role}) field "name": GLM chat templates have no participant names; put the name in the content instead`);
    if (typeof m.name !== 'string') throw new InvalidArgumentError(`message ${i}: name must be a string`);
  }
  if (m.tool_call_id !== undefined && m.tool_call_id !== null) {
    if (!isResult) throw new InvalidArgumentError(`message ${i} (${m.role}): only tool messages carry tool_call_id`);
    if (typeof m.tool_call_id !== 'string' || !callIds.has(m.tool_call_id)) {
      throw new InvalidArgumentError(`message ${i}: tool_call_id ${JSON.stringify(m.tool_call_id)} answers no tool call of an earlier assistant message; send that message (with its tool_calls) before the result`);
    }
  }
  if (m.refusal !== undefined && m.refusal !== null) {
    throw new UnsupportedFieldError(`message ${i} field "refusal": this engine never refuses, so a history message has refusal null (or none)`);
  }
}

/** The messages as the chat templates know them: OpenAI's `developer` role is the system prompt. */
export function normalizeMessages(messages: readonly ChatCompletionMessageParam[]): ChatCompletionMessageParam[] {
  return messages.map((m) => (m.role === 'developer' ? { ...m, role: 'system' } : m));
}

export function validateChatRequest(r: ChatCompletionRequest, vocabSize: number): void {
  if (r === null || typeof r !== 'object') throw new InvalidArgumentError('the request must be an object');
  checkFields(r, CHAT_FIELDS, 'request');
  if (!Array.isArray(r.messages) || r.messages.length === 0) throw new InvalidArgumentError('messages must be a non-empty array of {role, content}');
  const callIds = new Set<string>(); // ids of the tool calls earlier messages made
  r.messages.forEach((m, i) => {
    if (!m || typeof m !== 'object' || !ROLES.includes(m.role)) {
      throw new InvalidArgumentError(`bad message ${i} ${JSON.stringify(m)}: role must be one of ${ROLES.join('/')}`);
    }
    for (const key of Object.keys(m)) {
      if (!MESSAGE_FIELDS.has(key)) throw new UnsupportedFieldError(`message ${i} field "${key}" is not supported: remove it (see the README's Chat API table)`);
    }
    checkMessageExtras(m, i, callIds);
    contentText(m, i);
    if (Array.isArray(m.content) && m.content.length === 0) throw new InvalidArgumentError(`message ${i} (${m.role}) has an empty content array: give at least one part`);
    if (m.tool_calls !== undefined && m.role !== 'assistant') throw new InvalidArgumentError(`message ${i}: only assistant messages carry tool_calls`);
    if ((m.content === undefined || m.content === null) && !(m.role === 'assistant' && m.tool_calls?.length)) {
      throw new InvalidArgumentError(`message ${i} (${m.role}) has no content`);
    }
    for (const call of m.tool_calls ?? []) if (call && typeof call.id === 'string') callIds.add(call.id);
  });
  checkCommon(r as unknown as Record<string, unknown>, vocabSize);
  if (r.parallel_tool_calls !== undefined && r.parallel_tool_calls !== null && typeof r.parallel_tool_calls !== 'boolean') {
    throw new InvalidArgumentError('parallel_tool_calls must be true or false');
  }
  if (r.logprobs !== undefined && r.logprobs !== null && typeof r.logprobs !== 'boolean') throw new InvalidArgumentError('logprobs must be true or false (top_logprobs gives the alternatives)');
  if (r.top_logprobs !== undefined && r.top_logprobs !== null && !r.logprobs) throw new InvalidArgumentError('top_logprobs needs logprobs: true');
}

export function validateCompletionRequest(r: CompletionRequest, vocabSize: number): void {
  if (r === null || typeof r !== 'object') throw new InvalidArgumentError('the request must be an object');
  checkFields(r, COMPLETION_FIELDS, 'completion request');
  if (typeof r.prompt !== 'string') throw new InvalidArgumentError('prompt must be a string (arrays of prompts and token-id prompts are not supported)');
  checkCommon(r as unknown as Record<string, unknown>, vocabSize);
  const lp = r.logprobs;
  if (lp !== undefined && lp !== null && !(typeof lp === 'number' && Number.isInteger(lp) && lp >= 0 && lp <= MAX_TOP_LOGPROBS)) {
    throw new InvalidArgumentError(`logprobs of a completion is the number of alternatives, an integer in [0, ${MAX_TOP_LOGPROBS}]`);
  }
  if (r.echo !== undefined && typeof r.echo !== 'boolean') throw new InvalidArgumentError('echo must be true or false');
}

/** Sampling defaults a model ships in generation_config.json (HF's names). */
export interface GenerationDefaults {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
  max_new_tokens?: number;
}

/**
 * Reads the sampling defaults of generation_config.json: temperature/top_p/top_k only when do_sample is
 * true (HF ignores them otherwise: greedy), repetition_penalty and max_new_tokens always.
 */
export function generationDefaults(config: Record<string, unknown> | null | undefined): GenerationDefaults {
  if (!config || typeof config !== 'object') return {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const out: GenerationDefaults = {};
  if (config.do_sample === true) {
    const t = num(config.temperature);
    if (t !== undefined && t >= 0) out.temperature = t;
    const p = num(config.top_p);
    if (p !== undefined && p > 0 && p <= 1) out.top_p = p;
    const k = num(config.top_k);
    if (k !== undefined && Number.isInteger(k) && k >= 0) out.top_k = k;
  }
  const r = num(config.repetition_penalty);
  if (r !== undefined && r > 0) out.repetition_penalty = r;
  const m = num(config.max_new_tokens);
  if (m !== undefined && Number.isInteger(m) && m >= 1) out.max_new_tokens = m;
  return out;
}

/** A value the request gave, else the model's default, else the engine's. */
export function pick<T>(given: T | null | undefined, modelDefault: T | undefined, engineDefault: T): T {
  return given ?? modelDefault ?? engineDefault;
}
