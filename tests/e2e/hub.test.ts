// Hugging Face Hub repos straight into the browser cache (issue #14), end to end in headless Chromium:
// a local Hub stand-in (tests/helpers/hub-server.ts: /<org>/<repo>/resolve/main/..., weight files
// redirected to a second origin acting as the CDN, CORS and Range on both) serves a tiny GLM chat
// model as two BF16 safetensors shards with an index, and as a Q8_0 GGUF file. The page (a third
// origin) loads them through the engine in its Web Worker by repo id / URL with `hfEndpoint`, and
// the server counts every request.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { runCli } from '../helpers/cli';
import { buildTinyHubModel, HUB_GGUF_FILE, HUB_GGUF_REPO, HUB_REPO, type TinyHubModel } from '../helpers/hub-fixture';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

const PROMPT = 'Hello, who are you?';
const MAX_TOKENS = 10;
/** Small package shards, so the tiny model spans many and an interruption leaves finished ones. */
const SHARD_SIZE = 16 * 1024;

interface PageResult {
  ok: boolean;
  text?: string;
  completionTokens?: number;
  progress?: {
    phase: string; done: number; total: number; rate?: number; etaSeconds?: number | null; text: string;
    conversion?: { tensorsDone: number; tensorsTotal: number; resumed: boolean };
  }[];
  error?: { name: string; message: string };
}

