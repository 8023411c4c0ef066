// Pipelined decode steps (issue #17, src/runtime/decode-steps.ts) against the simple step on tiny GLM-4
// chat models: the same ids for greedy and seeded sampling (and the CPU backend's ids for the same seed),
// the same stop at EOS, stop strings and max_tokens, abort mid-generation, the next turn's KV reuse
// exact after a pipelined turn, and the placements and requests that keep the simple step.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { GlmEngine } from '../../src/runtime/engine';
import { setGpuContextFactory } from '../../src/runtime/gpu-backend';
import { loadHybridModel, type Placement } from '../../src/runtime/hybrid';
import { decodeSteps, type DecodeStepOptions } from '../../src/runtime/decode-steps';
import { nodeModelFiles } from '../../src/formats/node-files';
import type { ModelSession } from '../../src/runtime/session';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../src/runtime/api-types';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';

const GiB = 1024 ** 3;
const user = (content: string) => ({ messages: [{ role: 'user' as const, content }] });

describe('GPU: pipelined decode gives the simple step\'s replies', () => {
  let dir: string;
  let scriptedDir: string;
  const engines: Record<'pipelined' | 'simple' | 'cpu', GlmEngine> = {} as never;
  const scripted: Record<'pipelined' | 'simple', GlmEngine> = {} as never;
  // The scripted model says these ids after <|assistant|>, then <|user|> (a stop id): EOS at a known step.
  const script = [1200, 1201, 1202, 1203, 1204];

  beforeAll(async () => {
    const root = mkdtempSync(resolve(tmpdir(), 'glm-pipeline-'));
    dir = writeTinyChatModel(resolve(root, 'random'), { seed: 17 });
    scriptedDir = writeTinyChatModel(resolve(root, 'scripted'), { scriptIds: script });
    const ctx = await testGpu();
    setGpuContextFactory(async () => ctx);
    engines.pipelined = new GlmEngine();
    await engines.pipelined.load(dir, { backend: 'gpu' });
    engines.simple = new GlmEngine();
    await engines.simple.load(dir, { backend: 'gpu', pipelineDecode: false });
    engines.cpu = new GlmEngine();
    await engines.cpu.load(dir, { backend: 'cpu' });
    scripted.pipelined = new GlmEngine();
    await scripted.pipelined.load(scriptedDir, { backend: 'gpu' });
    scripted.simple = new GlmEngine();
    await scripted.simple.load(scriptedDir, { backend: 'gpu', pipelineDecode: false });
  });
  afterAll(() => {
    for (const e of [...Object.values(engines), ...Object.values(scripted)]) e.unload();
    setGpuContextFactory(null);
  });

  const run = async (e: GlmEngine, request: ChatCompletionRequest) => {
    e.resetChat();
    const r = await e.generateWithIds(request);
    const choice = r.completion.choices[0]!;
    return { ids: r.ids, text: choice.message.content, finish: choice.finish_reason, pipelined: e.stats().lastDecodePipelined };
  };

  const cases: Array<[string, ChatCompletionRequest]> = [
    ['greedy', { ...user('Tell me a story'), temperature: 0, max_tokens: 14 }],
    ['seeded, temperature 1', { ...user('Hello there'), temperature: 1, seed: 4242, max_tokens: 14 }],
    ['seeded, top-k 40 and top-p 0.9', { ...user('Why is the sky blue?'), temperature: 0.9, top_k: 40, top_p: 0.9, seed: 7, max_tokens: 14 }],
  ];
  for (const [name, request] of cases) {
    it(`${name}: the same ids pipelined, unpipelined and on the CPU backend`, async () => {
      const pipelined = await run(engines.pipelined, request);
      const simple = await run(engines.simple, request);
      const cpu = await run(engines.cpu, request);
      expect(pipelined.pipelined).toBe(true);
      expect(simple.pipelined).toBe(false);
      expect(pipelined.ids.length).toBeGreaterThan(0);
      expect(pipelined).toEqual({ ...simple, pipelined: true });
      expect(cpu.ids).toEqual(simple.ids);
    });
  }

  it('stops at EOS at the same token, and leaves the same tokens cached', async () => {
    const request = { ...user('hi'), temperature: 0, max_tokens: 50 };
    const pipelined = await run(scripted.pipelined, request);
    const simple = await run(scripted.simple, request);
    expect(pipelined.pipelined).toBe(true);
    expect(simple.ids).toEqual(script);
    expect(pipelined).toEqual({ ...simple, pipelined: true });
    expect(pipelined.finish).toBe('stop');
    expect(scripted.pipelined.counters().cachedTokens).toBe(scripted.simple.counters().cachedTokens);
  });

  it('stops at a stop string at the same token', async () => {
    const request = { ...user('Tell me a story'), temperature: 0, max_tokens: 14 };
    const free = await run(engines.simple, request);
    // A stop string that ends inside the reply (taken from the unpipelined reply itself).
    const stop = free.text.slice(Math.floor(free.text.length / 2), Math.floor(free.text.length / 2) + 3);
    expect(stop.length).toBeGreaterThan(0);
    const pipelined = await run(engines.pipelined, { ...request, stop });
    const simple = await run(engines.simple, { ...request, stop });
    expect(simple.finish).toBe('stop');
    expect(simple.ids.length).toBeLessThan(free.ids.length);
    expect(pipelined).toEqual({ ...simple, pipelined: true });
    expect(engines.pipelined.counters().cachedTokens).toBe(engines.simple.counters().cachedTokens);
  });

  for (const maxTokens of [1, 2, 5]) {
    it(`max_tokens ${maxTokens}: exactly that many tokens, the same cache length`, async () => {
      const request = { ...user('Count to ten'), temperature: 0, max_tokens: maxTokens };
      const pipelined = await run(engines.pipelined, request);
      const simple = await run(engines.simple, request);
      expect(simple.ids).toHaveLength(maxTokens);
      expect(simple.finish).toBe('length');
      expect(pipelined).toEqual({ ...simple, pipelined: true });
      expect(engines.pipelined.counters().cachedTokens).toBe(engines.simple.counters().cachedTokens);
    });
  }

  it('abort mid-generation stops at the same token, and the engine goes on', async () => {
    const request = { ...user('Write a long poem'), temperature: 0, max_tokens: 60, stream: true };
    const abortAfter = async (e: GlmEngine, chunks: number) => {
      e.resetChat();
      let seen = 0;
      const r = await e.generateWithIds(request, (c: ChatCompletionChunk) => {
        if (c.choices[0]?.delta.content && ++seen === chunks) e.abort();
      });
      return { ids: r.ids, finish: r.completion.choices[0]!.finish_reason, cached: e.counters().cachedTokens };
    };
    const pipelined = await abortAfter(engines.pipelined, 3);
    const simple = await abortAfter(engines.simple, 3);
    expect(simple.finish).toBe('abort');
    expect(simple.ids.length).toBeLessThan(60);
    expect(pipelined).toEqual(simple);
    // Usable afterwards: the next request runs to its end.
    const after = await run(engines.pipelined, { ...user('Hello there'), temperature: 0, max_tokens: 4 });
    expect(after.ids).toHaveLength(4);
  });

  it('the next turn reuses the cache of a pipelined turn exactly', async () => {
    const first = { ...user('Tell me a story'), temperature: 0, max_tokens: 9 };
    const turns = async (e: GlmEngine) => {
      e.resetChat();
      const a = await e.generateWithIds(first);
      const cachedAfterFirst = e.counters().cachedTokens;
      const second: ChatCompletionRequest = {
        messages: [...first.messages, { role: 'assistant', content: a.completion.choices[0]!.message.content }, { role: 'user', content: 'And then?' }],
        temperature: 0.8,
        seed: 11,
        max_tokens: 10,
      };
      const b = await e.generateWithIds(second);
      return { first: a.ids, cachedAfterFirst, second: b.ids, reused: e.stats().lastReusedTokens };
    };
    const pipelined = await turns(engines.pipelined);
    const simple = await turns(engines.simple);
    expect(simple.reused).toBeGreaterThan(0);
    expect(pipelined).toEqual(simple);
  });

  it('requests that need the CPU between tokens keep the simple step, with the same ids', async () => {
    const needsCpu: ChatCompletionRequest[] = [
      { ...user('Hello'), temperature: 0.7, seed: 3, repetition_penalty: 1.3, max_tokens: 8 },
      { ...user('Hello'), temperature: 0, logit_bias: { 1200: 5 }, max_tokens: 8 },
      { ...user('Hello'), temperature: 0, frequency_penalty: 0.5, max_tokens: 8 },
      { ...user('Hello'), temperature: 0, logprobs: true, top_logprobs: 2, max_tokens: 8 },
    ];
    for (const request of needsCpu) {
      const pipelined = await run(engines.pipelined, request);
      const simple = await run(engines.simple, request);
      expect(pipelined.pipelined, JSON.stringify(request)).toBe(false);
      expect(pipelined).toEqual(simple);
    }
  });
});

