// Storage and network faults and a strict Content-Security-Policy in headless Chromium (issue #18):
// a server that never answers, deleting a model from another tab while it downloads, two tabs loading
// the same model, and the chat page and the <glm-chat> widget under `script-src 'self'; worker-src 'self'`
// (no 'wasm-unsafe-eval': the CPU runs its plain TS kernels).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PackageManifest } from '../../src/formats/package';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { runCli } from '../helpers/cli';
import { fixtureDir } from '../helpers/fixtures';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { DIST_TEST_PAGES, DIST_WEB, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

interface LoadResult {
  ok: boolean;
  id?: string;
  fetched?: string[];
  fromCache?: string[];
  error?: { name: string; message: string };
}

/** The strict policy of the issue: no inline script, no eval, no wasm, workers only from the origin. */
const STRICT_CSP = "script-src 'self'; worker-src 'self'";

describe('e2e: network and storage faults in the browser cache', () => {
  let tmp: string;
  let manifest: PackageManifest;
  let server: StaticServer;
  let browser: Browser;
  let context: BrowserContext;
  let pkgUrl: string;
  const modelId = () => `127.0.0.1_${new URL(server.url).port}_pkg`;
  const shardPath = (file: string) => `/pkg/${file}`;
  const shardCounts = () => Object.fromEntries(manifest.shards.map((s) => [s.file, server.count(shardPath(s.file))]));

  async function openTab(): Promise<{ page: Page; logs: string[] }> {
    const page = await context.newPage();
    const logs = watchConsole(page);
    await page.goto(`${server.url}/loader-test.html`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
    return { page, logs };
  }
  const load = (page: Page, opts: Record<string, unknown> = {}) =>
    page.evaluate(([url, o]) => window.loaderTest.load(url, o), [pkgUrl, opts] as const) as Promise<LoadResult>;
  const keys = (page: Page) => page.evaluate(() => window.loaderTest.keys());

  beforeAll(async () => {
    if (!existsSync(join(DIST_TEST_PAGES, 'loader-test.html'))) throw new Error('dist/test-pages/loader-test.html is missing: run `npm run build:test-pages` first');
    tmp = mkdtempSync(join(tmpdir(), 'glm-e2e-hostile-io-'));
    const pkgDir = join(tmp, 'pkg');
    const conv = await runCli(['convert', '--model', fixtureDir('hf-glm4-tiny'), '--out', pkgDir, '--quant', 'q4', '--shard-size', '16KiB']);
    expect(conv.code, conv.stderr).toBe(0);
    manifest = JSON.parse(readFileSync(join(pkgDir, 'manifest.json'), 'utf8')) as PackageManifest;
    expect(manifest.shards.length).toBeGreaterThanOrEqual(6);
    server = await startStaticServer(undefined, true, { mounts: { '/pkg/': pkgDir } });
    pkgUrl = `${server.url}/pkg/`;
    browser = await launchChromium({ webgpu: false });
    context = await browser.newContext();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a server that accepts and never answers: DownloadTimeoutError after the stall timeout, then a normal load works', async () => {
    const { page, logs } = await openTab();
    server.fail('/pkg/manifest.json', 'hang');
    const t0 = Date.now();
    const r = await load(page, { stallTimeoutMs: 1500, retries: 1, backoffMs: 10 });
    const seconds = (Date.now() - t0) / 1000;
    expect(r.ok, logs.join('\n')).toBe(false);
    expect(r.error!.name).toBe('DownloadTimeoutError');
    expect(r.error!.message).toMatch(/manifest\.json: no data for 1\.5 s \(stallTimeoutMs\).*after 2 attempts/);
    expect(seconds).toBeGreaterThanOrEqual(3);
    expect(seconds).toBeLessThan(15);
    expect(server.count('/pkg/manifest.json')).toBe(2);
    await screenshot(page, 'hostile-io-1-timeout');
    // A shard that hangs mid-download: the same, and what finished stays cached.
    server.clearFailures();
    server.fail(shardPath(manifest.shards[2]!.file), 'hang');
    const r2 = await load(page, { stallTimeoutMs: 1000, retries: 0, concurrency: 2 });
    expect(r2.error?.name).toBe('DownloadTimeoutError');
    expect(r2.error!.message).toContain(manifest.shards[2]!.file);
    server.clearFailures();
    const r3 = await load(page);
    expect(r3.ok, JSON.stringify(r3.error)).toBe(true);
    expect(r3.fetched).toContain(manifest.shards[2]!.file);
    expect(r3.fromCache!.length).toBeGreaterThan(0);
    await page.evaluate((id) => window.loaderTest.remove(id), modelId());
    await page.close();
  });

  it('deleting the model from another tab while it downloads stops the download; the model does not come back', async () => {
    const a = await openTab();
    const b = await openTab();
    // One shard hangs, so the download is surely in progress when tab B deletes the model.
    const stuck = manifest.shards[3]!.file;
    server.fail(shardPath(stuck), 'hang');
    const loading = load(a.page, { concurrency: 2 });
    await expect.poll(async () => (await keys(b.page)).length, { timeout: 30_000 }).toBeGreaterThan(2);
    const freed = await b.page.evaluate((id) => window.loaderTest.remove(id), modelId());
    expect(freed.entries).toBeGreaterThan(2);
    const r = await loading;
    expect(r.ok).toBe(false);
    expect(r.error!.name, a.logs.join('\n')).toBe('ModelDeletedError');
    expect(r.error!.message).toMatch(/deleted from the cache while it was loading/);
    // Nothing writes it back afterwards, in either tab.
    const requests = server.requests.length;
    await a.page.waitForTimeout(1500);
    expect(await keys(a.page)).toEqual([]);
    expect(await a.page.evaluate(() => window.loaderTest.list())).toEqual([]);
    expect(server.requests.length).toBe(requests);
    await screenshot(a.page, 'hostile-io-2-deleted-during-download');
    server.clearFailures();
    await a.page.close();
    await b.page.close();
  });

  it("a cache left in idb-keyval's shared database by an older version is moved to the cache's own database on first use", async () => {
    const { page, logs } = await openTab();
    const r = await load(page);
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    const moved = await page.evaluate(() => window.loaderTest.moveToLegacyDatabase());
    expect(moved).toBe(manifest.shards.length + manifest.files.length + 1);
    expect(await keys(page)).toEqual([]);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
    // The page's first cache call (its model list) moved the entries; the page's own key stays behind.
    expect(await page.evaluate(() => window.loaderTest.legacyKeys())).toEqual(['page-own-setting']);
    expect((await keys(page)).length).toBe(moved);
    const before = shardCounts();
    const again = await load(page);
    expect(again.ok, `${JSON.stringify(again.error)}\n${logs.join('\n')}`).toBe(true);
    expect(again.fetched).toEqual([]);
    expect(shardCounts()).toEqual(before);
    await page.evaluate((id) => window.loaderTest.remove(id), modelId());
    await page.close();
  });

  it('two tabs loading the same model at once fetch each shard once in all', async () => {
    const a = await openTab();
    const b = await openTab();
    const before = shardCounts();
    // Slow shards, so both loads are surely in flight together.
    server.fail(/^\/pkg\/shard-/, { delayMs: 250 });
    const [ra, rb] = await Promise.all([load(a.page), load(b.page)]);
    server.clearFailures();
    expect(ra.ok, JSON.stringify(ra.error)).toBe(true);
    expect(rb.ok, JSON.stringify(rb.error)).toBe(true);
    const after = shardCounts();
    for (const s of manifest.shards) expect(after[s.file]! - before[s.file]!, s.file).toBe(1);
    // One tab downloaded everything, the other found it all in the cache.
    const fetchedShards = [ra, rb].map((r) => r.fetched!.filter((f) => f.startsWith('shard-')).length).sort((x, y) => x - y);
    expect(fetchedShards).toEqual([0, manifest.shards.length]);
    await screenshot(b.page, 'hostile-io-3-two-tabs');
    await a.page.evaluate((id) => window.loaderTest.remove(id), modelId());
    await a.page.close();
    await b.page.close();
  });
});

describe(`e2e: strict Content-Security-Policy (${STRICT_CSP})`, () => {
  const SCRIPT = 'The software library will build small flowers using files and you can run this command';
  let server: StaticServer;
  let browser: Browser;
  let tmp: string;

  beforeAll(async () => {
    if (!existsSync(join(DIST_WEB, 'glm-chat-engine-worker.js'))) throw new Error('dist/web/glm-chat-engine-worker.js is missing: run `npm run build` first');
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const ids = tok.encode(SCRIPT, { addSpecialTokens: false });
    tmp = mkdtempSync(join(tmpdir(), 'glm-e2e-csp-'));
    const models = resolve(DIST_WEB, 'test-models');
    mkdirSync(models, { recursive: true });
    const scripted = writeTinyChatModel(resolve(tmp, 'scripted'), { scriptIds: ids });
    cpSync(scripted, resolve(models, 'csp-scripted'), { recursive: true });
    rmSync(resolve(models, 'csp-scripted-pkg'), { recursive: true, force: true }); // a rerun without a new build
    const conv = await runCli(['convert', '--model', scripted, '--out', resolve(models, 'csp-scripted-pkg'), '--quant', 'q4', '--shard-size', '64KiB']);
    expect(conv.code, conv.stderr).toBe(0);
    server = await startStaticServer(undefined, true, { headers: { 'Content-Security-Policy': STRICT_CSP } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** CSP violations the page reported (securitypolicyviolation events and console lines). */
  async function violations(page: Page, logs: string[]): Promise<string[]> {
    const events = await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? []);
    return [...events, ...logs.filter((l) => /Content Security Policy|Refused to/i.test(l))];
  }
  const recordViolations = (page: Page) =>
    page.addInitScript(() => {
      const w = window as unknown as { cspViolations: string[] };
      w.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });

  it('the chat page loads a package on the CPU, answers, and says in its stats that the TS kernels run because of the CSP', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const logs = watchConsole(page);
    await recordViolations(page);
    await page.goto(`${server.url}/index.html?model=test-models/csp-scripted-pkg/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.locator('#backend').selectOption('cpu');
    await page.locator('#load').click();
    await page.waitForSelector('body[data-model-state="ready"], #error:not([hidden])', { timeout: 120_000 });
    expect(await page.locator('#error:not([hidden])').count(), `${await page.locator('#error-text').textContent()}\n${logs.join('\n')}`).toBe(0);
    await page.locator('#prompt').fill('Hello');
    await page.locator('#prompt').press('Enter');
    const reply = page.locator('.message.assistant').first();
    await expect.poll(() => reply.getAttribute('data-done'), { timeout: 120_000 }).toBe('true');
    expect(await reply.locator('.text').textContent()).toBe(SCRIPT);
    expect(await page.locator('#stat-cpu-kernels').textContent()).toMatch(/^ts \(WebAssembly refused by the page's Content-Security-Policy; add 'wasm-unsafe-eval' to script-src/);
    // The only thing the policy refused is the WebAssembly compile (which the fallback expects).
    expect((await violations(page, logs)).filter((v) => !/wasm|WebAssembly/i.test(v))).toEqual([]);
    await screenshot(page, 'hostile-io-4-chat-strict-csp');
    // A record in the cache database that is not ours: the cached-models list skips it and says so.
    await page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open('glm-webgpu-cache');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction('entries', 'readwrite');
            tx.objectStore('entries').put('not a record', 'glm-webgpu:broken');
            tx.oncomplete = () => (open.result.close(), resolve());
            tx.onerror = () => reject(tx.error);
          };
        }),
    );
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await expect.poll(() => page.locator('#cache-list').textContent()).toContain('Skipped 1 unreadable cache record: glm-webgpu:broken (not a record (string))');
    expect(await page.locator('#cache-list li[data-id]').count()).toBe(1);
    await page.close();
  });

  it('the <glm-chat> widget starts its worker from the file beside glm-chat.js and answers', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const logs = watchConsole(page);
    await recordViolations(page);
    await page.goto(`${server.url}/widget-demo.html`);
    await page.waitForFunction(() => customElements.get('glm-chat') !== undefined);
    await page.evaluate(() => {
      const w = window as unknown as { events: { type: string; detail: unknown }[] };
      w.events = [];
      const el = document.querySelector('glm-chat')!;
      for (const type of ['ready', 'message', 'error']) el.addEventListener(type, (e) => w.events.push({ type, detail: (e as CustomEvent).detail }));
      el.setAttribute('model', 'test-models/csp-scripted/');
      el.setAttribute('backend', 'cpu');
    });
    const widget = page.locator('glm-chat');
    await widget.locator('.launcher').click();
    const events = () => page.evaluate(() => (window as unknown as { events: { type: string; detail: unknown }[] }).events);
    await expect.poll(async () => (await events()).length, { timeout: 120_000 }).toBeGreaterThan(0);
    expect((await events())[0]!.type, `${JSON.stringify(await events())}\n${logs.join('\n')}`).toBe('ready');
    expect(server.requests).toContain('/glm-chat-engine-worker.js');
    await widget.locator('textarea').fill('Tell me about the lamp');
    await widget.locator('textarea').press('Enter');
    await expect.poll(async () => (await events()).some((e) => e.type === 'message' || e.type === 'error'), { timeout: 120_000 }).toBe(true);
    expect((await events()).find((e) => e.type === 'message')?.detail).toEqual({ role: 'assistant', content: SCRIPT, finish_reason: 'stop' });
    expect((await violations(page, logs)).filter((v) => !/wasm|WebAssembly/i.test(v))).toEqual([]);
    await screenshot(page, 'hostile-io-5-widget-strict-csp');
    await page.close();
  });

  it('a glm-chat.js served from another origin (a CDN) starts its worker through a blob: module and answers', async () => {
    // The CDN: the built widget with CORS headers. The page: its own origin, allowing the CDN's script, and
    // blob: workers plus the CDN in worker-src (a module worker's imports are checked against worker-src).
    const cdn = await startStaticServer(DIST_WEB, false, { headers: { 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' } });
    const pageDir = mkdtempSync(join(tmpdir(), 'glm-e2e-embed-'));
    writeFileSync(
      join(pageDir, 'page.html'),
      `<!doctype html><html><head><meta charset="utf-8"><title>embed</title></head><body><h1>A shop</h1>` +
        `<glm-chat model="/test-models/csp-scripted/" backend="cpu" position="inline"></glm-chat>` +
        `<script type="module" src="${cdn.url}/glm-chat.js"></script></body></html>`,
    );
    const site = await startStaticServer(DIST_WEB, true, { mounts: { '/embed/': pageDir }, headers: { 'Content-Security-Policy': `script-src 'self' ${cdn.url}; worker-src 'self' blob: ${cdn.url}` } });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
      const logs = watchConsole(page);
      await page.goto(`${site.url}/embed/page.html`);
      await page.waitForFunction(() => customElements.get('glm-chat') !== undefined, null, { timeout: 30_000 });
      await page.evaluate(() => {
        const w = window as unknown as { events: { type: string; detail: unknown }[] };
        w.events = [];
        const el = document.querySelector('glm-chat')!;
        for (const type of ['ready', 'message', 'error']) el.addEventListener(type, (e) => w.events.push({ type, detail: (e as CustomEvent).detail }));
      });
      const widget = page.locator('glm-chat');
      await widget.locator('textarea').fill('Tell me about the lamp');
      await widget.locator('textarea').press('Enter');
      const events = () => page.evaluate(() => (window as unknown as { events: { type: string; detail: unknown }[] }).events);
      await expect.poll(async () => (await events()).some((e) => e.type === 'message' || e.type === 'error'), { timeout: 120_000 }).toBe(true);
      expect((await events()).find((e) => e.type === 'message')?.detail, `${JSON.stringify(await events())}\n${logs.join('\n')}\ncdn: ${cdn.requests.join(' ')}\nsite: ${site.requests.join(' ')}`).toEqual({ role: 'assistant', content: SCRIPT, finish_reason: 'stop' });
      expect(cdn.requests).toContain('/glm-chat-engine-worker.js');
      await screenshot(page, 'hostile-io-6-widget-cross-origin');
      await page.close();
    } finally {
      await site.close();
      await cdn.close();
      rmSync(pageDir, { recursive: true, force: true });
    }
  });

  it('a widget whose worker the CSP blocks shows WorkerBlockedError naming the directive, instead of "Loading…" for ever', async () => {
    const blocking = await startStaticServer(undefined, true, { headers: { 'Content-Security-Policy': "script-src 'self'; worker-src 'none'" } });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      await page.goto(`${blocking.url}/widget-demo.html`);
      await page.waitForFunction(() => customElements.get('glm-chat') !== undefined);
      await page.evaluate(() => {
        const w = window as unknown as { events: { type: string; detail: unknown }[] };
        w.events = [];
        const el = document.querySelector('glm-chat')!;
        for (const type of ['ready', 'error']) el.addEventListener(type, (e) => w.events.push({ type, detail: (e as CustomEvent).detail }));
        el.setAttribute('model', 'test-models/csp-scripted/');
      });
      const widget = page.locator('glm-chat');
      await widget.locator('.launcher').click();
      const events = () => page.evaluate(() => (window as unknown as { events: { type: string; detail: { name: string; message: string } }[] }).events);
      await expect.poll(async () => (await events()).length, { timeout: 30_000 }).toBeGreaterThan(0);
      const [first] = await events();
      expect(first!.type).toBe('error');
      expect(first!.detail.name).toBe('WorkerBlockedError');
      expect(first!.detail.message).toMatch(/worker-src 'self'/);
      expect(await widget.locator('.error').textContent()).toMatch(/^WorkerBlockedError: /);
      await screenshot(page, 'hostile-io-7-widget-worker-blocked');
      await page.close();
    } finally {
      await blocking.close();
    }
  });
});
