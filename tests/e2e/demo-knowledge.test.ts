// The embedded WordNet demo in the chat page and the widget (headless Chromium): the demo model, its
// knowledge base and the retrieval step come from the page's own origin; once loaded, the page answers
// with the network switched off, cites the WordNet entry under the reply, and says "I don't know" for a
// made-up word. The suggested questions replace "Ask anything".
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DIST_WEB, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';
import { parseWordNetKbBytes, type WordNetKb } from '../../src/knowledge/wordnet';

function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

describe('e2e: the WordNet demo, offline after load', () => {
  let server: StaticServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let kb: WordNetKb;
  const requests: string[] = [];

  beforeAll(async () => {
    kb = await parseWordNetKbBytes(new Uint8Array(readFileSync(resolve(DIST_WEB, 'models/glm-demo/knowledge-wordnet.bin'))));
    server = await startStaticServer();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watchConsole(page);
    page.on('request', (r) => requests.push(r.url()));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Clicks a suggestion or types a question; resolves with the reply element once it is done. */
  async function reply(n: number) {
    const item = page.locator('.message.assistant').nth(n);
    await expect.poll(() => item.getAttribute('data-done'), { timeout: 120_000 }).toBe('true');
    return item;
  }

  it('loads the demo from the page origin, then answers with the network off and shows the source entry', async () => {
    await page.goto(`${server.url}/index.html?backend=cpu`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.locator('#load').click();
    await page.waitForSelector('body[data-model-state="ready"]', { timeout: 120_000 });
    // Suggested questions instead of an open "ask anything".
    const suggestions = await page.locator('#empty .suggestion').allTextContents();
    expect(suggestions).toContain("What does 'volcano' mean?");
    await screenshot(page, 'demo-suggestions');

    // Everything so far came from the page's own origin; from here on there is no network at all.
    expect(requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:'))).toEqual([]);
    await context.setOffline(true);
    const before = requests.length;

    await page.locator('#empty .suggestion', { hasText: "What does 'volcano' mean?" }).click();
    const volcano = await reply(0);
    const gloss = kb.lookup('volcano')!.senses[0]!.definition;
    expect(normalise((await volcano.locator('.text').textContent()) ?? '')).toBe(normalise(gloss));
    const source = volcano.locator('details.source');
    expect(await source.locator('summary').textContent()).toBe('Source: WordNet 3.0 · volcano');
    expect(await source.getAttribute('open')).toBeNull(); // collapsed by default
    await source.locator('summary').click();
    expect(await source.locator('pre').textContent()).toContain("A fissure in the earth's crust");

    await page.locator('#prompt').fill("What does 'florbix' mean?");
    await page.locator('#prompt').press('Enter');
    const florbix = await reply(1);
    expect(await florbix.locator('.text').textContent()).toMatch(/^I don't know the word 'florbix'/);
    expect(await florbix.locator('details.source summary').textContent()).toBe("Source: WordNet 3.0 · no entry for 'florbix'");
    await screenshot(page, 'demo-offline-answers');
    expect(requests.length).toBe(before); // nothing was even attempted while offline
    await context.setOffline(false);
  });

  it('the widget suggests questions and cites its source', async () => {
    const widget = await context.newPage();
    await widget.goto(`${server.url}/widget-demo.html`);
    // The shop demo uses its own model attribute; a bare widget on the demo model suggests questions.
    await widget.evaluate(() => {
      const el = document.createElement('glm-chat');
      el.setAttribute('position', 'inline');
      el.setAttribute('backend', 'cpu');
      el.id = 'bare';
      document.body.append(el);
    });
    const root = widget.locator('#bare');
    await expect.poll(() => root.locator('.suggestion').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await root.locator('.suggestion', { hasText: "What does 'volcano' mean?" }).click();
    const answer = root.locator('.msg.assistant').first();
    await expect.poll(() => answer.getAttribute('data-done'), { timeout: 180_000 }).toBe('true');
    expect(normalise((await answer.textContent()) ?? '')).toBe(normalise(kb.lookup('volcano')!.senses[0]!.definition));
    expect(await root.locator('details.source summary').first().textContent()).toBe('Source: WordNet 3.0 · volcano');
    await screenshot(widget, 'demo-widget');
    await widget.close();
  });
});