describe('GPU: placements with CPU parts keep the simple step', () => {
  let dir: string;
  beforeAll(() => {
    dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-pipeline-hybrid-')), 'random'), { seed: 5 });
  });

  const greedy = (session: ModelSession<unknown, unknown, unknown>, pipeline: boolean): DecodeStepOptions => ({
    session, params: { temperature: 0 }, seed: 1, maxTokens: 6, topLogprobs: null, adjustments: () => null, cpuPerToken: false, pipeline,
  });
  const decode = async (session: ModelSession<unknown, unknown, unknown>, pipeline: boolean) => {
    session.reset();
    const logits = await session.append([3, 1200, 1500, 3008], 'last');
    const steps = await decodeSteps(greedy(session, pipeline), logits);
    const ids: number[] = [];
    try {
      let draw = await steps.first();
      for (;;) {
        ids.push(draw.id);
        if (ids.length === 6) break;
        draw = await steps.next(draw.id);
      }
    } finally {
      await steps.end();
    }
    return { ids, pipelined: steps.pipelined, tokens: [...session.tokens] };
  };

  const placements: Array<[string, Placement, 'cpu' | 'gpu', boolean]> = [
    ['everything on the GPU', { layers: ['gpu', 'gpu'], head: 'gpu' }, 'gpu', true],
    ['the embedding on the CPU', { layers: ['gpu', 'gpu'], head: 'gpu' }, 'cpu', false],
    ['a CPU layer', { layers: ['cpu', 'gpu'], head: 'gpu' }, 'gpu', false],
    ['the head on the CPU', { layers: ['gpu', 'gpu'], head: 'cpu' }, 'gpu', false],
  ];
  for (const [name, placement, embedding, pipelines] of placements) {
    it(`${name}: ${pipelines ? 'pipelined' : 'the simple step'}, the same ids and cached tokens as unpipelined`, async () => {
      const ctx = await testGpu();
      const hybrid = await loadHybridModel(nodeModelFiles(dir), ctx, {
        quant: 'none', gpuBudget: GiB, cpuBudget: GiB, contextLength: 64, placement: { ...placement, embedding },
      });
      try {
        const session = hybrid.newSession(64) as unknown as ModelSession<unknown, unknown, unknown>;
        const reference = await decode(session, false);
        const got = await decode(session, true);
        expect(got.pipelined).toBe(pipelines);
        expect(got.ids).toEqual(reference.ids);
        expect(got.tokens).toEqual(reference.tokens);
      } finally {
        hybrid.ops.gpu.dispose();
        hybrid.disposeCpu();
      }
    });
  }
});
