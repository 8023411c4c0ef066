// The engine in its Web Worker, driven from a real page in headless Chromium: streaming, abort,
// KV reuse, and typed errors crossing the worker boundary with their names.
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DIST_WEB, openEngineTestPage, screenshot, type EngineTestPage } from './harness';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';

const SCRIPT = '中文 emoji 👋 ok';

describe('e2e: engine in a Web Worker (comlink)', () => {
  let opened: EngineTestPage;
  let page: Page;
  let logs: string[];

  beforeAll(async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const tmp = mkdtempSync(resolve(tmpdir(), 'glm-e2e-'));
    const models = resolve(DIST_WEB, 'test-models');
    mkdirSync(models, { recursive: true });
    cpSync(writeTinyChatModel(resolve(tmp, 'scripted'), { scriptIds: tok.encode(SCRIPT, { addSpecialTokens: false }) }), resolve(models, 'scripted'), { recursive: true });
    cpSync(writeTinyChatModel(resolve(tmp, 'random')), resolve(models, 'random'), { recursive: true });
    opened = await openEngineTestPage();
    ({ page, logs } = opened);
  });
  afterAll(async () => {
    await opened?.close();
  });

  it('streams a reply from the worker; chunks concatenate to the whole text', async () => {
    const result = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      const progress: string[] = [];
      await engine.load('test-models/scripted/', { backend: 'cpu', onProgress: (p) => progress.push(p.phase) });
      const chunks: string[] = [];
      let finish: string | null = null;
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], stream: true })) {
        if (c.choices[0].delta.content) chunks.push(c.choices[0].delta.content);
        finish = c.choices[0].finish_reason ?? finish;
      }
      const stats = await engine.stats();
      await engine.terminate();
      return { chunks, finish, progress, stats };
    });
    expect(result.chunks.join(''), logs.join('\n')).toBe(SCRIPT);
    expect(result.chunks.length).toBeGreaterThan(3);
    expect(result.finish).toBe('stop');
    expect(result.progress).toContain('weights');
    expect(result.progress.at(-1)).toBe('ready');
    expect(result.stats.backend).toBe('cpu');
    await screenshot(page, 'engine-worker');
  });

  it('abort mid-generation gives finish_reason "abort"; the next request and KV reuse work', async () => {
    const r = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('test-models/random/', { backend: 'cpu' });
      let n = 0;
      let finish: string | null = null;
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'story' }], stream: true, max_tokens: 300, temperature: 0.9, seed: 3 })) {
        n++;
        if (n === 3) void engine.abort();
        finish = c.choices[0].finish_reason ?? finish;
      }
      const turn1 = [{ role: 'user' as const, content: 'Hello world' }];
      await engine.resetChat();
      const a = await engine.chat.completions.create({ messages: turn1, max_tokens: 4 });
      const before = await engine.counters();
      const b = await engine.chat.completions.create({ messages: [...turn1, { role: 'assistant' as const, content: a.choices[0].message.content }, { role: 'user' as const, content: 'more' }], max_tokens: 4 });
      const after = await engine.counters();
      await engine.terminate();
      return { finish, n, usage: b.usage, evaluated: after.tokensEvaluated - before.tokensEvaluated };
    });
    expect(r.finish).toBe('abort');
    expect(r.n).toBeLessThan(300);
    expect(r.usage.prefilled_tokens).toBeLessThan(r.usage.prompt_tokens);
    expect(r.evaluated).toBeLessThan(r.usage.prompt_tokens);
  });

  it('errors cross the worker boundary with their names, and the page can branch on them', async () => {
    const names = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      const out: string[] = [];
      const nameOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => e.name);
      out.push(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] })));
      out.push(await nameOf(engine.load('test-models/no-such-model/', { backend: 'cpu' })));
      await engine.load('test-models/random/', { backend: 'cpu', contextLength: 16 });
      out.push(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'far too long a prompt for sixteen tokens of context' }] })));
      out.push(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], temperature: -1 })));
      await engine.terminate();
      return out;
    });
    expect(names).toEqual(['ModelNotLoadedError', 'MissingFileError', 'ContextOverflowError', 'InvalidArgumentError']);
  });

  it('loads the embedded demo model by its registry id, relative to the page', async () => {
    const answer = await page.evaluate(async () => {
      const engine = await window.glm.createEngine();
      await engine.load('glm-demo', { backend: 'cpu' });
      const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: "What does 'bicycle' mean?" }], max_tokens: 40 });
      await engine.terminate();
      return r.choices[0].message.content;
    });
    expect(answer.toLowerCase()).toContain('wheeled vehicle');
  });
});
