// The benchmark page (bench.html) in headless Chromium on SwiftShader: adapter info and limits, read
// bandwidth, dispatch overhead, per-kernel GB/s and prefill/decode tok/s of a 1-layer random-weight
// model with a real preset's shapes, as a table, SVG charts and a JSON export.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';
import type { BenchReport } from '../../src/ui/bench/suite';

describe('e2e: benchmark page', () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let logs: string[];

  beforeAll(async () => {
    server = await startStaticServer();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    logs = watchConsole(page);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs a 1-layer GLM-Edge-1.5B benchmark and shows numbers, charts and a JSON export', async () => {
    // SwiftShader runs the kernels on the CPU: one layer, a short prompt, two decode steps and a small
    // vocabulary keep this around a minute (the layer keeps GLM-Edge-1.5B's real shapes).
    await page.goto(`${server.url}/bench.html?preset=glm-edge-1.5b&layers=1&prompt=4&decode=2&vocab=2048&auto=1`);
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 240_000 });
    const state = await page.locator('body').getAttribute('data-state');
    const bench = await page.evaluate(() => window.glmBench!);
    expect(state, `${JSON.stringify(bench.error)}\n${logs.join('\n')}`).toBe('done');
    const r = bench.report as BenchReport;
    expect(r.errors, JSON.stringify(r.errors)).toEqual([]);
    expect(r.adapter.isFallback || /swiftshader/i.test(JSON.stringify(r.adapter))).toBe(true);
    expect(r.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(r.readBandwidth.bytesPerSec).toBeGreaterThan(1e6);
    expect(r.dispatchOverhead.microsPerDispatch).toBeGreaterThan(0);
    // Each matrix timed with both decode-GEMV arithmetics where the int8 dot product exists (issue #17).
    const arithmetics = [...new Set(r.kernels.map((k) => k.gemv))];
    expect(r.kernels.map((k) => k.name)).toEqual(['qkv', 'attnOut', 'mlpUp', 'mlpDown', 'lmHead'].flatMap((name) => arithmetics.map(() => name)));
    for (const k of r.kernels) {
      expect(k.bytesPerSec, k.name).toBeGreaterThan(0);
      expect(k.percentOfRead, k.name).toBeGreaterThan(0);
    }
    // GLM-Edge-1.5B's shapes: qkv (16 + 2 x 4) x 128 rows over 2048 columns; the lm_head cut to the 2048-token vocabulary.
    expect(r.kernels[0]).toMatchObject({ rows: 3072, cols: 2048 });
    expect(r.kernels.at(-1)).toMatchObject({ rows: 2048, cols: 2048 });
    expect(r.model).toMatchObject({ preset: 'glm-edge-1.5b', layers: 1, presetLayers: 28, vocab: 2048, hidden: 2048 });
    expect(r.model!.prefill.tokensPerSec).toBeGreaterThan(0);
    expect(r.model!.decode.tokensPerSec).toBeGreaterThan(0);
    expect(r.model!.decode.percentOfRead).toBeGreaterThan(0);
    expect(r.fmaRate.flopsPerSec).toBeGreaterThan(1e6);
    expect(r.model!.prefill.percentOfFma).toBeGreaterThan(0);
    // One layer: embed, the layer's 5 fused dispatches (issue #17), final norm, lm_head.
    expect(r.model!.decode.dispatchesPerStep).toBe(1 + 5 + 2);
    expect(r.model!.fullModelDecodeEstimate).toBeLessThan(r.model!.decode.tokensPerSec);

    // The table shows them, the charts have bars, and the JSON link downloads the same report.
    const table = (await page.locator('#results').textContent()) ?? '';
    expect(table).toMatch(/read bandwidth[\d.]+ GB\/s/);
    expect(table).toMatch(/decode[\d.]+ tok\/s/);
    expect(table).toMatch(/prefill[\d.]+ tok\/s/);
    // In the unit that fits (issue #16: a software adapter showed "0.00 TFLOP/s").
    expect(table).toMatch(/f32 FMA rate[\d.]+ [TGMk]FLOP\/s/);
    expect(table).not.toMatch(/ 0\.00 TFLOP\/s/);
    expect(await page.locator('#chart-tok svg rect.bar').count()).toBe(3);
    expect(await page.locator('#chart-bw svg rect.bar, #chart-bw svg rect.bar.over').count()).toBe(1 + r.kernels.length); // read bandwidth + each kernel
    const href = await page.locator('#export').getAttribute('href');
    expect(href).toMatch(/^blob:/);
    const exported = await page.evaluate(async (url) => (await fetch(url)).json(), href!);
    expect(exported).toEqual(JSON.parse(JSON.stringify(r)));
    expect(await page.locator('#adapter').textContent()).toMatch(/maxStorageBufferBindingSize/);
    await screenshot(page, 'bench');
  });
});
