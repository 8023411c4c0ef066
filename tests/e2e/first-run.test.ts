// Issue #16, a new user's first ten minutes, timed in the CI browser (headless Chromium on SwiftShader):
// with no query parameters the chat page must pick the CPU for the embedded demo model (the software
// adapter is far slower than the CPU) and answer within 10 s of clicking Load; the same without WebGPU.
// The decode speed the page predicts before loading (from the calibration it measured) must be within a
// factor of 2 of the speed then measured, on the CPU path and on a forced software-GPU path.
// Timings go to test-artifacts/first-run.json for the README.
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

/** The bar: first reply within 10 s of clicking Load. */
const FIRST_REPLY_LIMIT_MS = 10_000;
/**
 * The bar: the predicted decode speed within a factor of 2 of the measured one. The prediction is
 * at START_CONTEXT_TOKENS (128) of context, with the attention's cost per context token measured by the
 * calibration; the first reply decodes at 70-100 tokens of context.
 */
const PREDICTION_FACTOR = 2;
/** Replies timed on the CPU paths (the first reply, then the same question in new chats). */
const CPU_REPLIES = 3;
/** Enough reply tokens for a stable decode rate. */
const REPLY_TOKENS = 32;
/** The software adapter decodes a few tokens per second: a few tokens (the load's warm-up compiled the pipelines). */
const GPU_REPLY_TOKENS = 6;

interface Timing {
  label: string;
  /** Decode tok/s of the first reply and of each later one in a new chat (CPU paths). */
  decodeRuns: number[];
  predictedDecode: number | null;
  predictedPrefill: number | null;
  measuredDecode: number | null;
  measuredPrefill: number | null;
  loadMs: number;
  firstReplyMs: number;
  backend: string;
  verdict: string;
  /** The verdict's details: the calibration's figures the prediction rests on. */
  basis: string;
}
const timings: Timing[] = [];

function tokPerSec(text: string | null): number | null {
  const m = /([\d.,]+) tok\/s/.exec(text ?? '');
  return m ? Number(m[1]!.replace(/,/g, '')) : null;
}

/**
 * Opens the page, reads the prediction, clicks Load, asks one question; times it all from the click. Then
 * `repeats - 1` more replies in new chats for the decode speed (see below).
 */
