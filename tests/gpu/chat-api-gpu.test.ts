// The chat API's per-step work on the GPU (#19): shaders/logit_adjust.wgsl and the logprobs pass against
// their CPU twins (applyAdjustments, logprobsOf in src/runtime/logits-process.ts) over odd vocabulary
// sizes, and one seed giving one reply whether the head runs on the CPU or the GPU.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { seededRandom } from '../helpers/random';
import { GpuOps } from '../../src/gpu/ops';
import { applyAdjustments, logprobsOf, type LogitAdjustments } from '../../src/runtime/logits-process';
import { argmax, sample, uniformFor } from '../../src/runtime/sampler';
import { GlmEngine } from '../../src/runtime/engine';
import { setGpuContextFactory } from '../../src/runtime/gpu-backend';
import type { ChatCompletion, ChatCompletionRequest } from '../../src/runtime/api-types';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';

/** f32 exp and sums on the GPU against f64 on the CPU: log-probabilities agree to a few 1e-6. */
const LOGPROB_TOL = 2e-5;

function adjustmentsFor(n: number, seed: number): LogitAdjustments {
  const rand = seededRandom(seed);
  const ids = [...new Set(Array.from({ length: Math.min(n, 9) }, () => Math.floor(rand() * n)))].sort((a, b) => a - b);
  const mask = new Uint32Array(Math.ceil(n / 32));
  for (let i = 0; i < n; i++) if (rand() < 0.6 || i === n - 1) mask[i >>> 5]! |= 1 << (i & 31);
  return { biasIds: Int32Array.from(ids), biasValues: Float32Array.from(ids, () => (rand() * 2 - 1) * 5), mask };
}

describe('GPU: logit adjustments and logprobs against the CPU twins', () => {
  let ops: GpuOps;
  beforeAll(async () => {
    ops = new GpuOps(await testGpu());
  });
  afterAll(() => ops?.dispose());

  for (const n of [1, 37, 1001, 4099]) {
    it(`vocab ${n}: the adjusted argmax, a seeded draw and the top logprobs match the CPU`, async () => {
      const rand = seededRandom(n);
      const logits = Float32Array.from({ length: n }, () => (rand() * 2 - 1) * 4);
      const adjust = adjustmentsFor(n, n + 1);
      const cpu = applyAdjustments(logits, adjust);
      const topN = Math.min(5, n - 1);
      const base = { topK: 0, topP: 1, repetitionPenalty: 1, recentIds: new Int32Array(0), seed: 77, step: 3 };

      const greedy = await ops.sampleNextDetailed(ops.upload(logits, 1, n), { ...base, temperature: 0, adjust, topLogprobs: n > 1 ? topN : null });
      expect(greedy!.id).toBe(argmax(cpu));
      if (n > 1) {
        const want = logprobsOf(cpu, greedy!.id, topN);
        expect(greedy!.logprobs!.logprob).toBeCloseTo(want.logprob, -Math.log10(LOGPROB_TOL));
        expect(greedy!.logprobs!.top.map((t) => t.id)).toEqual(want.top.map((t) => t.id));
        greedy!.logprobs!.top.forEach((t, i) => expect(Math.abs(t.logprob - want.top[i]!.logprob), `top ${i}`).toBeLessThan(LOGPROB_TOL));
      }
      const drawn = await ops.sampleNextDetailed(ops.upload(logits, 1, n), { ...base, temperature: 0.8, adjust, topLogprobs: null });
      expect(drawn!.id).toBe(sample(cpu, { temperature: 0.8 }, () => uniformFor(77, 3)));
    });
  }
});

describe('GPU: one seed, one reply on CPU and GPU placements', () => {
  let dir: string;
  const engines: Record<string, GlmEngine> = {};
  beforeAll(async () => {
    dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-seed-')), 'random'), { seed: 21 });
    const ctx = await testGpu();
    setGpuContextFactory(async () => ctx);
    for (const backend of ['cpu', 'gpu'] as const) {
      engines[backend] = new GlmEngine();
      await engines[backend]!.load(dir, { backend });
    }
  });
  afterAll(() => {
    for (const e of Object.values(engines)) e.unload();
    setGpuContextFactory(null);
  });

  const requests: Array<[string, ChatCompletionRequest]> = [
    ['temperature 1', { messages: [{ role: 'user', content: 'Tell me a story' }], temperature: 1, seed: 1234, max_tokens: 12 }],
    ['top-p 0.9, top-k 40', { messages: [{ role: 'user', content: 'Hello' }], temperature: 0.9, top_p: 0.9, top_k: 40, seed: 99, max_tokens: 12 }],
    [
      'logit_bias, penalties, logprobs',
      { messages: [{ role: 'user', content: 'Again' }], temperature: 1, seed: 5, max_tokens: 12, logit_bias: { '100': 5, '7': -100 }, frequency_penalty: 0.5, presence_penalty: 0.3, logprobs: true, top_logprobs: 3 },
    ],
    [
      'JSON schema',
      { messages: [{ role: 'user', content: 'JSON' }], temperature: 1, seed: 8, max_tokens: 40, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'string', maxLength: 5 } }, required: ['a', 'b'] } } } },
    ],
    [
      'tool_choice "required" (the name-line mask, then the arguments\' schema)',
      {
        messages: [{ role: 'user', content: 'Call one' }], temperature: 1, seed: 6, max_tokens: 30, tool_choice: 'required',
        tools: ['get_forecast', 'search'].map((name) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: { q: { type: 'string', maxLength: 6 } }, required: ['q'] } } })),
      },
    ],
  ];
  for (const [label, request] of requests) {
    it(`${label}: the same ids`, async () => {
      const out: Record<string, { ids: number[]; completion: ChatCompletion }> = {};
      for (const backend of ['cpu', 'gpu'] as const) {
        engines[backend]!.resetChat();
        out[backend] = await engines[backend]!.generateWithIds(request);
      }
      expect(out.gpu!.ids).toEqual(out.cpu!.ids);
      expect(out.gpu!.ids.length).toBeGreaterThan(0);
      const lpCpu = out.cpu!.completion.choices[0]!.logprobs?.content ?? [];
      const lpGpu = out.gpu!.completion.choices[0]!.logprobs?.content ?? [];
      expect(lpGpu.length).toBe(lpCpu.length);
      lpGpu.forEach((t, i) => {
        expect(Math.abs(t.logprob - lpCpu[i]!.logprob), `token ${i}`).toBeLessThan(1e-3);
        expect(t.top_logprobs.map((x) => x.token)).toEqual(lpCpu[i]!.top_logprobs.map((x) => x.token));
      });
      if (request.response_format) expect(() => JSON.parse(out.gpu!.completion.choices[0]!.message.content)).not.toThrow();
      if (request.tool_choice) expect(out.gpu!.completion.choices[0]!.finish_reason).toBe('tool_calls');
    }, 120_000);
  }
});
