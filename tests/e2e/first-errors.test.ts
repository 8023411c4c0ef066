// Issue #16, the rough edges of a new user's first minutes, in headless Chromium:
// - Stop pressed during a long prefill ends the generation within 1 s and re-enables Send, and the reply
//   bubble shows the prefill's progress before that;
// - `npm start`'s server (vite preview) answers a missing file with a real 404, and the chat page names a
//   mistyped model URL "not found" (not a malformed package);
// - a model on a host without CORS headers gets the CORS message.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

const ROOT = resolve(import.meta.dirname, '../..');
/** The issue's bar for Stop during a prefill. */
const STOP_LIMIT_MS = 1000;

/** `vite preview` (what `npm start` runs after the build) on a random free port; resolves with its URL. */
async function startPreview(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [resolve(ROOT, 'node_modules/vite/bin/vite.js'), 'preview', '--port', '0', '--host', '127.0.0.1', '--strictPort'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`vite preview did not start: ${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      // eslint-disable-next-line no-control-regex
      const m = /Local:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out.replace(/\u001b\[[0-9;]*m/g, ''));
      if (m) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => fail(new Error(`vite preview exited with ${code}: ${out}`)));
  });
  return { url, proc };
}

async function openChat(page: Page, base: string, query: string): Promise<void> {
  await page.goto(`${base}/index.html${query}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
}

describe('e2e: npm start serves real 404s; not-found and CORS messages', () => {
  let preview: { url: string; proc: ChildProcess };
  let other: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    preview = await startPreview();
    // Another origin that serves the demo model without any CORS header (and without isolation headers).
    other = await startStaticServer(undefined, false);
    browser = await launchChromium({ webgpu: false });
  });
  afterAll(async () => {
    await browser?.close();
    await other?.close();
    preview?.proc.kill('SIGTERM');
  });

  it('a missing file is a 404 on the npm start server, and a mistyped model URL says "not found"', async () => {
    const res = await fetch(`${preview.url}/models/no-such-model/manifest.json`);
    expect(res.status).toBe(404);
    expect((await fetch(`${preview.url}/models/glm-demo/manifest.json`)).status).toBe(200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await openChat(page, preview.url, '?model=models/no-such-model/');
    await expect.poll(() => page.locator('#verdict').getAttribute('data-kind'), { timeout: 30_000 }).toBe('error');
    const text = (await page.locator('#verdict-headline').textContent()) ?? '';
    expect(text).toMatch(/^MissingFileError: no model at .*no-such-model.*HTTP 404/);
    expect(text).not.toMatch(/Unexpected token/);
    await page.close();
  });

  it('a model on a host without CORS headers gets the CORS message', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const staticPage = await startStaticServer(undefined, false);
    try {
      await openChat(page, staticPage.url, `?model=${encodeURIComponent(`${other.url}/models/glm-demo/`)}`);
      await expect.poll(() => page.locator('#verdict').getAttribute('data-kind'), { timeout: 30_000 }).toBe('error');
      expect(await page.locator('#verdict-headline').textContent()).toMatch(/^CorsBlockedError: .* blocked by CORS: the host answered but does not send Access-Control-Allow-Origin/);
      await page.locator('#load').click();
      await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
      expect(await page.locator('#error').getAttribute('data-name')).toBe('CorsBlockedError');
      await screenshot(page, 'chat-cors');
    } finally {
      await page.close();
      await staticPage.close();
    }
  });
});

describe('e2e: Stop during a long prefill', () => {
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    // No isolation: one CPU thread, so the demo model's prefill of a long prompt takes a few seconds.
    server = await startStaticServer(undefined, false);
    browser = await launchChromium({ webgpu: false });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows the prefill progress in the reply bubble, and Stop ends the generation within 1 s and re-enables Send', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const logs = watchConsole(page);
    await openChat(page, server.url, '?backend=cpu');
    await page.locator('#load').click();
    await page.waitForSelector('body[data-model-state="ready"]', { timeout: 120_000 });
    // A prompt near the demo model's 512-token context: words it knows, one token each or so.
    const words = 'the cat sat on a mat and a dog ran in the park with a red ball while birds sang'.split(' ');
    const prompt = Array.from({ length: 420 }, (_, i) => words[i % words.length]).join(' ');
    await page.locator('#max-tokens').fill('8');
    await page.locator('#prompt').fill(prompt);
    await page.locator('#prompt').press('Enter');
    const reply = page.locator('.message.assistant').last();
    await expect.poll(() => reply.locator('.working').textContent(), { timeout: 60_000, interval: 50 }).toMatch(/Reading the prompt: [1-9]\d* of \d+ tokens/);
    await screenshot(page, 'chat-prefill-progress');
    const t0 = Date.now();
    await page.locator('#stop').click();
    await expect.poll(() => reply.getAttribute('data-done'), { timeout: 30_000, interval: 20 }).toBe('true');
    await expect.poll(() => page.locator('body').getAttribute('data-model-state'), { interval: 20 }).toBe('ready');
    const stopMs = Date.now() - t0;
    console.log(`[first-errors] Stop during prefill took ${stopMs} ms`);
    expect(stopMs, logs.join('\n')).toBeLessThan(STOP_LIMIT_MS);
    expect(await reply.getAttribute('data-finish')).toBe('abort');
    expect(await page.locator('#composer-hint').textContent()).not.toMatch(/Generating/);
    await page.locator('#prompt').fill('What does bicycle mean?');
    expect(await page.locator('#send').isEnabled()).toBe(true);
    // The engine is usable again: the next question gets its answer.
    await page.locator('#prompt').press('Enter');
    await expect.poll(() => page.locator('.message.assistant').last().getAttribute('data-done'), { timeout: 60_000 }).toBe('true');
    expect(await page.locator('.message.assistant').last().getAttribute('data-finish')).toMatch(/stop|length/);
  });
});
