// The chat page (index.html) in headless Chromium: the planner's verdict before any download, a package
// downloaded into IndexedDB with progress, a reply streamed visibly, Stop mid-answer, New chat, a reload
// served from IndexedDB (weight files fetched once), cached-model delete, errors by name, the no-WebGPU
// path with the CPU fallback, and the page working from a static server without cross-origin isolation.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DIST_WEB, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { convertModel } from '../../src/formats/convert';
import { nodeModelFiles } from '../../src/formats/node-files';
import { presetNames } from '../../src/model/presets';
import { nodePackageSink } from '../../src/formats/node-package-sink';
import type { PackageManifest } from '../../src/formats/package';

/** What the scripted model says: distinct tokens (its bigram table needs them), long enough to watch it stream. */
const SCRIPT =
  'The software library will build small flowers using files and you can run this command without any other option which has one default value for each target in the project source tree';

/** Builds the tiny test models into dist/web/test-models/ (the static server serves them like any file). */
async function writeTestModels(): Promise<{ script: string; manifest: PackageManifest }> {
  const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
  const ids = tok.encode(SCRIPT, { addSpecialTokens: false });
  if (new Set(ids).size !== ids.length || ids.length > 63) throw new Error(`SCRIPT must be at most 63 distinct tokens, got ${ids.length} (${ids.join(',')})`);
  const tmp = mkdtempSync(resolve(tmpdir(), 'glm-e2e-pages-'));
  const models = resolve(DIST_WEB, 'test-models');
  mkdirSync(models, { recursive: true });
  const scripted = writeTinyChatModel(resolve(tmp, 'scripted'), { scriptIds: ids });
  cpSync(scripted, resolve(models, 'ui-scripted'), { recursive: true });
  // The script on a loop, with room for 4096 positions: a long reply that never stops by itself, for the Stop test.
  cpSync(writeTinyChatModel(resolve(tmp, 'looping'), { scriptIds: ids, loop: true, maxPositions: 4096 }), resolve(models, 'ui-looping'), { recursive: true });
  // The same scripted model as a glm-webgpu package (manifest + small shards): what the page caches.
  const pkgDir = resolve(models, 'ui-scripted-pkg');
  rmSync(pkgDir, { recursive: true, force: true });
  const manifest = await convertModel(nodeModelFiles(scripted), await nodePackageSink(pkgDir), { quant: 'q4', shardSize: 64 * 1024 });
  rmSync(tmp, { recursive: true, force: true });
  return { script: SCRIPT, manifest };
}

