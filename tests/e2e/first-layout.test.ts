// Issue #16: the chat page at a laptop size (1280x800) and a phone size (390x844): Send and the placement
// plan text are fully visible (their bounding boxes, scrolled into view, lie inside the viewport, and the
// plan text is not cut off inside its box). Screenshots go to test-artifacts/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startStaticServer, type StaticServer } from './harness';

const VIEWPORTS = [
  { name: 'laptop', width: 1280, height: 800 },
  { name: 'mobile', width: 390, height: 844 },
] as const;

async function expectInViewport(page: Page, selector: string, viewport: { width: number; height: number }): Promise<void> {
  const loc = page.locator(selector);
  await loc.scrollIntoViewIfNeeded();
  const box = await loc.boundingBox();
  expect(box, `${selector} has no box (hidden?)`).not.toBeNull();
  const where = `${selector} at ${JSON.stringify(box)} in ${viewport.width}x${viewport.height}`;
  expect(box!.x, where).toBeGreaterThanOrEqual(0);
  expect(box!.y, where).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, where).toBeLessThanOrEqual(viewport.width + 0.5);
  expect(box!.y + box!.height, where).toBeLessThanOrEqual(viewport.height + 0.5);
}

describe('e2e: chat page layout at laptop and phone sizes', () => {
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

  for (const vp of VIEWPORTS) {
    it(`${vp.name} ${vp.width}x${vp.height}: Send and the placement plan are fully visible`, async () => {
      const page = await browser.newPage({ viewport: { width: vp.width, height: vp.height } });
      await page.goto(`${server.url}/index.html`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      await expect.poll(() => page.locator('#verdict').getAttribute('data-kind'), { timeout: 60_000 }).toMatch(/^(gpu|split|cpu)$/);
      await page.screenshot({ path: `test-artifacts/layout-${vp.name}-top.png` });
      await expectInViewport(page, '#send', vp);
      await page.locator('#verdict-plan summary').click();
      await expectInViewport(page, '#verdict-plan-text', vp);
      // Nothing of the plan is cut off inside its box: it wraps instead of overflowing.
      const overflow = await page.locator('#verdict-plan-text').evaluate((e) => e.scrollWidth - e.clientWidth);
      expect(overflow).toBeLessThanOrEqual(1);
      await screenshot(page, `layout-${vp.name}`);
      await page.close();
    });
  }
});
