// The bookkeeping of pipelined decode steps (src/runtime/decode-steps.ts) on the CPU, fast: a CpuOps that
// implements the Ops.sampleAhead contract (the draw is handed to the next step's embed as a token ref, and
// its id resolves later) against the simple step, on a tiny random GLM-4 model. The real GPU path is
// tests/gpu/pipelined-decode.test.ts; this one checks what the caller sees and what the session keeps
// when it stops at any step, without a GPU.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuOps, type CpuTensor, type CpuWeight } from '../../src/cpu/ops';
import { loadModelFolder } from '../../src/model/load';
import { nodeModelFiles } from '../../src/formats/node-files';
import type { DeviceSampleParams, DeviceToken, DeviceTokenRef } from '../../src/model/ops';
import type { ModelWeights } from '../../src/model/weights-types';
import type { GlmConfig } from '../../src/model/config';
import { decodeSteps, type DecodeSteps } from '../../src/runtime/decode-steps';
import { sample, uniformFor } from '../../src/runtime/sampler';
import { ModelSession, PENDING_TOKEN } from '../../src/runtime/session';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';

interface CpuTokenRef extends DeviceTokenRef {
  id: number;
}

/** CpuOps with the pipelined-step contract: the drawn id reaches the next embed through a ref, and the caller later. */
class AheadCpuOps extends CpuOps {
  aheadDraws = 0;
  override embed(table: CpuWeight, ids: Int32Array, onDevice?: DeviceTokenRef): CpuTensor {
    if (onDevice) expect(Array.from(ids)).toEqual([PENDING_TOKEN]);
    return super.embed(table, onDevice ? Int32Array.of((onDevice as CpuTokenRef).id) : ids);
  }
  async sampleAhead(logits: CpuTensor, p: DeviceSampleParams): Promise<DeviceToken> {
    this.aheadDraws++;
    const id = sample(logits.data, { temperature: p.temperature, topK: p.topK, topP: p.topP }, () => uniformFor(p.seed, p.step));
    // The id arrives a macrotask later, as a GPU read-back would.
    return { id: new Promise((ok) => setTimeout(() => ok(id), 0)), ref: { kind: 'device-token', id } as CpuTokenRef };
  }
}

const PROMPT = [3, 1200, 1500, 1777, 3008];

describe('decode steps: pipelined bookkeeping against the simple step (CPU)', () => {
  let config: GlmConfig;
  let weights: ModelWeights<CpuWeight>;
  beforeAll(async () => {
    const dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-steps-')), 'random'), { seed: 3 });
    ({ config, weights } = (await loadModelFolder(nodeModelFiles(dir))) as { config: GlmConfig; weights: ModelWeights<CpuWeight> });
  });

  /** Decodes until `stopAfter` draws were looked at (the last one not kept, like a stop id) or maxTokens kept. */
  const decode = async (pipeline: boolean, maxTokens: number, stopAt: number | null, temperature: number) => {
    const ops = new AheadCpuOps();
    const session = new ModelSession(ops, config, weights, 64) as unknown as ModelSession<unknown, unknown, unknown>;
    const logits = await session.append(PROMPT, 'last');
    const steps: DecodeSteps = await decodeSteps(
      { session, params: { temperature }, seed: 99, maxTokens, topLogprobs: null, adjustments: () => null, cpuPerToken: false, pipeline },
      logits,
    );
    const ids: number[] = [];
    try {
      let draw = await steps.first();
      for (;;) {
        if (ids.length === stopAt) break; // the caller stops at this draw without keeping it (a stop id)
        ids.push(draw.id);
        if (ids.length === maxTokens) break;
        draw = await steps.next(draw.id);
      }
    } finally {
      await steps.end();
    }
    // The next turn's first step, from whatever the session kept.
    const next = Array.from(((await session.append([1300], 'last')) as CpuTensor).data.slice(0, 8));
    return { ids, tokens: [...session.tokens], next, pipelined: steps.pipelined, aheadDraws: ops.aheadDraws };
  };

  for (const temperature of [0, 1]) {
    for (const [maxTokens, stopAt] of [[6, null], [6, 0], [6, 2], [6, 5], [1, null], [2, 1]] as const) {
      it(`temperature ${temperature}, max ${maxTokens}, ${stopAt === null ? 'to the end' : `stop at draw ${stopAt}`}: same ids, cache and next turn`, async () => {
        const simple = await decode(false, maxTokens, stopAt, temperature);
        const pipelined = await decode(true, maxTokens, stopAt, temperature);
        expect(simple.pipelined).toBe(false);
        expect(pipelined.pipelined).toBe(true);
        expect(pipelined.ids).toEqual(simple.ids);
        expect(pipelined.tokens).toEqual(simple.tokens);
        expect(pipelined.tokens).not.toContain(PENDING_TOKEN);
        expect(pipelined.next).toEqual(simple.next);
        // At most one draw past what the caller looked at (never past maxTokens).
        const looked = stopAt === null ? maxTokens : stopAt + 1;
        expect(pipelined.aheadDraws).toBeLessThanOrEqual(Math.min(maxTokens, looked + 1));
        expect(simple.aheadDraws).toBe(0);
      });
    }
  }

  it('a repetition penalty keeps the simple step', async () => {
    const ops = new AheadCpuOps();
    const session = new ModelSession(ops, config, weights, 64) as unknown as ModelSession<unknown, unknown, unknown>;
    const logits = await session.append(PROMPT, 'last');
    const params = { temperature: 0, repetitionPenalty: 1.2 };
    const options = { session, params, seed: 1, maxTokens: 4, topLogprobs: null, adjustments: () => null, cpuPerToken: false, pipeline: true };
    const steps = await decodeSteps(options, logits);
    expect(steps.pipelined).toBe(false);
    await steps.end();
  });
});