/** Types `text` into the chat page's prompt and presses Enter; resolves when the reply is done. */
async function ask(page: Page, text: string): Promise<{ text: string; finish: string; samples: string[] }> {
  const before = await page.locator('.message.assistant').count();
  await page.locator('#prompt').fill(text);
  // Samples the newest reply on every animation frame: what a person would have seen on screen.
  await page.evaluate((n) => {
    const w = window as unknown as { samples: string[] };
    w.samples = [];
    const tick = () => {
      const items = document.querySelectorAll('.message.assistant');
      const item = items[n] as HTMLElement | undefined;
      if (item) w.samples.push(item.querySelector('.text')!.textContent ?? '');
      if (!item || item.dataset.done !== 'true') requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, before);
  await page.locator('#prompt').press('Enter');
  const reply = page.locator('.message.assistant').nth(before);
  await expect.poll(() => reply.getAttribute('data-done'), { timeout: 120_000 }).toBe('true');
  const finish = (await reply.getAttribute('data-finish')) ?? '';
  if (finish === 'error') throw new Error(`the reply failed: ${await page.locator('#error-text').textContent()} ${await page.locator('#messages').innerHTML()}`);
  return {
    text: (await reply.locator('.text').textContent()) ?? '',
    finish,
    samples: await page.evaluate(() => (window as unknown as { samples: string[] }).samples),
  };
}

async function openChat(page: Page, server: StaticServer, query: string): Promise<void> {
  await page.goto(`${server.url}/index.html?${query}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
}

async function loadModel(page: Page, logs: string[] = []): Promise<void> {
  await page.locator('#load').click();
  await page.waitForSelector('body[data-model-state="ready"], #error:not([hidden])', { timeout: 120_000 });
  const error = await page.locator('#error:not([hidden])').count();
  if (error) throw new Error(`loading failed: ${await page.locator('#error-text').textContent()}\n${logs.join('\n')}`);
}

describe('e2e: chat page', () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let logs: string[];
  let manifest: PackageManifest;
  const shardFetches = () => manifest.shards.reduce((n, s) => n + server.count(`/test-models/ui-scripted-pkg/${s.file}`), 0);

  beforeAll(async () => {
    ({ manifest } = await writeTestModels());
    server = await startStaticServer();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    logs = watchConsole(page);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows the planner verdict before any download, then downloads with progress and streams a reply visibly', async () => {
    // On the GPU (chosen): Auto would pick the CPU on this software adapter (first-run.test.ts), where the
    // tiny model answers too fast to watch it stream.
    await openChat(page, server, 'model=test-models/ui-scripted-pkg/&backend=gpu');
    // Before any download: the verdict, with numbers, and no shard fetched.
    const verdict = page.locator('#verdict');
    await expect.poll(() => verdict.getAttribute('data-kind')).toBe('gpu');
    expect(await page.locator('#verdict-headline').textContent()).toMatch(/^Fits on the GPU, about [\d.,]+ tok\/s at \d+ tokens of context (estimated|predicted)/);
    expect(await page.locator('#verdict-details').textContent()).toMatch(/INT4 \(q4\) weights .*GPU .* of 1 GiB.*download .*not cached yet/);
    expect(shardFetches()).toBe(0);
    // Presets are listed with their q4 download sizes and get a verdict too.
    const presets = await page.locator('#model-select optgroup[label^="GLM presets"] option').allTextContents();
    expect(presets.join('\n')).toMatch(/GLM-4-9B-chat · [\d.]+ GiB/);
    expect(presets).toHaveLength(presetNames.length);
    await screenshot(page, 'chat-verdict');
    // A preset: sized from its published config, a verdict for this browser, and a field for its package URL.
    await page.locator('#model-select').selectOption('preset:glm-4-9b');
    await expect.poll(() => page.locator('#verdict-headline').textContent()).toMatch(/^Does not fit: needs about [\d.]+ GiB, this browser gives [\d.]+ GiB/);
    expect(await page.locator('#verdict').getAttribute('data-kind')).toBe('none');
    expect(await page.locator('#model-url-label').textContent()).toBe('Package URL for GLM-4-9B-chat');
    expect(await page.locator('#load').isDisabled()).toBe(true);
    await page.locator('#model-select').selectOption('preset:glm-edge-1.5b');
    await expect.poll(() => page.locator('#verdict-headline').textContent()).toMatch(/^(Fits on the GPU|Fits with \d+ of 28 layers( and lm_head)? on the CPU|Runs on the CPU only)/);
    await screenshot(page, 'chat-preset');
    expect(shardFetches()).toBe(0);
    await page.locator('#model-select').selectOption('local');
    await expect.poll(() => page.locator('#verdict').getAttribute('data-kind')).toBe('gpu');

    // Download progress: every text the progress line showed.
    await page.evaluate(() => {
      const w = window as unknown as { progressTexts: string[] };
      w.progressTexts = [];
      new MutationObserver(() => w.progressTexts.push(document.getElementById('progress-text')!.textContent ?? '')).observe(document.getElementById('progress-text')!, { childList: true, characterData: true, subtree: true });
    });
    await loadModel(page, logs);
    const progress = await page.evaluate(() => (window as unknown as { progressTexts: string[] }).progressTexts);
    expect(progress.some((t) => /Downloading: .* of .*\(\d+%\), \d+\/\d+ shards, .*\/s|Downloading: .* of .* left/.test(t)), progress.join('\n')).toBe(true);
    expect(progress.some((t) => /Loading weights: \d+ of \d+ tensors/.test(t)), progress.join('\n')).toBe(true);
    expect(shardFetches()).toBe(manifest.shards.length);
    expect(await page.locator('#load-status').textContent()).toMatch(/Loaded .* on the (GPU|CPU) in [\d.]+ s, \d+ files downloaded/);

    const r = await ask(page, 'Tell me about the library.');
    expect(r.text, logs.join('\n')).toBe(SCRIPT);
    expect(r.finish).toBe('stop');
    // Visibly streamed: the reply grew over several frames before it was complete.
    const partial = [...new Set(r.samples)].filter((s) => s.length > 0 && s !== SCRIPT);
    expect(partial.length, `frames: ${r.samples.length}`).toBeGreaterThanOrEqual(3);
    for (const s of partial) expect(SCRIPT.startsWith(s)).toBe(true);
    expect(await page.locator('#stat-decode').textContent()).toMatch(/tok\/s/);
    expect(await page.locator('#stat-placement').textContent()).toMatch(/\d+ layers on the GPU, \d+ on the CPU/);
    // Focus stays in the message box for the next question.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('prompt');
    await screenshot(page, 'chat-reply');
  });

  it('Shift+Enter makes a new line; New chat clears the conversation', async () => {
    await page.locator('#prompt').fill('line one');
    await page.locator('#prompt').press('Shift+Enter');
    await page.locator('#prompt').pressSequentially('line two');
    expect(await page.locator('#prompt').inputValue()).toBe('line one\nline two');
    expect(await page.locator('.message.user').count()).toBe(1);
    await page.locator('#new-chat').click();
    expect(await page.locator('.message').count()).toBe(0);
    expect(await page.locator('#empty').isVisible()).toBe(true);
  });

  it('a reload loads the package from IndexedDB: no weight file is fetched again; Delete empties the cache', async () => {
    const before = shardFetches();
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await expect.poll(() => page.locator('#verdict-details').textContent()).toMatch(/all in this browser already/);
    expect(await page.locator('#cache-list li[data-id]').count()).toBe(1);
    expect(await page.locator('#cache-list .cache-size').first().textContent()).toMatch(/KiB|MiB/);
    await loadModel(page, logs);
    expect(shardFetches()).toBe(before);
    expect(await page.locator('#load-status').textContent()).toMatch(/from this browser’s cache/);
    const r = await ask(page, 'Again?');
    expect(r.text).toBe(SCRIPT);
    await screenshot(page, 'chat-cached');
    await page.locator('#cache-list button', { hasText: 'Delete' }).click();
    await expect.poll(() => page.locator('#cache-list li[data-id]').count()).toBe(0);
    expect(await page.locator('#load-status').textContent()).toMatch(/Deleted .* from the cache/);
  });

  it('Stop ends a long reply mid-answer (finish "abort"), and the next question still works', async () => {
    await openChat(page, server, 'model=test-models/ui-looping/&quant=none');
    await loadModel(page, logs);
    await page.locator('#max-tokens').fill('3000');
    await page.locator('#temperature').fill('1');
    await page.locator('#prompt').fill('Write a very long story.');
    await page.locator('#prompt').press('Enter');
    const reply = page.locator('.message.assistant').last();
    await expect.poll(async () => ((await reply.locator('.text').textContent()) ?? '').length, { timeout: 60_000 }).toBeGreaterThan(20);
    await page.locator('#stop').click();
    await expect.poll(() => reply.getAttribute('data-done'), { timeout: 60_000 }).toBe('true');
    expect(await reply.getAttribute('data-finish')).toBe('abort');
    expect(await reply.locator('.note').textContent()).toBe('Stopped.');
    expect(await page.locator('#stat-tokens').textContent()).toMatch(/^(\d+) tokens/);
    const tokens = Number(/^(\d+)/.exec((await page.locator('#stat-tokens').textContent())!)![1]);
    expect(tokens).toBeLessThan(3000);
    expect(await page.locator('body').getAttribute('data-model-state')).toBe('ready');
    await screenshot(page, 'chat-stopped');
    await page.locator('#max-tokens').fill('5');
    const next = await ask(page, 'Short one.');
    expect(next.finish).toMatch(/stop|length/);
  });

  it('with no ?model= the page offers the embedded demo model (public/models/glm-demo/), which loads and answers', async () => {
    await openChat(page, server, 'backend=cpu');
    expect(await page.locator('#model-select option[value="local"]').textContent()).toBe('GLM demo (embedded): models/glm-demo/');
    await expect.poll(() => page.locator('#verdict').getAttribute('data-kind')).toMatch(/^(gpu|split|cpu)$/);
    expect(await page.locator('#verdict-details').textContent()).toMatch(/download [\d.]+ (KiB|MiB)/);
    await loadModel(page, logs);
    await page.locator('#max-tokens').fill('24');
    const r = await ask(page, 'Hello! Who are you?');
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.finish).toMatch(/stop|length/);
    await screenshot(page, 'chat-demo-model');
  });

  it('errors are shown by name: a folder with no model says MissingFileError', async () => {
    await openChat(page, server, 'model=test-models/no-such-model/');
    await expect.poll(() => page.locator('#verdict').getAttribute('data-kind')).toBe('error');
    expect(await page.locator('#verdict-headline').textContent()).toMatch(/^MissingFileError: no model at .*no-such-model/);
    await page.locator('#load').click();
    await page.locator('#error').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#error').getAttribute('data-name')).toBe('MissingFileError');
    expect(await page.locator('#error-text').textContent()).toMatch(/^MissingFileError: /);
    await screenshot(page, 'chat-error');
  });
});

describe('e2e: chat page without WebGPU', () => {
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    await writeTestModels();
    // No COOP/COEP either: the pages must work from any static host.
    server = await startStaticServer(undefined, false);
    browser = await launchChromium({ webgpu: false });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('says WebGPU is unavailable, offers the CPU, and answers on the CPU', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const logs = watchConsole(page);
    await openChat(page, server, 'model=test-models/ui-scripted/');
    const gpu = await page.evaluate(async () => {
      if (!('gpu' in navigator) || !navigator.gpu) return 'no navigator.gpu';
      return (await navigator.gpu.requestAdapter()) ? 'adapter' : 'no adapter';
    });
    expect(gpu).not.toBe('adapter');
    expect(await page.locator('body').getAttribute('data-webgpu')).toBe('unavailable');
    await page.locator('#gpu-banner').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('#gpu-banner').textContent()).toMatch(/WebGPU .*(not available|no usable GPU).*run on the CPU/s);
    expect(await page.locator('#verdict-headline').textContent()).toMatch(/^Runs on the CPU only \(no WebGPU\)/);
    expect(await page.locator('#backend').inputValue()).toBe('cpu');
    await screenshot(page, 'chat-no-webgpu');
    await page.locator('#use-cpu').click();
    await page.waitForSelector('body[data-model-state="ready"]', { timeout: 120_000 });
    expect(await page.locator('#stat-placement').textContent()).toBe('0 layers on the GPU, 2 on the CPU');
    const r = await ask(page, 'hi');
    expect(r.text, logs.join('\n')).toBe(SCRIPT);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
    await screenshot(page, 'chat-no-webgpu-reply');
  });
});
