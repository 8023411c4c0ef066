// One choice of a request: the decode loop from the prompt's last logits to a finish reason, with
// everything a request can ask of a step: logit_bias and the OpenAI penalties, the JSON mask, logprobs,
// stop ids and strings, and tool-call detection. engine.ts prefills the prompt and calls this once per
// choice (n > 1: again from the shared prompt cache).
import type { ChatFamily } from '../tokenizer/chat';
import type { GlmTokenizer } from '../tokenizer/types';
import { StreamingDetokenizer } from '../tokenizer/stream';
import type { ChatCompletionTool, FinishReason, TokenLogprob } from './api-types';
import type { TokenConstraint } from './tool-name-constraint';
import { buildAdjustments, type TokenLogprobs } from './logits-process';
import type { SamplingParams } from './sampler';
import type { ModelSession } from './session';
import { decodeSteps, type DecodeSteps } from './decode-steps';
import { mayBeToolCall, newToolCallId, parseForcedCall, parseToolCall, type ParsedCall } from './tools';

export interface ChoiceOptions {
  session: ModelSession<unknown, unknown, unknown>;
  tokenizer: GlmTokenizer;
  family: ChatFamily;
  stopIds: readonly number[];
  params: SamplingParams;
  seed: number;
  maxTokens: number;
  stops: readonly string[];
  logitBias: ReadonlyMap<number, number>;
  frequencyPenalty: number;
  presencePenalty: number;
  /** JSON mode, a forced call's arguments, or (tool_choice "required") the tool name line; null for free text. */
  constraint: TokenConstraint | null;
  /**
   * Tools declared with `strict: true` (GLM-4 formats): once the reply's first line names one, the
   * constraint its arguments are decoded under from there on; null when the named tool is not strict.
   */
  strictArguments: ((name: string) => TokenConstraint | null) | null;
  /** tool_choice "required": the reply is `name\n` of one of `callable`, then its JSON arguments (under `strictArguments`). */
  required: boolean;
  /** Bytes of each id (json-constraint's view of the vocabulary, also the logprobs' `bytes`). */
  tokenBytes: (id: number) => Uint8Array | null;
  /** null: no logprobs; else how many alternatives per token (0..20). */
  topLogprobs: number | null;
  /** Tools the reply may call (detected in its text). */
  callable: readonly ChatCompletionTool[];
  /** tool_choice named this tool: the prompt already ends with its name line, the reply is its arguments. */
  forced: ChatCompletionTool | null;
  /** GLM-4 replies start with "\n" after <|assistant|> (the template adds it back in history). */
  stripLeadingNewline: boolean;
  aborted: () => boolean;
  /** Pipelined decode steps where the backend and request allow (decode-steps.ts); false: the simple step. */
  pipeline: boolean;
  /** A piece of the reply to stream (content or a tool-call part) with the logprobs of its tokens. */
  onDelta?: (delta: ChoiceDelta) => void;
}

export interface ChoiceDelta {
  content?: string;
  toolCall?: { id?: string; name?: string; arguments?: string };
  logprobs?: TokenLogprob[];
}

export interface ChoiceResult {
  text: string;
  ids: number[];
  finish: FinishReason;
  call: (ParsedCall & { id: string }) | null;
  logprobs: TokenLogprob[] | null;
  /** Whether its decode ran pipelined steps (decode-steps.ts), or the simple step. */
  pipelined: boolean;
}

