import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

describe('e2e smoke: worker + comlink + WebGPU in the worker + IndexedDB', () => {
  let server: StaticServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startStaticServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs the smoke kernel in a worker and matches the CPU', async () => {
    const page = await browser.newPage();
    const logs = watchConsole(page);
    await page.goto(`${server.url}/smoke.html`);
    await page.waitForFunction(() => document.getElementById('result')?.dataset.state !== 'running', null, { timeout: 120_000 });
    const shot = await screenshot(page, 'smoke');
    const result = JSON.parse((await page.textContent('#result')) ?? '{}');
    console.log(`[e2e] adapter in worker: ${JSON.stringify(result.adapter)}; screenshot: ${shot}`);
    expect(result.error, `page error; console:\n${logs.join('\n')}`).toBeUndefined();
    expect(result.firstMismatch).toBeNull();
    expect(result.mismatches).toBe(0);
    expect(result.n).toBe(1000);
    expect(result.idbRoundTrip).toBe(true);
    expect(result.ok).toBe(true);
  });
});
