// A model session: one token sequence and its KV cache on one backend. Prefill and decode both go
// through glm.ts's forward(); this class only keeps track of what is cached.
import type { GlmConfig } from '../model/config';
import type { DeviceTokenRef, Ops } from '../model/ops';
import type { ModelWeights } from '../model/weights-types';
import { forward } from '../model/glm';
import { makeBatch } from '../model/positions';
import { GlmError, NoVisionTowerError } from '../errors';
import { encodeImage, expandImagePrompt, hasVisionOps, type ImageRows, type VisionWeights } from '../model/vision';
import { argmax } from './sampler';
import { SCRATCH } from '../planner/planner';

/** Prompt tokens per forward call when only the last logits are needed (the planner budgets scratch for this many). */
export const PREFILL_CHUNK = SCRATCH.prefillChunkTokens;

/** Placeholder in ModelSession.tokens for a token whose id is still on the device (never a vocabulary id). */
export const PENDING_TOKEN = -1;

export class ContextOverflowError extends GlmError {
  override name = 'ContextOverflowError';
}

export interface SessionCounters {
  /** Tokens run through the model (prefill + decode), for asserting KV reuse. */
  tokensEvaluated: number;
  forwardCalls: number;
}

/** Lets a caller watch and stop a long prefill (the engine's abort and progress). */
export interface PrefillControl {
  /**
   * Awaited after each layer of a prompt chunk, once the device ran it: `done` of `total` prompt tokens
   * are through (layers counted as fractions of their chunk). Throwing stops the prefill; the session then
   * keeps none of the tokens of this append.
   */
  checkpoint(done: number, total: number): Promise<void>;
}

export class ModelSession<T, W, C> {
  /** The sequence in the KV cache; an image stands there as its rows' ids (boi, placeholder..., eoi). */
  readonly tokens: number[] = [];
  /**
   * RoPE position of each entry of `tokens`. Position = index, except after a GLM-4V image: its rows share
   * positions (vision.ts), so later tokens sit at lower positions than their KV slots.
   */
  readonly positions: number[] = [];
  readonly counters: SessionCounters = { tokensEvaluated: 0, forwardCalls: 0 };
  private cache: C;

  constructor(
    readonly ops: Ops<T, W, C>,
    readonly config: GlmConfig,
    readonly weights: ModelWeights<W>,
    readonly capacity: number = config.maxSequenceLength,
    /** GLM-4V: the vision tower's weights on this backend; without them `appendPrompt` refuses images. */
    readonly vision?: VisionWeights<W>,
  ) {
    this.cache = ops.createKvCache(config, capacity);
  }

  /**
   * The one entry for a prompt with images: `images[i]` (preprocessed CHW float32, vision image_size²) belongs
   * to the i-th <|begin_of_image|> of `ids`, laid out <|begin_of_image|> placeholder <|end_of_image|> as GLM-4V's
   * template writes it. Each image runs through the vision tower and its rows replace those three ids. Without
   * images this is `append`. Resolves to the logits like `append`; the prompt runs in one piece.
   */
  async appendPrompt(prompt: { ids: ArrayLike<number>; images?: readonly Float32Array[] }, want: 'all' | 'last' = 'last', control?: PrefillControl): Promise<T> {
    const images = prompt.images ?? [];
    if (images.length === 0) return this.append(prompt.ids, want, control);
    const v = this.config.vision;
    if (!v || !this.vision || !hasVisionOps<T, W>(this.ops)) {
      throw new NoVisionTowerError('this model has no vision tower (only GLM-4V models take images); send the message without images or load a GLM-4V model');
    }
    const expanded = expandImagePrompt(v, Array.from(prompt.ids), images.length, this.nextPosition());
    this.checkRoom(expanded.ids.length);
    const start = this.tokens.length;
    const rows: ImageRows<T>[] = [];
    for (const [i, pixels] of images.entries()) {
      const span = { start: start + expanded.spans[i]!.start, length: expanded.spans[i]!.length };
      rows.push({ span, features: await encodeImage(this.ops, v, this.vision, pixels) });
    }
    return (await this.run(expanded.ids, want, control && { control, offset: 0, total: expanded.ids.length }, expanded.positions, rows))!;
  }

  /** Position of the next appended token: one past the last (positions.ts for ChatGLM-6B). */
  private nextPosition(): number {
    return this.positions.length === 0 ? 0 : this.positions[this.positions.length - 1]! + 1;
  }

