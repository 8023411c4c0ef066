// The browser model cache end to end: a package converted by the CLI into a temp folder, served next to
// the built pages; headless Chromium downloads it into IndexedDB, reloads, resumes, repairs, deletes.
// Requests are counted per path on the server.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PackageManifest } from '../../src/formats/package';
import { runCli } from '../helpers/cli';
import { fixtureDir, fixtureExpected } from '../helpers/fixtures';
import { DIST_TEST_PAGES, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

const FIXTURE = 'hf-glm4-tiny';

interface LoadResult {
  ok: boolean;
  id?: string;
  fetched?: string[];
  fromCache?: string[];
  persisted?: boolean | null;
  error?: { name: string; message: string };
}
interface CachedInfo {
  id: string;
  shards: number;
  shardsTotal: number;
  complete: boolean;
  bytes: number;
}

describe('e2e: model package download, IndexedDB cache, resume and repair', () => {
  let tmp: string;
  let pkgDir: string;
  let manifest: PackageManifest;
  let expectedIds: number[];
  let server: StaticServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let logs: string[];
  let pkgUrl: string;
  let modelId: string;
  const e = fixtureExpected(FIXTURE);
  const N = e.greedy_ids.length;

  const shardPath = (file: string) => `/pkg/${file}`;
  const shardCounts = () => Object.fromEntries(manifest.shards.map((s) => [s.file, server.count(shardPath(s.file))]));
  const load = (opts: Record<string, unknown> = {}) =>
    page.evaluate(([url, o]) => window.loaderTest.load(url, o), [pkgUrl, opts] as const) as Promise<LoadResult>;
  const list = () => page.evaluate(() => window.loaderTest.list()) as Promise<CachedInfo[]>;
  const openPage = async () => {
    page = await context.newPage();
    logs = watchConsole(page);
    await page.goto(`${server.url}/loader-test.html`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
  };
  const reload = async () => {
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
  };

  beforeAll(async () => {
    if (!existsSync(join(DIST_TEST_PAGES, 'loader-test.html'))) {
      throw new Error(`${join(DIST_TEST_PAGES, 'loader-test.html')} is missing: run \`npm run build:test-pages\` first (npm run test:e2e does)`);
    }
    tmp = mkdtempSync(join(tmpdir(), 'glm-e2e-loader-'));
    pkgDir = join(tmp, 'pkg');
    const conv = await runCli(['convert', '--model', fixtureDir(FIXTURE), '--out', pkgDir, '--quant', 'q4', '--shard-size', '16KiB']);
    expect(conv.code, conv.stderr).toBe(0);
    manifest = JSON.parse(readFileSync(join(pkgDir, 'manifest.json'), 'utf8')) as PackageManifest;
    expect(manifest.shards.length).toBeGreaterThanOrEqual(6);
    const gen = await runCli(['generate', '--model', fixtureDir(FIXTURE), '--quant', 'q4', '--ids', e.prompt_ids.join(','), '--max-new-tokens', String(N), '--ignore-eos', '--json']);
    expect(gen.code, gen.stderr).toBe(0);
    expectedIds = JSON.parse(gen.stdout).ids;
    server = await startStaticServer(undefined, true, { mounts: { '/pkg/': pkgDir } });
    pkgUrl = `${server.url}/pkg/`;
    browser = await launchChromium({ webgpu: false });
    context = await browser.newContext();
    await openPage();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('first load fetches every shard exactly once and stores them in IndexedDB', async () => {
    const r = await load();
    expect(r.error, `console:\n${logs.join('\n')}`).toBeUndefined();
    expect(r.ok).toBe(true);
    modelId = r.id!;
    expect(r.fetched!.filter((f) => f.startsWith('shard-')).sort()).toEqual(manifest.shards.map((s) => s.file).sort());
    for (const [file, n] of Object.entries(shardCounts())) expect(n, file).toBe(1);
    const models = await list();
    expect(models).toEqual([expect.objectContaining({ id: modelId, complete: true, shards: manifest.shards.length, shardsTotal: manifest.shards.length })]);
    const keys = await page.evaluate(() => window.loaderTest.keys());
    expect(keys.length).toBe(manifest.shards.length + manifest.files.length + 1);
    await screenshot(page, 'loader-1-first-load');
  });

  it('the cached package runs in the page: greedy ids equal generate --quant q4 on the HF folder', async () => {
    const before = shardCounts();
    const ids = await page.evaluate(([url, p, n]) => window.loaderTest.generate(url, p, n), [pkgUrl, e.prompt_ids, N] as const);
    expect(ids).toEqual(expectedIds);
    expect(shardCounts()).toEqual(before);
    await screenshot(page, 'loader-2-generate');
  });

  it('a reload fetches no shard', async () => {
    const before = shardCounts();
    const manifestRequests = server.count('/pkg/manifest.json');
    await reload();
    const r = await load();
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    expect(r.fetched).toEqual([]);
    expect(shardCounts()).toEqual(before);
    expect(server.count('/pkg/manifest.json')).toBe(manifestRequests + 1);
    await screenshot(page, 'loader-3-reload-from-cache');
  });

  it('deleting the model through the cache API frees all its entries', async () => {
    const freed = await page.evaluate((id) => window.loaderTest.remove(id), modelId);
    expect(freed.entries).toBe(manifest.shards.length + manifest.files.length + 1);
    expect(await page.evaluate(() => window.loaderTest.keys())).toEqual([]);
    expect(await list()).toEqual([]);
    await screenshot(page, 'loader-4-deleted');
  });

  it('a download cut off halfway resumes fetching only the missing shards', async () => {
    const cut = manifest.shards[3]!.file;
    server.fail(shardPath(cut), 'abort-halfway');
    const before = shardCounts();
    const r = await load({ retries: 1, backoffMs: 20, concurrency: 2 });
    expect(r.ok).toBe(false);
    expect(r.error!.name).toBe('DownloadError');
    expect(r.error!.message).toContain(cut);
    expect(server.count(shardPath(cut)) - before[cut]!).toBe(2);
    const [info] = await list();
    expect(info!.complete).toBe(false);
    expect(info!.shards).toBeLessThan(manifest.shards.length);
    await screenshot(page, 'loader-5-interrupted');

    server.clearFailures();
    await reload();
    const mid = shardCounts();
    const r2 = await load();
    expect(r2.ok, JSON.stringify(r2.error)).toBe(true);
    const fetchedShards = r2.fetched!.filter((f) => f.startsWith('shard-'));
    expect(fetchedShards).toContain(cut);
    expect(fetchedShards.length).toBe(manifest.shards.length - info!.shards);
    const after = shardCounts();
    for (const s of manifest.shards) expect(after[s.file]! - mid[s.file]!, s.file).toBe(fetchedShards.includes(s.file) ? 1 : 0);
    expect((await list())[0]!.complete).toBe(true);
    await screenshot(page, 'loader-6-resumed');
  });

  it('a shard corrupted inside IndexedDB is detected and fetched again', async () => {
    const victim = manifest.shards[1]!.file;
    expect(await page.evaluate(([id, f]) => window.loaderTest.corrupt(id, f), [modelId, victim] as const)).toBe(true);
    await reload();
    const before = shardCounts();
    const ids = await page.evaluate(([url, p, n]) => window.loaderTest.generate(url, p, n), [pkgUrl, e.prompt_ids, N] as const);
    expect(ids).toEqual(expectedIds);
    const after = shardCounts();
    for (const s of manifest.shards) expect(after[s.file]! - before[s.file]!, s.file).toBe(s.file === victim ? 1 : 0);
    expect((await list())[0]!.complete).toBe(true);
    expect(await page.textContent('#log')).toContain(`re-fetching ${victim}: the cached copy no longer matches its SHA-256`);
    await screenshot(page, 'loader-7-repaired');
    const freed = await page.evaluate((id) => window.loaderTest.remove(id), modelId);
    expect(freed.entries).toBeGreaterThan(manifest.shards.length);
    expect(await page.evaluate(() => window.loaderTest.keys())).toEqual([]);
  });
});
