// The chat API through the engine's Web Worker in headless Chromium, the cases chat-api.test.ts leaves to
// the unit tier (#19): tool round trips in the GLM-4-0414 and ChatGLM3 formats, logit_bias and the
// penalties, generation_config defaults, an AbortSignal on load and on create, one seed one reply on the
// CPU and the GPU (SwiftShader's WebGPU here), and what an OpenAI app sends: a developer message, a
// response message sent back as history, fields GLM has no slot for as named errors.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DIST_WEB, openEngineTestPage, screenshot, type EngineTestPage } from './harness';
import { distinctScript, TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { chatTemplateFixture, fixtureDir } from '../helpers/fixtures';
import { chatglm3ToolsModel } from '../helpers/sentencepiece-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import type { GlmTokenizer } from '../../src/tokenizer/types';
import type { ChatCompletion } from '../../src/index';

const CALL_REPLY = 'get_forecast\n{ "days": 3}';

describe('e2e: the chat API through the worker, as an app uses it', () => {
  let opened: EngineTestPage;
  let page: Page;
  let logs: string[];
  let tok: GlmTokenizer;

  beforeAll(async () => {
    tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const tmp = mkdtempSync(resolve(tmpdir(), 'glm-e2e-api-user-'));
    const models = resolve(DIST_WEB, 'test-models');
    mkdirSync(models, { recursive: true });
    // GLM-4-0414's template (GLM-Z1's, which opens the reply with "\n<think>"): the scripted call starts after it.
    const startAfter = tok.encode('\n<think>', { addSpecialTokens: false }).at(-1)!;
    const z1 = writeTinyChatModel(resolve(tmp, 'z1'), { scriptIds: distinctScript(tok, CALL_REPLY), chatTemplate: chatTemplateFixture('glm-z1-0414'), maxPositions: 2048, startAfter });
    cpSync(z1, resolve(models, 'api-user-z1'), { recursive: true });
    // ChatGLM3: the THUDM tiny fixture with a small SentencePiece tokenizer and room for the tool prompt.
    const glm3 = resolve(tmp, 'chatglm3');
    cpSync(fixtureDir('thudm-chatglm3-tiny'), glm3, { recursive: true });
    writeFileSync(resolve(glm3, 'tokenizer.model'), chatglm3ToolsModel());
    const config = JSON.parse(readFileSync(resolve(glm3, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(resolve(glm3, 'config.json'), JSON.stringify({ ...config, seq_length: 2048 }));
    cpSync(glm3, resolve(models, 'api-user-chatglm3'), { recursive: true });
    cpSync(writeTinyChatModel(resolve(tmp, 'random'), { seed: 21 }), resolve(models, 'api-user-random'), { recursive: true });
    // The weights chat-api.test.ts's penalty case uses: greedy, it loops.
    cpSync(writeTinyChatModel(resolve(tmp, 'looping')), resolve(models, 'api-user-looping'), { recursive: true });
    cpSync(writeTinyChatModel(resolve(tmp, 'scripted'), { scriptIds: distinctScript(tok, 'Hello there, friend.') }), resolve(models, 'api-user-scripted'), { recursive: true });
    const genConfig = { do_sample: true, temperature: 1.3, top_k: 7, max_new_tokens: 5 };
    cpSync(writeTinyChatModel(resolve(tmp, 'gen'), { generationConfig: genConfig }), resolve(models, 'api-user-gen'), { recursive: true });
    opened = await openEngineTestPage();
    ({ page, logs } = opened);
  });
  afterAll(async () => {
    await opened?.close();
  });

  it('tool round trips in the GLM-4-0414 format (the model calls) and the ChatGLM3 format (tool_choice forces the call)', async () => {
    const r = await page.evaluate(async () => {
      const tools = [{ type: 'function' as const, function: { name: 'get_forecast', parameters: { type: 'object', properties: { days: { type: 'integer' } }, required: ['days'] } } }];
      const messages = [{ role: 'user' as const, content: 'Forecast?' }];
      const out: Record<string, unknown> = {};
      for (const [label, url, toolChoice] of [
        ['z1', 'test-models/api-user-z1/', undefined],
        ['chatglm3', 'test-models/api-user-chatglm3/', { type: 'function' as const, function: { name: 'get_forecast' } }],
      ] as const) {
        const engine = await window.glm.createEngine();
        const info = await engine.load(url, { backend: 'cpu' });
        const forcing = toolChoice ? { tool_choice: toolChoice } : {};
        const first = await engine.chat.completions.create({ messages, tools, ...forcing, max_tokens: 40, seed: 1, temperature: 1 });
        const reply = first.choices[0]!.message;
        // The response message goes back into history as it is, then the tool's result.
        const back = await engine.chat.completions.create({
          messages: [...messages, reply, { role: 'tool', tool_call_id: reply.tool_calls?.[0]?.id ?? 'none', content: '{"temp": 21}' }],
          tools,
          max_tokens: 4,
        });
        await engine.terminate();
        out[label] = { format: info.chatFormat, first, back };
      }
      return out as Record<'z1' | 'chatglm3', { format: string; first: ChatCompletion; back: ChatCompletion }>;
    });
    expect(r.z1.format, logs.join('\n')).toBe('glm4');
    expect(r.chatglm3.format).toBe('chatglm3');
    for (const { first, back } of [r.z1, r.chatglm3]) {
      expect(first.choices[0]!.finish_reason, JSON.stringify(first)).toBe('tool_calls');
      const call = first.choices[0]!.message.tool_calls![0]!;
      expect(call.function.name).toBe('get_forecast');
      expect(Number.isInteger((JSON.parse(call.function.arguments) as { days: unknown }).days)).toBe(true);
      expect(back.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
      expect(back.usage.completion_tokens).toBeGreaterThan(0);
    }
    expect(JSON.parse(r.z1.first.choices[0]!.message.tool_calls![0]!.function.arguments)).toEqual({ days: 3 });
  });

  it('logit_bias, penalties and generation_config defaults change the reply as in Node', async () => {
    const r = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('test-models/api-user-scripted/', { backend: 'cpu' });
      const hi = [{ role: 'user' as const, content: 'hi' }];
      const plain = await engine.chat.completions.create({ messages: hi, max_tokens: 4, logprobs: true, top_logprobs: 3 });
      const plainLogprobs = plain.choices[0]!.logprobs!.content;
      const firstToken = plain.choices[0]!.logprobs!.content[0]!.token;
      const firstIds = await engine.tokenize(firstToken, false);
      await engine.resetChat();
      const banned = await engine.chat.completions.create({ messages: hi, max_tokens: 4, logit_bias: { [firstIds[0]!]: -100 } });
      await engine.resetChat();
      const forced = await engine.chat.completions.create({ messages: hi, max_tokens: 3, logit_bias: { '42': 100 }, logprobs: true });
      const forcedTokens = forced.choices[0]!.logprobs!.content.map((t) => t.token);
      await engine.load('test-models/api-user-looping/', { backend: 'cpu' });
      const base = { messages: [{ role: 'user' as const, content: 'repeat' }], max_tokens: 24, temperature: 0, logprobs: true };
      const greedy = await engine.chat.completions.create(base);
      await engine.resetChat();
      const penalized = await engine.chat.completions.create({ ...base, frequency_penalty: 2, presence_penalty: 2 });
      // Repeated tokens of a reply (its logprobs name each generated token).
      const repeats = (c: typeof greedy) => { const t = c.choices[0]!.logprobs!.content.map((x) => x.token); return t.length - new Set(t).size; };
      await engine.load('test-models/api-user-gen/', { backend: 'cpu' });
      const implicit = await engine.chat.completions.create({ messages: hi, seed: 9 });
      await engine.resetChat();
      const explicit = await engine.chat.completions.create({ messages: hi, seed: 9, temperature: 1.3, top_k: 7, max_tokens: 5 });
      const out = {
        plainText: plain.choices[0]!.message.content, plainLogprobs, firstToken, firstIds, banned: banned.choices[0]!.message.content, forcedTokens,
        greedyRepeats: repeats(greedy), penalizedRepeats: repeats(penalized),
        implicit: implicit.choices[0]!.message.content, explicit: explicit.choices[0]!.message.content, implicitTokens: implicit.usage.completion_tokens,
      };
      await engine.terminate();
      return out;
    });
    // logprobs: one entry per token, its 3 alternatives sorted, the chosen one first (greedy).
    expect(r.plainLogprobs.map((t) => t.token).join(''), logs.join('\n')).toBe(r.plainText);
    for (const t of r.plainLogprobs) {
      expect(t.top_logprobs.map((x) => x.token)[0]).toBe(t.token);
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.top_logprobs[1]!.logprob).toBeLessThanOrEqual(t.top_logprobs[0]!.logprob);
    }
    expect(r.firstIds).toHaveLength(1);
    expect(r.banned.startsWith(r.firstToken)).toBe(false);
    expect(r.forcedTokens).toEqual([tok.decode([42]), tok.decode([42]), tok.decode([42])]);
    expect(r.greedyRepeats).toBeGreaterThan(0);
    expect(r.penalizedRepeats).toBeLessThan(r.greedyRepeats);
    expect(r.implicit).toBe(r.explicit);
    expect(r.implicitTokens).toBeLessThanOrEqual(5);
  });

  it('an AbortSignal on load and on create: AbortError, the engine stays usable', async () => {
    const r = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      const lc = new AbortController();
      const loadError = await engine.load('test-models/api-user-random/', { backend: 'cpu', signal: lc.signal, onProgress: (p) => p.phase === 'weights' && lc.abort() })
        .then(() => 'loaded', (e: Error) => e.name);
      await engine.load('test-models/api-user-random/', { backend: 'cpu' });
      const pre = new AbortController();
      pre.abort();
      const createError = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] }, { signal: pre.signal }).then(() => 'ran', (e: Error) => e.name);
      const completionError = await engine.completions.create({ prompt: 'x' }, { signal: pre.signal }).then(() => 'ran', (e: Error) => e.name);
      const after = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], max_tokens: 2 });
      await engine.terminate();
      return { loadError, createError, completionError, tokens: after.usage.completion_tokens };
    });
    expect(r).toEqual({ loadError: 'AbortError', createError: 'AbortError', completionError: 'AbortError', tokens: 2 });
  });

  it('one seed, one reply: the same text on the CPU and on the GPU', async () => {
    const r = await page.evaluate(async () => {
      const out: Record<string, string[]> = {};
      for (const backend of ['cpu', 'gpu'] as const) {
        const engine = await window.glm.createEngine();
        await engine.load('test-models/api-user-random/', { backend });
        out[backend] = [];
        // Two seeds on the CPU (they must differ), the first again on the GPU (SwiftShader is slow).
        for (const seed of backend === 'cpu' ? [1234, 99] : [1234]) {
          await engine.resetChat();
          const c = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me a story' }], temperature: 1, seed, max_tokens: 12 });
          out[backend]!.push(`${c.system_fingerprint}: ${c.choices[0]!.message.content}`);
        }
        await engine.terminate();
      }
      return out;
    });
    expect(r.cpu![0], logs.join('\n')).toMatch(/^glm-webgpu\/cpu\//);
    expect(r.gpu![0]).toMatch(/^glm-webgpu\/gpu\//);
    const text = (s: string) => s.slice(s.indexOf(': ') + 2);
    expect(text(r.gpu![0]!)).toBe(text(r.cpu![0]!));
    expect(text(r.cpu![0]!)).not.toBe(text(r.cpu![1]!));
  });

  it('what an OpenAI app sends: developer messages work; fields GLM has no slot for are named errors across the worker', async () => {
    const r = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('test-models/api-user-random/', { backend: 'cpu' });
      const asSystem = await engine.chat.completions.create({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 5, temperature: 0 });
      await engine.resetChat();
      const asDeveloper = await engine.chat.completions.create({ messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 5, temperature: 0 });
      const nameOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
      const user = { role: 'user' as const, content: 'x' };
      const errors = [
        await nameOf(engine.chat.completions.create({ messages: [{ ...user, name: 'bob' }] })),
        await nameOf(engine.chat.completions.create({ messages: [user, { role: 'tool', tool_call_id: 'call_x', content: '1' }] })),
        await nameOf(engine.chat.completions.create({ messages: [user], store: true } as never)),
        await nameOf(engine.chat.completions.create({ messages: [user], tool_choice: 'required' })),
        await nameOf(engine.chat.completions.create({ messages: [user], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', minProperties: 1 } } } })),
      ];
      const chunks = [];
      for await (const c of await engine.chat.completions.create({ messages: [user], max_tokens: 2, stream: true })) chunks.push(c);
      const tools = ['get_forecast', 'search'].map((name) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: { q: { type: 'string' } } } } }));
      const required = await engine.chat.completions.create({ messages: [user], tools, tool_choice: 'required', temperature: 1, seed: 3, max_tokens: 30 });
      await engine.terminate();
      return { asSystem, asDeveloper, errors, chunks, required: required.choices[0]! };
    });
    expect(r.asDeveloper.choices[0]!.message.content, logs.join('\n')).toBe(r.asSystem.choices[0]!.message.content);
    expect(r.asDeveloper.usage.prompt_tokens).toBe(r.asSystem.usage.prompt_tokens);
    expect(r.asDeveloper.choices[0]!.message.refusal).toBeNull();
    expect(r.errors[0]).toMatch(/^UnsupportedFieldError: .*"name"/);
    expect(r.errors[1]).toMatch(/^InvalidArgumentError: .*tool_call_id/);
    expect(r.errors[2]).toMatch(/^UnsupportedFieldError: .*"store"/);
    expect(r.errors[3]).toMatch(/^InvalidArgumentError: tool_choice "required" needs tools/);
    expect(r.required.finish_reason).toBe('tool_calls');
    expect(['get_forecast', 'search']).toContain(r.required.message.tool_calls![0]!.function.name);
    expect(JSON.parse(r.required.message.tool_calls![0]!.function.arguments)).toEqual(expect.any(Object));
    expect(r.errors[4]).toMatch(/^UnsupportedSchemaError: .*minProperties/);
    expect(r.chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(r.chunks.slice(1).every((c) => c.choices[0]?.delta.role === undefined)).toBe(true);
    expect(r.chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    expect(r.chunks.every((c) => c.system_fingerprint === r.asSystem.system_fingerprint && c.id === r.chunks[0]!.id)).toBe(true);
    await screenshot(page, 'chat-api-user');
  });
});