  /**
   * Appends `ids` and runs them; resolves to their logits (all rows or the last) as a backend tensor.
   * A long prompt whose last logits are wanted runs in chunks of PREFILL_CHUNK tokens, so activation
   * memory stays what the planner budgets whatever the prompt length (not ChatGLM-6B: its context
   * attends bidirectionally, so it must run in one piece).
   */
  async append(ids: ArrayLike<number>, want: 'all' | 'last' = 'last', control?: PrefillControl): Promise<T> {
    this.checkRoom(ids.length);
    const chunk = Math.min(PREFILL_CHUNK, this.ops.prefillChunkTokens ?? PREFILL_CHUNK);
    if (want === 'last' && ids.length > chunk && this.config.family !== 'chatglm1') {
      const all = Array.from(ids);
      const before = this.tokens.length;
      try {
        let i = 0;
        for (; i + chunk < all.length; i += chunk) {
          await this.run(all.slice(i, i + chunk), 'none', control && { control, offset: i, total: all.length });
        }
        return (await this.run(all.slice(i), 'last', control && { control, offset: i, total: all.length }))!;
      } catch (err) {
        this.tokens.length = before; // all or nothing, like a single call
        this.positions.length = before;
        throw err;
      }
    }
    return (await this.run(ids, want, control && { control, offset: 0, total: ids.length }))!;
  }

  private checkRoom(count: number): void {
    if (count === 0) throw new GlmError('append: no tokens');
    if (this.tokens.length + count > this.capacity) {
      throw new ContextOverflowError(
        `the sequence would be ${this.tokens.length + count} tokens, over this session's context of ${this.capacity}; shorten the prompt or start a new chat`,
      );
    }
  }

  /**
   * Pipelined decode (decode-steps.ts): appends one token whose id is still on the device (the previous
   * step's sampleAhead) and records its step; resolves to its logits. Its slot in `tokens` holds
   * PENDING_TOKEN until resolveToken() fills it in, or truncate() drops it.
   */
  async appendOnDevice(token: DeviceTokenRef): Promise<T> {
    this.checkRoom(1);
    return (await this.run([PENDING_TOKEN], 'last', undefined, undefined, undefined, token))!;
  }

  /** The id of a token appended with appendOnDevice, once it was read back. */
  resolveToken(index: number, id: number): void {
    if (this.tokens[index] !== PENDING_TOKEN) throw new GlmError(`internal: token ${index} is not a pending device-held token`);
    this.tokens[index] = id;
  }

  private async run(
    ids: ArrayLike<number>,
    want: 'all' | 'last' | 'none',
    watch?: { control: PrefillControl; offset: number; total: number },
    positions?: readonly number[],
    images?: readonly ImageRows<T>[],
    onDevice?: DeviceTokenRef,
  ): Promise<T | null> {
    const start = this.tokens.length;
    const first = this.nextPosition();
    for (let i = 0; i < ids.length; i++) {
      this.tokens.push(ids[i]!);
      this.positions.push(positions ? positions[i]! : first + i);
    }
    try {
      const batch = makeBatch(this.config, this.tokens, start);
      if (onDevice) batch.idsOnDevice = onDevice;
      // Every family but ChatGLM-6B: RoPE takes the tracked positions (equal to the slots until an image).
      if (this.config.family !== 'chatglm1') batch.positions = Int32Array.from(this.positions.slice(start));
      const layers = this.config.numLayers;
      const afterLayer = watch
        ? async (layer: number) => {
            await this.ops.settle?.();
            await watch.control.checkpoint(watch.offset + Math.round((ids.length * (layer + 1)) / layers), watch.total);
          }
        : undefined;
      const { logits, hidden } = await forward(this.ops, this.config, this.weights, this.cache, batch, want, afterLayer, images);
      // A chunk without logits still has to reach the device: reading its small hidden state ends the step.
      if (want === 'none') await this.ops.read(hidden);
      this.counters.tokensEvaluated += ids.length;
      this.counters.forwardCalls++;
      return logits;
    } catch (err) {
      this.tokens.length = start; // nothing half-appended survives a failure
      this.positions.length = start;
      throw err;
    }
  }

  /** Drops cached tokens after `length` (their KV slots are overwritten by the next append). */
  truncate(length: number): void {
    if (length < this.tokens.length) this.tokens.length = this.positions.length = Math.max(0, length);
  }

  reset(): void {
    this.tokens.length = 0;
    this.positions.length = 0;
  }
}

/** Greedy decoding of `maxNewTokens` after `promptIds` (no stop tokens: the reference fixtures do not stop). */
export async function greedyGenerate<T, W, C>(
  session: ModelSession<T, W, C>, promptIds: number[], maxNewTokens: number, stopIds: number[] = [],
): Promise<number[]> {
  const out: number[] = [];
  let logits = await session.ops.read(await session.append(promptIds, 'last'));
  for (let i = 0; i < maxNewTokens; i++) {
    const next = argmax(logits);
    out.push(next);
    if (stopIds.includes(next) || i === maxNewTokens - 1) break;
    logits = await session.ops.read(await session.append([next], 'last'));
  }
  return out;
}
