// Where a decode loop's token ids come from, one draw per step (issue #17, "pipelined steps").
//
// The simple step records the forward pass of the last kept token, draws the next id (on the device
// when it can, else on the CPU from the logits read back) and waits for that id before recording the
// next step: the GPU idles while the CPU records, and the CPU idles while the GPU runs.
//
// Pipelined steps keep the GPU fed: the id drawn by step k stays on the GPU (the sampler's result
// buffer), step k+1 embeds it from there and is recorded and submitted right after step k, and only
// then does the CPU wait for step k's id, read back asynchronously. So while the CPU checks step k's id
// (stop ids, stop strings, streaming) the GPU already runs step k+1. The price is at most one step of
// speculative work: when the caller stops at step k's id, step k+1 is discarded and its token (the
// kept id's KV row) is dropped from the session, which then holds exactly what the simple step leaves.
//
// Pipelining needs every draw to be decidable on the device without the CPU: the backend must offer
// Ops.sampleAhead for this placement (everything on the GPU), and the request must not need per-token
// CPU work between steps (logit_bias, frequency/presence/repetition penalties, JSON masks, logprobs:
// the caller says so with `cpuPerToken`). Otherwise the simple step runs. Both draw with
// uniformFor(seed, step), so a seeded request gives the same ids either way.
import type { DeviceSampleParams, DeviceToken } from '../model/ops';
import { GlmError } from '../errors';
import { applyAdjustments, logprobsOf, type LogitAdjustments, type TokenLogprobs } from './logits-process';
import { sample, uniformFor, type SamplingParams } from './sampler';
import type { ModelSession } from './session';

/** Ids the repetition penalty looks back over. */
export const REPETITION_WINDOW = 64;
const NO_IDS = new Int32Array(0);

export interface DecodeStepOptions {
  session: ModelSession<unknown, unknown, unknown>;
  params: SamplingParams;
  seed: number;
  /** Draws at most (the caller stops asking after this many). */
  maxTokens: number;
  /** null: no logprobs; else how many alternatives per token (0..20). */
  topLogprobs: number | null;
  /** The next step's logit adjustments (bias, penalties, JSON mask), or null; called once per step. */
  adjustments: () => LogitAdjustments | null;
  /** True when the request needs the CPU between steps (adjustments that change, logprobs, penalties). */
  cpuPerToken: boolean;
  /** False: always the simple step (a measurement baseline, or debugging). */
  pipeline: boolean;
}

export interface Draw {
  id: number;
  lp: TokenLogprobs | null;
}

/** CPU time spent per kind of work, for the bench. */
export interface DecodeStepTimes {
  /** Recording steps: forward pass + sampler, up to the submit. */
  recordMs: number;
  /** Waiting for ids (and, in the simple step, for the device to run the step). */
  waitMs: number;
}

export interface DecodeSteps {
  readonly pipelined: boolean;
  readonly times: DecodeStepTimes;
  /** Draw 0, from the prompt's logits. */
  first(): Promise<Draw>;
  /** The caller keeps the last draw (`kept`) and wants the next one. */
  next(kept: number): Promise<Draw>;
  /**
   * Ends the loop (at any point, after an error too): speculative work is discarded and the session
   * holds the prompt plus every kept id, the last one excepted unless next() was called after it, as the
   * simple step leaves it. Always call it.
   */
  end(): Promise<void>;
}

/** Pipelined steps where the backend and the request allow it, else the simple step. */
export async function decodeSteps(o: DecodeStepOptions, promptLogits: unknown): Promise<DecodeSteps> {
  const ops = o.session.ops;
  if (o.pipeline && !o.cpuPerToken && (o.params.repetitionPenalty ?? 1) === 1 && ops.sampleAhead && o.maxTokens > 0) {
    const times = { recordMs: 0, waitMs: 0 };
    const t0 = performance.now();
    const token = await ops.sampleAhead(promptLogits, deviceParams(o, 0), o.session.weights.embedding);
    times.recordMs += performance.now() - t0;
    if (token) return new PipelinedSteps(o, token, times);
  }
  return new SimpleSteps(o, promptLogits);
}

function deviceParams(o: DecodeStepOptions, step: number): DeviceSampleParams {
  const { params } = o;
  const penalty = params.repetitionPenalty ?? 1;
  return {
    temperature: params.temperature,
    topK: params.topK ?? 0,
    topP: params.topP ?? 1,
    repetitionPenalty: penalty,
    // Only a penalty reads them (pipelined steps run without one: their last token is still PENDING_TOKEN).
    recentIds: penalty === 1 ? NO_IDS : Int32Array.from(o.session.tokens.slice(-REPETITION_WINDOW)),
    seed: o.seed,
    step,
  };
}

/**
 * The draw of step `step` from `logits`: on the device when it can take the whole request (the GPU
 * reads back the id, and the logprobs' few numbers, not the logits), else from the logits read back
 * here. Both draw with uniformFor(seed, step), so the reply does not depend on where the head ran.
 */
