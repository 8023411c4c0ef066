// The engine with the tiny GLM-4V on the GPU backend (issue #21): an image through the chat API gives the
// CPU reference's ids (the session API on the CPU, tests/helpers/tiny-vision-model.ts) in float32 and in q4
// (q4 GPU = q4 CPU), and a second turn that reuses the cached image on the GPU answers as the CPU engine does.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { GlmEngine } from '../../src/runtime/engine';
import { setGpuContextFactory } from '../../src/runtime/gpu-backend';
import type { ChatCompletionMessageParam } from '../../src/runtime/api-types';
import { visionReference, writeTinyVisionModel } from '../helpers/tiny-vision-model';

const IMAGE = `data:image/png;base64,${readFileSync(join(import.meta.dirname, '../fixtures/vision-preprocess/rgb-300x200.png')).toString('base64')}`;
const QUESTION = 'What is in the picture?';
const MAX_TOKENS = 6;
const question: ChatCompletionMessageParam = { role: 'user', content: [{ type: 'image_url', image_url: { url: IMAGE } }, { type: 'text', text: QUESTION }] };

describe('GLM-4V engine on the GPU (SwiftShader)', () => {
  let dir: string;
  const engines: GlmEngine[] = [];
  beforeAll(async () => {
    dir = writeTinyVisionModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm4v-gpu-')), 'glm4v'));
    const ctx = await testGpu();
    setGpuContextFactory(async () => ctx);
  });
  afterAll(() => {
    for (const e of engines) e.unload();
    setGpuContextFactory(null);
  });

  async function engineOn(backend: 'cpu' | 'gpu', quant: 'none' | 'q4'): Promise<GlmEngine> {
    const engine = new GlmEngine();
    engines.push(engine);
    // The reference is the CPU's float arithmetic, so the GPU's q4 decode GEMV does float too: the int8
    // GEMV (issue #17) moves the logits by ~1e-2 and is checked against its own twin in matmul-gemv-q4 and forward-gpu.
    const info = await engine.load(dir, { backend, quant, ...(backend === 'gpu' ? { gemv: 'float' as const } : {}) });
    expect(info.backend).toBe(backend);
    expect(info.vision?.tokensPerImage).toBe(6);
    return engine;
  }

  for (const quant of ['none', 'q4'] as const) {
    it(`${quant === 'none' ? 'float32' : 'q4'}: an image through the chat API gives the CPU reference's ids`, async () => {
      const reference = await visionReference(dir, IMAGE, QUESTION, MAX_TOKENS, quant);
      const gpu = await engineOn('gpu', quant);
      const { ids, completion } = await gpu.generateWithIds({ messages: [question], temperature: 0, max_tokens: MAX_TOKENS });
      expect(ids).toEqual(reference.ids);
      expect(completion.usage.prompt_tokens).toBe(reference.promptRows);
    });
  }

  it('float32: the next turn reuses the cached image on the GPU and answers as the CPU engine does', async () => {
    const replies: string[] = [];
    for (const backend of ['cpu', 'gpu'] as const) {
      const engine = await engineOn(backend, 'none');
      const first = await engine.generate({ messages: [question], temperature: 0, max_tokens: MAX_TOKENS });
      const next = await engine.generate({
        messages: [question, { role: 'assistant', content: first.choices[0]!.message.content }, { role: 'user', content: 'Tell me more.' }],
        temperature: 0,
        max_tokens: MAX_TOKENS,
      });
      expect(next.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(first.usage.prompt_tokens - 1);
      replies.push(next.choices[0]!.message.content);
    }
    expect(replies[1]).toBe(replies[0]);
  });
});