/** Lets queued messages (abort, page calls) run between tokens, even when a step is fully synchronous. */
export function yieldToEventLoop(): Promise<void> {
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

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

const encoder = new TextEncoder();

/**
 * A strict tool's constraint, fed what the reply already holds after the name line (leading whitespace
 * dropped: the call's parser trims it). Null when that text cannot start its arguments (the model wrote
 * something else after a tool's name: then the reply is parsed as written, and stays text if it is no call).
 */
function strictFrom(c: TokenConstraint | null, after: string): TokenConstraint | null {
  if (!c) return null;
  try {
    c.accept(encoder.encode(after.trimStart()));
    return c;
  } catch {
    return null;
  }
}

/**
 * The reply's stripped leading "\n" in its logprobs: the entry of a "\n" token is removed, a token that
 * only starts with it loses that character (and byte). `pending` holds the same entries, not yet streamed.
 */
function dropLeadingNewline(logprobs: TokenLogprob[], pending: TokenLogprob[]): void {
  const i = logprobs.findIndex((e) => e.token.length > 0);
  const e = logprobs[i];
  if (!e || !e.token.startsWith('\n')) return;
  if (e.token === '\n') {
    logprobs.splice(i, 1);
    const j = pending.indexOf(e);
    if (j >= 0) pending.splice(j, 1);
  } else {
    e.token = e.token.slice(1);
    e.bytes = e.bytes.slice(1);
  }
}

/** A tool_choice "required" reply: the name line, then JSON arguments (as a forced call's, in every family). */
function parseRequiredCall(text: string, callable: readonly ChatCompletionTool[]): ParsedCall | null {
  const nl = text.indexOf('\n');
  const tool = nl < 0 ? undefined : callable.find((t) => t.function.name === text.slice(0, nl));
  return tool ? parseForcedCall(tool, text.slice(nl + 1)) : null;
}

/** Runs one choice from the prompt's last logits. */
export async function runChoice(o: ChoiceOptions, promptLogits: unknown): Promise<ChoiceResult> {
  // The constraint can start mid-reply (a strict tool's arguments), so every step reads the current one.
  const constraint = { current: o.constraint };
  const generated: number[] = [];
  const adjustmentsFor = () =>
    buildAdjustments({
      logitBias: o.logitBias,
      frequencyPenalty: o.frequencyPenalty,
      presencePenalty: o.presencePenalty,
      generated,
      mask: constraint.current ? constraint.current.mask(o.maxTokens - generated.length) : null,
    });
  // Logit adjustments and logprobs are per-token CPU work; a constant logit_bias could stay on the device,
  // but goes through the same adjustment path (see the README's "Pipelined decode").
  const constrained = constraint.current !== null || o.strictArguments !== null;
  const cpuPerToken = o.logitBias.size > 0 || o.frequencyPenalty !== 0 || o.presencePenalty !== 0 || constrained || o.topLogprobs !== null;
  const steps = await decodeSteps(
    {
      session: o.session, params: o.params, seed: o.seed, maxTokens: o.maxTokens, topLogprobs: o.topLogprobs,
      adjustments: adjustmentsFor, cpuPerToken, pipeline: o.pipeline,
    },
    promptLogits,
  );
  try {
    return await decodeChoice(o, steps, generated, constraint);
  } finally {
    await steps.end();
  }
}

/** The loop over the draws: stop ids and strings, streaming, tool-call detection. */
async function decodeChoice(
  o: ChoiceOptions, steps: DecodeSteps, generated: number[], constraint: { current: TokenConstraint | null },
): Promise<ChoiceResult> {
  const { tokenizer } = o;
  const logprobEntry = (id: number, lp: TokenLogprobs): TokenLogprob => {
    const entry = (i: number, logprob: number) => {
      const token = tokenizer.decode([i]);
      const bytes = o.tokenBytes(i) ?? encoder.encode(token);
      return { token, logprob, bytes: [...bytes] };
    };
    return { ...entry(id, lp.logprob), top_logprobs: lp.top.map((t) => entry(t.id, t.logprob)) };
  };
  let next = await steps.first();
  const detok = new StreamingDetokenizer(tokenizer);
  let text = '';
  let emitted = 0;
  let finish: FinishReason = 'length';
  let stoppedByString = false;
  let stripNewline = o.stripLeadingNewline;
  const holdBack = o.stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
  const logprobs: TokenLogprob[] | null = o.topLogprobs === null ? null : [];
  let pendingLogprobs: TokenLogprob[] = [];
  // Tool calls: 'text' streams content; 'maybe' holds it back while the first line could name a tool;
  // 'call' collects the arguments (sent whole at the end, once they parse).
  let mode: 'text' | 'maybe' | 'call' = o.forced ? 'call' : o.callable.length > 0 ? 'maybe' : 'text';
  const callId = newToolCallId();
  if (o.forced) o.onDelta?.({ toolCall: { id: callId, name: o.forced.function.name, arguments: '' } });

  const emitContent = (upTo: number) => {
    if (upTo > emitted) {
      const piece: ChoiceDelta = { content: text.slice(emitted, upTo) };
      if (pendingLogprobs.length > 0) piece.logprobs = pendingLogprobs;
      pendingLogprobs = [];
      o.onDelta?.(piece);
      emitted = upTo;
    }
  };

  while (generated.length < o.maxTokens) {
    await yieldToEventLoop();
    if (o.aborted()) {
      finish = 'abort';
      break;
    }
    const id = next.id;
    if (o.stopIds.includes(id)) {
      finish = 'stop';
      break;
    }
    generated.push(id);
    constraint.current?.accept(o.tokenBytes(id));
    if (logprobs && next.lp) {
      const e = logprobEntry(id, next.lp);
      logprobs.push(e);
      pendingLogprobs.push(e);
    }
    text += detok.push(id);
    if (stripNewline && text.length > 0) {
      // GLM-4 answers "<|assistant|>\n<reply>"; its chat template puts that "\n" back when the reply is
      // sent as history, so the reply itself starts after it.
      if (text.startsWith('\n')) {
        text = text.slice(1);
        // Its logprobs entry goes with it, so that the tokens still spell the content (as OpenAI's do).
        if (logprobs) dropLeadingNewline(logprobs, pendingLogprobs);
      }
      stripNewline = false;
    }
    const hit = firstStop(text, o.stops);
    if (hit >= 0) {
      text = text.slice(0, hit);
      finish = 'stop';
      stoppedByString = true;
      break;
    }
    if (mode === 'maybe' && !mayBeToolCall(text, o.callable)) mode = 'text';
    if (mode === 'maybe' && text.includes('\n')) {
      mode = 'call';
      const name = text.slice(0, text.indexOf('\n')).trim();
      o.onDelta?.({ toolCall: { id: callId, name, arguments: '' } });
      constraint.current = strictFrom(o.strictArguments?.(name) ?? null, text.slice(text.indexOf('\n') + 1));
    }
    if (mode === 'text') emitContent(text.length - holdBack);
    if (generated.length === o.maxTokens) break;
    next = await steps.next(id);
  }
  if (!stoppedByString) {
    // Bytes of an unfinished character at the end are decoded as they are (e.g. U+FFFD).
    text += detok.flush();
    const hit = firstStop(text, o.stops);
    if (hit >= 0) text = text.slice(0, hit);
  }

  let call: ChoiceResult['call'] = null;
  if (mode === 'call' || mode === 'maybe') {
    const parsed = o.forced ? parseForcedCall(o.forced, text) : o.required ? parseRequiredCall(text, o.callable) : parseToolCall(o.family, text, o.callable);
    if (parsed) {
      call = { ...parsed, id: callId };
      const piece: ChoiceDelta = { toolCall: { arguments: parsed.arguments } };
      if (pendingLogprobs.length > 0) piece.logprobs = pendingLogprobs;
      pendingLogprobs = [];
      o.onDelta?.(piece);
      if (finish === 'stop') finish = 'tool_calls';
    } else mode = 'text'; // not a call after all: the text is the reply
  }
  if (mode === 'text') emitContent(text.length);
  if (pendingLogprobs.length > 0) o.onDelta?.({ logprobs: pendingLogprobs });
  return { text: call ? '' : text, ids: generated, finish, call, logprobs, pipelined: steps.pipelined };
}
