// A model session: one token sequence and its KV cache on one backend. Prefill and decode both go
// through glm.ts's forward(); this class only keeps track of what is cached.
import type { GlmConfig } from '../model/config';
import type { Ops } from '../model/ops';
import type { ModelWeights } from '../model/weights-types';
import { forward } from '../model/glm';
import { makeBatch } from '../model/positions';
import { GlmError, VisionNotSupportedError } from '../errors';
import { argmax } from './sampler';
import { SCRATCH } from '../planner/planner';

/** Prompt tokens per forward call when only the last logits are needed (the planner budgets scratch for this many). */
export const PREFILL_CHUNK = SCRATCH.prefillChunkTokens;

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
  readonly tokens: number[] = [];
  readonly counters: SessionCounters = { tokensEvaluated: 0, forwardCalls: 0 };
  private cache: C;

  constructor(
    readonly ops: Ops<T, W, C>,
    readonly config: GlmConfig,
    readonly weights: ModelWeights<W>,
    readonly capacity: number = config.maxSequenceLength,
  ) {
    this.cache = ops.createKvCache(config, capacity);
  }

  /**
   * Appends `ids` and runs them; resolves to their logits (all rows or the last) as a backend tensor.
   * A long prompt whose last logits are wanted runs in chunks of PREFILL_CHUNK tokens, so activation
   * memory stays what the planner budgets whatever the prompt length (not ChatGLM-6B: its context
   * attends bidirectionally, so it must run in one piece).
   */
  async append(ids: ArrayLike<number>, want: 'all' | 'last' = 'last', control?: PrefillControl, images: readonly Float32Array[] = []): Promise<T> {
    // Issue #21 seam: images (CHW float32, preprocessed) belong to the <|begin_of_image|> ids in `ids`, in order;
    // a session of a model with a vision tower encodes them, a text-only one has none to run them through.
    if (images.length > 0) throw new VisionNotSupportedError('this model has no vision tower: it cannot take images');
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

  private async run(ids: ArrayLike<number>, want: 'all' | 'last' | 'none', watch?: { control: PrefillControl; offset: number; total: number }): Promise<T | null> {
    const start = this.tokens.length;
    for (let i = 0; i < ids.length; i++) this.tokens.push(ids[i]!);
    try {
      const batch = makeBatch(this.config, this.tokens, start);
      const layers = this.config.numLayers;
      const afterLayer = watch
        ? async (layer: number) => {
            await this.ops.settle?.();
            await watch.control.checkpoint(watch.offset + Math.round((ids.length * (layer + 1)) / layers), watch.total);
          }
        : undefined;
      const { logits, hidden } = await forward(this.ops, this.config, this.weights, this.cache, batch, want, afterLayer);
      // A chunk without logits still has to reach the device: reading its small hidden state ends the step.
      if (want === 'none') await this.ops.read(hidden);
      this.counters.tokensEvaluated += ids.length;
      this.counters.forwardCalls++;
      return logits;
    } catch (err) {
      this.tokens.length = start; // nothing half-appended survives a failure
      throw err;
    }
  }

  /** Drops cached tokens after `length` (their KV slots are overwritten by the next append). */
  truncate(length: number): void {
    if (length < this.tokens.length) this.tokens.length = Math.max(0, length);
  }

  reset(): void {
    this.tokens.length = 0;
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