async function firstReply(
  page: Page, server: StaticServer, query: string, label: string, logs: string[], replyTokens = REPLY_TOKENS, repeats = CPU_REPLIES,
): Promise<Timing> {
  await page.goto(`${server.url}/index.html${query}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  // The verdict once it rests on this machine's calibration (measured at the first visit, then cached).
  await expect.poll(() => page.locator('#verdict').getAttribute('data-measured'), { timeout: 120_000 }).toBe('true');
  await expect.poll(() => page.locator('#verdict').getAttribute('data-kind'), { timeout: 60_000 }).toMatch(/^(gpu|split|cpu)$/);
  const verdict = (await page.locator('#verdict-headline').textContent()) ?? '';
  const predictedDecode = Number((await page.locator('#verdict').getAttribute('data-decode-tps')) ?? NaN);
  const predictedPrefill = Number((await page.locator('#verdict').getAttribute('data-prefill-tps')) ?? NaN);
  await page.locator('#max-tokens').fill(String(replyTokens));
  await page.locator('#temperature').fill('0');
  const t0 = Date.now();
  await page.locator('#load').click();
  await page.waitForSelector('body[data-model-state="ready"], #error:not([hidden])', { timeout: 300_000 });
  if (await page.locator('#error:not([hidden])').count()) throw new Error(`load failed: ${await page.locator('#error-text').textContent()}\n${logs.join('\n')}`);
  const loadMs = Date.now() - t0;
  await page.locator('#prompt').fill("What does 'bicycle' mean?");
  await page.locator('#prompt').press('Enter');
  const reply = page.locator('.message.assistant').last();
  await expect.poll(() => reply.getAttribute('data-done'), { timeout: 300_000, interval: 50 }).toBe('true');
  const firstReplyMs = Date.now() - t0;
  const t: Timing = {
    label,
    decodeRuns: [],
    predictedDecode: Number.isFinite(predictedDecode) ? predictedDecode : tokPerSec(verdict),
    predictedPrefill: Number.isFinite(predictedPrefill) ? predictedPrefill : null,
    measuredDecode: tokPerSec(await page.locator('#stat-decode').textContent()),
    measuredPrefill: tokPerSec(await page.locator('#stat-prefill').textContent()),
    loadMs,
    firstReplyMs,
    backend: (await page.locator('#stat-model').textContent()) ?? '',
    verdict,
    basis: (await page.locator('#verdict-details').textContent()) ?? '',
  };
  expect(await reply.getAttribute('data-finish'), logs.join('\n')).toMatch(/stop|length/);
  if (t.measuredDecode !== null) t.decodeRuns.push(t.measuredDecode);
  // The CPU path decodes a reply in a fraction of a second, where another program's burst on a shared
  // 2-core machine (CI, or the other engineers' tests) can halve the rate: the same question in new chats,
  // and the fastest reply is the measured speed (other work only ever slows a run down).
  for (let i = 1; i < repeats; i++) {
    await page.locator('#new-chat').click();
    const before = await page.locator('.message.assistant').count();
    await page.locator('#prompt').fill("What does 'bicycle' mean?");
    await page.locator('#prompt').press('Enter');
    await expect.poll(() => page.locator('.message.assistant').count(), { timeout: 60_000 }).toBeGreaterThan(before);
    const again = page.locator('.message.assistant').last();
    await expect.poll(() => again.getAttribute('data-done'), { timeout: 300_000, interval: 50 }).toBe('true');
    const decode = tokPerSec(await page.locator('#stat-decode').textContent());
    if (decode !== null) t.decodeRuns.push(decode);
  }
  if (t.decodeRuns.length > 0) t.measuredDecode = Math.max(...t.decodeRuns);
  timings.push(t);
  console.log(`[first-run] ${JSON.stringify(t)}`);
  return t;
}

function expectWithinFactor(predicted: number | null, measured: number | null, what: string, factor = PREDICTION_FACTOR): void {
  expect(predicted, `${what}: no prediction`).not.toBeNull();
  expect(measured, `${what}: nothing measured`).not.toBeNull();
  const ratio = predicted! / measured!;
  expect(ratio, `${what}: predicted ${predicted} tok/s, measured ${measured} tok/s`).toBeGreaterThanOrEqual(1 / factor);
  expect(ratio, `${what}: predicted ${predicted} tok/s, measured ${measured} tok/s`).toBeLessThanOrEqual(factor);
}

afterAll(() => {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(resolve(ARTIFACTS, 'first-run.json'), `${JSON.stringify(timings, null, 2)}\n`);
});

describe('e2e: first run on SwiftShader (WebGPU present, software adapter)', () => {
  let server: StaticServer;
  let browser: Browser;
  let logs: string[];

  beforeAll(async () => {
    server = await startStaticServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('with no query parameters, Auto picks the CPU for the demo model and the first reply arrives within 10 s of Load (predicted decode tok/s within 2x of the measured)', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    logs = watchConsole(page);
    const t = await firstReply(page, server, '', 'auto, WebGPU on SwiftShader', logs);
    await screenshot(page, 'first-run-auto');
    expect(t.backend).toMatch(/\(CPU\)/);
    expect(t.verdict).toMatch(/CPU/);
    expect(t.firstReplyMs, JSON.stringify(t)).toBeLessThan(FIRST_REPLY_LIMIT_MS);
    expectWithinFactor(t.predictedDecode, t.measuredDecode, 'CPU decode');
    await context.close();
  });

  it('forced onto the software GPU, the predicted decode speed is within a factor of 2 of the measured one', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    logs = watchConsole(page);
    const t = await firstReply(page, server, '?backend=gpu', 'forced GPU (SwiftShader)', logs, GPU_REPLY_TOKENS, 1);
    expect(t.backend).toMatch(/\(GPU\)/);
    expectWithinFactor(t.predictedDecode, t.measuredDecode, 'software-GPU decode');
    await context.close();
  });
});

describe('e2e: first run without WebGPU', () => {
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startStaticServer();
    browser = await launchChromium({ webgpu: false });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('with no query parameters the demo model answers on the CPU within 10 s of Load (predicted decode tok/s within 2x of the measured)', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const logs = watchConsole(page);
    const t = await firstReply(page, server, '', 'auto, no WebGPU', logs);
    expect(t.backend).toMatch(/\(CPU\)/);
    expect(t.firstReplyMs, JSON.stringify(t)).toBeLessThan(FIRST_REPLY_LIMIT_MS);
    expectWithinFactor(t.predictedDecode, t.measuredDecode, 'CPU decode without WebGPU');
  });
});
