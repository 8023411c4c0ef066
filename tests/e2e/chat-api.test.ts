// The complete chat API through the engine's Web Worker in headless Chromium (#19): a tool-call round
// trip, JSON mode, break and AbortSignal, completions.create, n, logprobs, include_usage, and named
// errors crossing the worker boundary.
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DIST_WEB, openEngineTestPage, screenshot, type EngineTestPage } from './harness';
import { distinctScript, TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { chatTemplateFixture } from '../helpers/fixtures';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';

const CALL_REPLY = 'get_forecast\n{ "days": 3}';

describe('e2e: the chat API through the worker', () => {
  let opened: EngineTestPage;
  let page: Page;
  let logs: string[];

  beforeAll(async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const tmp = mkdtempSync(resolve(tmpdir(), 'glm-e2e-api-'));
    const models = resolve(DIST_WEB, 'test-models');
    mkdirSync(models, { recursive: true });
    const template = chatTemplateFixture('glm-4-9b-chat');
    cpSync(writeTinyChatModel(resolve(tmp, 'tools'), { scriptIds: distinctScript(tok, CALL_REPLY), chatTemplate: template, maxPositions: 2048 }), resolve(models, 'api-tools'), { recursive: true });
    cpSync(writeTinyChatModel(resolve(tmp, 'random'), { seed: 11 }), resolve(models, 'api-random'), { recursive: true });
    opened = await openEngineTestPage();
    ({ page, logs } = opened);
  });
  afterAll(async () => {
    await opened?.close();
  });

  it('a tool call round trip: tool_calls (whole and streamed), then the result fed back as a tool message', async () => {
    const r = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('test-models/api-tools/', { backend: 'cpu' });
      const tools = [{ type: 'function' as const, function: { name: 'get_forecast', parameters: { type: 'object', properties: { days: { type: 'integer' } }, required: ['days'] } } }];
      const messages = [{ role: 'user' as const, content: 'Forecast?' }];
      const whole = await engine.chat.completions.create({ messages, tools, max_tokens: 40 });
      await engine.resetChat();
      const streamed: unknown[] = [];
      let finish: string | null = null;
      for await (const c of await engine.chat.completions.create({ messages, tools, max_tokens: 40, stream: true })) {
        streamed.push(...(c.choices[0]?.delta.tool_calls ?? []));
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      const call = whole.choices[0]!.message.tool_calls![0]!;
      const back = await engine.chat.completions.create({
        messages: [...messages, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"temp": 21}' }],
        tools,
        max_tokens: 40,
      });
      await engine.terminate();
      return { whole, streamed, finish, back };
    });
    expect(r.whole.choices[0]!.finish_reason, logs.join('\n')).toBe('tool_calls');
    const call = r.whole.choices[0]!.message.tool_calls![0]!;
    expect(call.function.name).toBe('get_forecast');
    expect(JSON.parse(call.function.arguments)).toEqual({ days: 3 });
    expect(r.finish).toBe('tool_calls');
    const deltas = r.streamed as Array<{ function: { name?: string; arguments?: string } }>;
    expect(deltas[0]!.function.name).toBe('get_forecast');
    expect(JSON.parse(deltas.map((d) => d.function.arguments ?? '').join(''))).toEqual({ days: 3 });
    expect(r.back.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
  });

  it('JSON mode: seeded json_schema replies of a random model all parse and validate', async () => {
    const replies = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('test-models/api-random/', { backend: 'cpu' });
      const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 8 }, n: { type: 'integer' }, ok: { type: 'boolean' }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 3 } }, required: ['name', 'n', 'ok'] };
      const out: string[] = [];
      for (let seed = 0; seed < 12; seed++) {
        const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: `item ${seed}` }], response_format: { type: 'json_schema', json_schema: { name: 'item', schema } }, temperature: 1, seed, max_tokens: 60 });
        out.push(r.choices[0]!.message.content);
      }
      await engine.terminate();
      return out;
    });
    for (const text of replies) {
      const v = JSON.parse(text) as { name: string; n: number; ok: boolean; tags?: string[] };
      expect(typeof v.name).toBe('string');
      expect(v.name.length).toBeLessThanOrEqual(8);
      expect(Number.isInteger(v.n)).toBe(true);
      expect(typeof v.ok).toBe('boolean');
      for (const t of v.tags ?? []) expect(['a', 'b']).toContain(t);
    }
  });

  it('break in for-await frees the engine at once; an AbortSignal stops a stream; completions, n, logprobs and include_usage work', async () => {
    const r = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('test-models/api-random/', { backend: 'cpu' });
      let seen = 0;
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'story' }], stream: true, max_tokens: 300, temperature: 1, seed: 4 })) {
        if (c.choices[0]?.delta.content && ++seen === 2) break;
      }
      const afterBreak = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'next' }], max_tokens: 3 });
      const ctl = new AbortController();
      let n = 0;
      let finish: string | null = null;
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'more' }], stream: true, max_tokens: 300, temperature: 1, seed: 5 }, { signal: ctl.signal })) {
        if (++n === 3) ctl.abort();
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      const completion = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 4, temperature: 0, logprobs: 2 });
      const chunks: Array<{ choices: unknown[]; usage?: unknown }> = [];
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'two' }], n: 2, max_tokens: 4, temperature: 1, seed: 3, stream: true, stream_options: { include_usage: true }, logprobs: true, top_logprobs: 2 })) chunks.push(c);
      const names: string[] = [];
      const nameOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => e.name);
      names.push(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], audio: {} } as never)));
      names.push(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } } })));
      await engine.terminate();
      return { afterBreak, n, finish, completion, chunks, names };
    });
    expect(r.afterBreak.choices[0]!.finish_reason).toBe('length');
    expect(r.finish).toBe('abort');
    expect(r.n).toBeLessThan(20);
    expect(r.completion.object).toBe('text_completion');
    expect(r.completion.choices[0]!.logprobs!.tokens.join('')).toBe(r.completion.choices[0]!.text);
    const last = r.chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toBeTruthy();
    const indices = new Set(r.chunks.flatMap((c) => (c.choices as Array<{ index: number }>).map((x) => x.index)));
    expect([...indices].sort()).toEqual([0, 1]);
    expect(r.names).toEqual(['UnsupportedFieldError', 'UnsupportedSchemaError']);
    await screenshot(page, 'chat-api');
  });
});
