// A model session: one token sequence and its KV cache on one backend. Prefill and decode both go
// through glm.ts's forward(); this class only keeps track of what is cached.
import type { GlmConfig } from '../model/config';
import type { Ops } from '../model/ops';
import type { ModelWeights } from '../model/weights-types';
import { forward } from '../model/glm';
import { makeBatch } from '../model/positions';
import { GlmError } from '../errors';
import { argmax } from './sampler';

export class ContextOverflowError extends GlmError {
  override name = 'ContextOverflowError';
}

export interface SessionCounters {
  /** Tokens run through the model (prefill + decode), for asserting KV reuse. */
  tokensEvaluated: number;
  forwardCalls: number;
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

  /** Appends `ids` and runs them; returns their logits (all rows or the last) as a backend tensor. */
  append(ids: ArrayLike<number>, want: 'all' | 'last' = 'last'): T {
    if (ids.length === 0) throw new GlmError('append: no tokens');
    if (this.tokens.length + ids.length > this.capacity) {
      throw new ContextOverflowError(
        `the sequence would be ${this.tokens.length + ids.length} tokens, over this session's context of ${this.capacity}; shorten the prompt or start a new chat`,
      );
    }
    const start = this.tokens.length;
    for (let i = 0; i < ids.length; i++) this.tokens.push(ids[i]!);
    try {
      const batch = makeBatch(this.config, this.tokens, start);
      const { logits } = forward(this.ops, this.config, this.weights, this.cache, batch, want);
      this.counters.tokensEvaluated += ids.length;
      this.counters.forwardCalls++;
      return logits!;
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
export async function greedyGenerate<T, W, C>(session: ModelSession<T, W, C>, promptIds: number[], maxNewTokens: number, stopIds: number[] = []): Promise<number[]> {
  const out: number[] = [];
  let logits = await session.ops.read(session.append(promptIds, 'last'));
  for (let i = 0; i < maxNewTokens; i++) {
    const next = argmax(logits);
    out.push(next);
    if (stopIds.includes(next) || i === maxNewTokens - 1) break;
    logits = await session.ops.read(session.append([next], 'last'));
  }
  return out;
}