async function pickNext(o: DecodeStepOptions, logits: unknown, step: number, adj: LogitAdjustments | null): Promise<Draw> {
  const device = deviceParams(o, step);
  const ops = o.session.ops;
  if (adj === null && o.topLogprobs === null && ops.sampleNext) {
    // A plain step: the device's sampler alone (no adjustment pass).
    const id = await ops.sampleNext(logits, device);
    if (id !== null) return { id, lp: null };
  } else if (ops.sampleNextDetailed) {
    const r = await ops.sampleNextDetailed(logits, { ...device, adjust: adj, topLogprobs: o.topLogprobs });
    if (r) return { id: r.id, lp: r.logprobs ?? null };
  }
  const raw = await ops.read(logits);
  const adjusted = adj ? applyAdjustments(raw, adj) : raw;
  const id = sample(adjusted, { ...o.params, recentIds: Array.from(device.recentIds) }, () => uniformFor(o.seed, step));
  return { id, lp: o.topLogprobs === null ? null : logprobsOf(adjusted, id, o.topLogprobs) };
}

/** Record, submit, wait for the id, append it, repeat. */
class SimpleSteps implements DecodeSteps {
  readonly pipelined = false;
  readonly times: DecodeStepTimes = { recordMs: 0, waitMs: 0 };
  private step = 0;

  constructor(
    private readonly o: DecodeStepOptions,
    private readonly promptLogits: unknown,
  ) {}

  first(): Promise<Draw> {
    return this.draw(this.promptLogits);
  }

  async next(kept: number): Promise<Draw> {
    const t0 = performance.now();
    const logits = await this.o.session.append([kept], 'last');
    this.times.recordMs += performance.now() - t0;
    this.step++;
    return this.draw(logits);
  }

  async end(): Promise<void> {}

  private async draw(logits: unknown): Promise<Draw> {
    const t0 = performance.now();
    try {
      return await pickNext(this.o, logits, this.step, this.o.adjustments());
    } finally {
      this.times.waitMs += performance.now() - t0;
    }
  }
}

/** A draw in flight; `slot` is where its token sits in the session once the next step appended it. */
interface InFlight {
  token: DeviceToken;
  slot: number | null;
}

/** One step ahead of the caller: step k+1 is on the GPU while the caller looks at step k's id. */
class PipelinedSteps implements DecodeSteps {
  readonly pipelined = true;
  private readonly base: number;
  /** Draws submitted so far (step numbers 0..drawn-1). */
  private drawn = 1;
  /** next() calls: ids the caller kept and continued after (they belong in the session). */
  private kept = 0;
  /** The draw the caller gets next. */
  private current: InFlight;
  /** The step after it (appends current's token, draws the one after), when there is room for one. */
  private ahead: InFlight | null = null;

  constructor(
    private readonly o: DecodeStepOptions,
    first: DeviceToken,
    readonly times: DecodeStepTimes,
  ) {
    this.base = o.session.tokens.length;
    this.current = this.inFlight(first);
  }

  async first(): Promise<Draw> {
    await this.launchAhead();
    return this.take();
  }

  async next(kept: number): Promise<Draw> {
    if (!this.ahead) throw new GlmError(`internal: decode step ${this.kept + 1} asked for, past maxTokens ${this.o.maxTokens}`);
    this.kept++;
    if (this.o.session.tokens[this.current.slot!] !== kept) throw new GlmError('internal: the kept id is not the one drawn');
    this.current = this.ahead;
    this.ahead = null;
    await this.launchAhead();
    return this.take();
  }

  async end(): Promise<void> {
    // The discarded step's KV row lies past the kept length: the next append overwrites it.
    this.o.session.truncate(this.base + this.kept);
    const pending = this.ahead;
    this.ahead = null;
    // Let the discarded step finish (its read-back buffer goes back to the pool); its errors do not matter any more.
    if (pending) await pending.token.id.catch(() => undefined);
  }

  /** Records and submits the step that appends the current draw's token and draws the next one. */
  private async launchAhead(): Promise<void> {
    if (this.drawn >= this.o.maxTokens) return; // the caller stops at maxTokens: no speculative step past it
    const t0 = performance.now();
    const session = this.o.session;
    this.current.slot = session.tokens.length;
    const logits = await session.appendOnDevice(this.current.token.ref);
    const token = await session.ops.sampleAhead!(logits, deviceParams(this.o, this.drawn), session.weights.embedding);
    if (!token) throw new GlmError('internal: the backend stopped taking pipelined steps mid-generation');
    this.ahead = this.inFlight(token);
    this.drawn++;
    this.times.recordMs += performance.now() - t0;
  }

  /** Waits for the current draw's id (the next step already runs) and writes it into the session. */
  private async take(): Promise<Draw> {
    const t0 = performance.now();
    const id = await this.current.token.id;
    this.times.waitMs += performance.now() - t0;
    if (this.current.slot !== null) this.o.session.resolveToken(this.current.slot, id);
    return { id, lp: null };
  }

  private inFlight(token: DeviceToken): InFlight {
    // A draw that ends up discarded may fail unobserved (e.g. the device went away): not an unhandled rejection.
    token.id.catch(() => undefined);
    return { token, slot: null };
  }
}