describe('e2e: Hub repos and GGUF URLs converted into the browser cache', () => {
  let model: TinyHubModel;
  let hub: HubServer;
  let server: StaticServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let logs: string[];
  let tmp: string;
  let expected: { ids: number[]; text: string };
  let expectedGguf: { ids: number[]; text: string };

  const openPage = async () => {
    page = await context.newPage();
    logs = watchConsole(page);
    await page.goto(`${server.url}/engine-test.html`);
    await page.waitForFunction(() => window.glm?.ready === true);
  };
  /** engine.load(source) in the worker, then one greedy chat reply; progress is shown on the page. */
  const loadAndChat = (source: string, opts: Record<string, unknown> = {}) =>
    page.evaluate(
      async ([src, o, prompt, maxTokens]) => {
        const log = document.getElementById('log')!;
        const progress: PageResult['progress'] = [];
        const lines: Record<string, string> = {};
        const engine = await window.glm.createEngine();
        try {
          await engine.load(src, {
            ...o,
            onProgress: (p) => {
              progress.push(p);
              // The last line of each phase stays visible in the screenshots.
              lines[p.phase] = `${p.phase}: ${p.text}`;
              log.textContent = Object.values(lines).join('\n');
            },
          });
          const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0 });
          log.textContent += `\nreply: ${JSON.stringify(r.choices[0].message.content)}`;
          return { ok: true, text: r.choices[0].message.content, completionTokens: r.usage.completion_tokens, progress };
        } catch (err) {
          const e = err as Error;
          log.textContent += `\n${e.name}: ${e.message}`;
          return { ok: false, error: { name: e.name, message: e.message }, progress };
        } finally {
          await engine.terminate();
        }
      },
      [source, { backend: 'cpu', hfEndpoint: hub.url, convertShardSize: SHARD_SIZE, ...opts }, PROMPT, MAX_TOKENS] as const,
    ) as Promise<PageResult>;

  beforeAll(async () => {
    model = await buildTinyHubModel();
    tmp = mkdtempSync(join(tmpdir(), 'glm-e2e-hub-'));
    // The reference: the same files converted by the CLI into a q4 package, answering the same prompt.
    const pkg = join(tmp, 'pkg');
    const conv = await runCli(['convert', '--model', model.dir, '--out', pkg, '--quant', 'q4']);
    expect(conv.code, conv.stderr).toBe(0);
    const cliArgs = ['--chat', '--prompt', PROMPT, '--temperature', '0', '--max-new-tokens', String(MAX_TOKENS), '--json'];
    const gen = await runCli(['generate', '--model', pkg, ...cliArgs]);
    expect(gen.code, gen.stderr).toBe(0);
    expected = JSON.parse(gen.stdout);
    const genGguf = await runCli(['generate', '--model', model.ggufPath, ...cliArgs]);
    expect(genGguf.code, genGguf.stderr).toBe(0);
    expectedGguf = JSON.parse(genGguf.stdout);

    hub = await startHubServer({ [HUB_REPO]: model.files, [HUB_GGUF_REPO]: model.ggufFiles });
    server = await startStaticServer();
    browser = await launchChromium({ webgpu: false });
    context = await browser.newContext();
    await openPage();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the first load converts the sharded repo into IndexedDB and answers as the CLI-converted model', async () => {
    const r = await loadAndChat(HUB_REPO);
    expect(r.error, `console:\n${logs.join('\n')}`).toBeUndefined();
    expect(r.text).toBe(expected.text);
    expect(r.completionTokens).toBe(expected.ids.length);
    // Both shards came from the CDN origin through the Hub's redirect, in range requests.
    const reads = hub.weightRequests();
    expect(new Set(reads.map((q) => q.file))).toEqual(new Set(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']));
    expect(reads.every((q) => q.status === 206)).toBe(true);
    expect(hub.requests.some((q) => q.server === 'hub' && q.status === 302)).toBe(true);
    // Progress: bytes downloaded, rate, ETA and the conversion.
    const converting = r.progress!.filter((p) => p.conversion);
    expect(converting.length).toBeGreaterThan(3);
    const last = converting.at(-1)!;
    expect(last.done).toBeGreaterThan(0);
    expect(last.total).toBeGreaterThanOrEqual(last.done - 4096);
    expect(typeof last.rate).toBe('number');
    expect(last).toHaveProperty('etaSeconds');
    expect(last.conversion!.tensorsDone).toBe(last.conversion!.tensorsTotal);
    expect(last.text).toMatch(/downloaded at .*\/s, converted \d+\/\d+ tensors to q4/);
    await screenshot(page, 'hub-1-first-load');
  });

  it('a reload loads from IndexedDB with zero requests to the Hub or the CDN', async () => {
    await page.reload();
    await page.waitForFunction(() => window.glm?.ready === true);
    const before = hub.requests.length;
    const r = await loadAndChat(HUB_REPO);
    expect(r.error, `console:\n${logs.join('\n')}`).toBeUndefined();
    expect(r.text).toBe(expected.text);
    expect(hub.requests.slice(before)).toEqual([]);
    expect(r.progress!.some((p) => p.text.includes('from the cache'))).toBe(true);
    await screenshot(page, 'hub-2-reload-from-cache');
  });

  it('a conversion interrupted halfway resumes without fetching the finished tensors again', async () => {
    // A fresh profile (empty IndexedDB); the lm_head, the last tensor, fails to download.
    await context.close();
    context = await browser.newContext();
    await openPage();
    // Every attempt fails (the engine retries a range read 4 times with backoff before giving up).
    hub.fail((q) => q.file === 'model-00002-of-00002.safetensors' && q.range !== null && q.range[1] - q.range[0] > 300_000);
    const start = hub.requests.length;
    const cut = await loadAndChat(HUB_REPO);
    expect(cut.ok).toBe(false);
    expect(cut.error!.name).toBe('NetworkError');
    const embeddingReads = (from: number) => hub.weightRequests(from).filter((q) => q.file === 'model-00001-of-00002.safetensors' && q.range![0] >= model.firstShardDataStart);
    expect(embeddingReads(start).length).toBe(1);
    await screenshot(page, 'hub-3-interrupted');

    hub.clearFailures();
    await page.reload();
    await page.waitForFunction(() => window.glm?.ready === true);
    const mid = hub.requests.length;
    const r = await loadAndChat(HUB_REPO);
    expect(r.error, `console:\n${logs.join('\n')}`).toBeUndefined();
    expect(r.text).toBe(expected.text);
    expect(r.progress!.some((p) => p.conversion?.resumed)).toBe(true);
    // Shard 1 holds only the embedding, converted before the cut: its data is not fetched again.
    expect(embeddingReads(mid)).toEqual([]);
    const total = Object.entries(model.files).filter(([f]) => f.endsWith('.safetensors')).reduce((s, [, b]) => s + (b as Uint8Array).byteLength, 0);
    expect(hub.weightRequests(mid).reduce((s, q) => s + q.bytes, 0)).toBeLessThan(total / 2);
    await screenshot(page, 'hub-4-resumed');
  });

  it('a GGUF file URL is converted and cached the same way', async () => {
    const url = `${hub.url}/${HUB_GGUF_REPO}/resolve/main/${HUB_GGUF_FILE}`;
    const start = hub.requests.length;
    const r = await loadAndChat(url);
    expect(r.error, `console:\n${logs.join('\n')}`).toBeUndefined();
    expect(r.text).toBe(expectedGguf.text);
    expect(r.completionTokens).toBe(expectedGguf.ids.length);
    expect(hub.weightRequests(start).some((q) => q.file === HUB_GGUF_FILE)).toBe(true);

    await page.reload();
    await page.waitForFunction(() => window.glm?.ready === true);
    const before = hub.requests.length;
    const again = await loadAndChat(url);
    expect(again.error).toBeUndefined();
    expect(again.text).toBe(expectedGguf.text);
    expect(hub.requests.slice(before)).toEqual([]);
    await screenshot(page, 'hub-5-gguf');
  });

  it('the chat page lists the catalogue with sizes and a verdict before any download, and chats with a Hub-layout URL', async () => {
    const chat = await context.newPage();
    const chatLogs = watchConsole(chat);
    await chat.goto(`${server.url}/index.html`);
    await chat.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    const options = await chat.locator('#model-select optgroup[label^="GLM models from the Hugging Face Hub"] option').allTextContents();
    expect(options).toHaveLength(7);
    expect(options.join('\n')).toMatch(/GLM-Edge-1\.5B-Chat · 2\.98 GiB/);
    expect(options.join('\n')).toMatch(/ChatGLM-6B-INT4 · .*\(convert first\)/);
    const before = hub.requests.length;
    await chat.locator('#model-select').selectOption('hub:glm-edge-1.5b-chat');
    await expect.poll(() => chat.locator('#verdict-headline').textContent()).toMatch(/^(Fits on the GPU|Fits with \d+ of 28 layers( and lm_head)? on the CPU|Runs on the CPU only)/);
    expect(await chat.locator('#verdict-details').textContent()).toMatch(/download 2\.98 GiB once, converted to INT4 in this browser.*THUDM\/glm-edge-1\.5b-chat · license: glm-4/);
    await screenshot(chat, 'hub-6-chat-catalogue');

    // Any Hub-layout URL typed by the user: sized from its config.json, then converted and chatted with.
    await chat.locator('#model-select').selectOption('custom');
    await chat.locator('#model-url').fill(`${hub.url}/${HUB_REPO}/resolve/main/`);
    await chat.locator('#model-url').dispatchEvent('change');
    await expect.poll(() => chat.locator('#verdict-details').textContent()).toMatch(/converted already: loads from this browser’s cache|Hugging Face Hub: download once/);
    expect(hub.weightRequests(before)).toEqual([]);
    await chat.locator('#backend').selectOption('cpu');
    await chat.locator('#load').click();
    await chat.waitForSelector('body[data-model-state="ready"], #error:not([hidden])', { timeout: 120_000 });
    expect(await chat.locator('#error:not([hidden])').count(), `${await chat.locator('#error-text').textContent()}\n${chatLogs.join('\n')}`).toBe(0);
    await chat.locator('#prompt').fill('Hello');
    await chat.locator('#prompt').press('Enter');
    const reply = chat.locator('.message.assistant').first();
    await expect.poll(() => reply.getAttribute('data-done'), { timeout: 120_000 }).toBe('true');
    await screenshot(chat, 'hub-7-chat-loaded');
    await chat.close();
  });
});
