// The <glm-chat> widget on widget-demo.html, a made-up shop page with hostile CSS that loads the widget
// with ONE script tag (dist/web/glm-chat.js, built by `vite build --mode widget`): it opens, loads its
// model lazily, sends, receives a streamed reply, fires its events, and the page's styles and the
// widget's styles stay out of each other's way.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DIST_WEB, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';

const SCRIPT = 'The Aurora lamp has five brightness steps and a warm glow';
const WIDGET_BUNDLE = resolve(DIST_WEB, 'glm-chat.js');

/** Computed styles of the host page's own elements: they must be the same before and after the widget opens. */
const HOST_PROBES = ['body', 'header.shop a', '#product-title', '#product-blurb', '#buy', '#note', '#qty', 'blockquote', 'footer p'];
const PROPS = ['color', 'font-family', 'font-size', 'line-height', 'background-color', 'border-top-style', 'border-top-width', 'padding-top', 'text-transform', 'letter-spacing', 'transform', 'display', 'margin-top'];

function hostStyles(page: Page): Promise<Record<string, Record<string, string>>> {
  return page.evaluate(
    ([probes, props]) => {
      const out: Record<string, Record<string, string>> = {};
      for (const sel of probes) {
        const node = document.querySelector(sel);
        if (!node) throw new Error(`no ${sel} on the demo page`);
        const cs = getComputedStyle(node);
        out[sel] = Object.fromEntries(props.map((p) => [p, cs.getPropertyValue(p)]));
      }
      return out;
    },
    [HOST_PROBES, PROPS] as const,
  );
}

describe('e2e: <glm-chat> widget on a hostile host page', () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  let logs: string[];

  beforeAll(async () => {
    if (!existsSync(WIDGET_BUNDLE)) {
      throw new Error(`${WIDGET_BUNDLE} is missing: build the widget with \`npx vite build --mode widget\` (npm run build does it).`);
    }
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const ids = tok.encode(SCRIPT, { addSpecialTokens: false });
    const tmp = mkdtempSync(resolve(tmpdir(), 'glm-e2e-widget-'));
    const models = resolve(DIST_WEB, 'test-models');
    mkdirSync(models, { recursive: true });
    cpSync(writeTinyChatModel(resolve(tmp, 'scripted'), { scriptIds: ids }), resolve(models, 'widget-scripted'), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    server = await startStaticServer();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    logs = watchConsole(page);
    await page.goto(`${server.url}/widget-demo.html`);
    await page.waitForFunction(() => customElements.get('glm-chat') !== undefined);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('is one script tag and one file: glm-chat.js is the only script the page loads', async () => {
    expect(await page.evaluate(() => document.scripts.length)).toBe(1);
    expect(await page.evaluate(() => (document.scripts[0] as HTMLScriptElement).src)).toMatch(/\/glm-chat\.js$/);
    const scripts = server.requests.filter((r) => /\.(js|mjs)(\?|$)/.test(r));
    expect(scripts).toEqual(['/glm-chat.js']);
    expect(statSync(WIDGET_BUNDLE).size).toBeLessThan(1024 * 1024);
    expect(server.requests.filter((r) => r.includes('models/')).length).toBe(0);
    // Its default model is the embedded demo model, served next to the page.
    expect(await page.evaluate(() => document.querySelector('glm-chat')!.getAttribute('model'))).toBe('models/glm-demo/');
    expect(await page.evaluate(async () => (await fetch('models/glm-demo/manifest.json', { method: 'HEAD' })).status)).toBe(200);
    server.requests.length = 0;
    // Lazy: nothing of the model was fetched before the chat is opened.
    await page.waitForTimeout(500);
    expect(server.requests.filter((r) => r.includes('models/')).length).toBe(0);
    await screenshot(page, 'widget-closed');
  });

  it('opens, loads its model, streams a reply, fires ready and message, and leaves the page styles alone', async () => {
    const before = await hostStyles(page);
    const sheetsBefore = await page.evaluate(() => document.styleSheets.length);
    await page.evaluate(() => {
      const w = window as unknown as { events: { type: string; detail: unknown }[] };
      w.events = [];
      const el = document.querySelector('glm-chat')!;
      for (const type of ['ready', 'message', 'error']) el.addEventListener(type, (e) => w.events.push({ type, detail: (e as CustomEvent).detail }));
      el.setAttribute('model', 'test-models/widget-scripted/');
      el.setAttribute('backend', 'cpu');
    });
    const widget = page.locator('glm-chat');
    await widget.locator('.launcher').click();
    expect(await widget.locator('.launcher').getAttribute('aria-expanded')).toBe('true');
    // Focus moved into the widget's message box.
    expect(await page.evaluate(() => document.querySelector('glm-chat')!.shadowRoot!.activeElement?.tagName)).toBe('TEXTAREA');
    await page.waitForFunction(() => (window as unknown as { events: { type: string }[] }).events.some((e) => e.type === 'ready' || e.type === 'error'), null, { timeout: 120_000 });
    const ready = await page.evaluate(() => (window as unknown as { events: { type: string; detail: unknown }[] }).events[0]);
    expect(ready!.type, `${JSON.stringify(ready)}\n${logs.join('\n')}`).toBe('ready');
    expect((ready!.detail as { backend: string }).backend).toBe('cpu');
    // Issue #21: a text-only model has no vision tower, so the widget shows no attach-image button.
    expect((ready!.detail as { vision: unknown }).vision).toBeNull();
    expect(await widget.locator('.attach').isHidden()).toBe(true);

    await widget.locator('textarea').fill('Tell me about the lamp');
    await widget.locator('textarea').press('Enter');
    await page.waitForFunction(() => (window as unknown as { events: { type: string }[] }).events.some((e) => e.type === 'message' || e.type === 'error'), null, { timeout: 120_000 });
    const events = await page.evaluate(() => (window as unknown as { events: { type: string; detail: unknown }[] }).events);
    const message = events.find((e) => e.type === 'message');
    expect(message, JSON.stringify(events)).toBeDefined();
    expect(message!.detail).toEqual({ role: 'assistant', content: SCRIPT, finish_reason: 'stop' });
    expect(await widget.locator('.msg.assistant').textContent()).toBe(SCRIPT);
    expect(await widget.locator('.msg.user').textContent()).toBe('Tell me about the lamp');

    // The page's `* { color: red !important; font-family: serif }` does not reach the widget...
    const inside = await page.evaluate(() => {
      const root = document.querySelector('glm-chat')!.shadowRoot!;
      const pick = (sel: string) => {
        const cs = getComputedStyle(root.querySelector(sel)!);
        return { color: cs.color, font: cs.fontFamily, background: cs.backgroundColor, border: cs.borderTopStyle, transform: cs.transform };
      };
      return { reply: pick('.msg.assistant'), send: pick('.send'), input: pick('textarea'), heading: pick('h2') };
    });
    for (const [what, s] of Object.entries(inside)) {
      expect(s.color, what).not.toBe('rgb(255, 0, 0)');
      expect(s.font, what).not.toMatch(/^serif$/);
      expect(s.font, what).toMatch(/system-ui/);
    }
    expect(inside.send.background).not.toBe('rgb(255, 105, 180)'); // hotpink
    expect(inside.send.border).not.toBe('dashed');
    expect(inside.send.transform).toBe('none');
    expect(inside.input.background).not.toBe('rgb(255, 255, 0)'); // yellow
    // ...and the widget changes nothing of the page's.
    expect(await hostStyles(page)).toEqual(before);
    expect(await page.evaluate(() => document.styleSheets.length)).toBe(sheetsBefore);
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('#product-blurb')!).color)).toBe('rgb(255, 0, 0)');
    await screenshot(page, 'widget-open');
  });

  it('Escape closes the panel and gives focus back to the launcher; theme="dark" restyles only the widget', async () => {
    const widget = page.locator('glm-chat');
    await widget.locator('textarea').press('Escape');
    expect(await widget.locator('.panel').isHidden()).toBe(true);
    expect(await page.evaluate(() => document.querySelector('glm-chat')!.shadowRoot!.activeElement?.className)).toBe('launcher');
    const before = await hostStyles(page);
    await page.evaluate(() => document.querySelector('glm-chat')!.setAttribute('theme', 'dark'));
    await widget.locator('.launcher').click();
    const bg = await page.evaluate(() => getComputedStyle(document.querySelector('glm-chat')!.shadowRoot!.querySelector('.panel')!).backgroundColor);
    expect(bg).toBe('rgb(28, 32, 40)');
    expect(await hostStyles(page)).toEqual(before);
    await screenshot(page, 'widget-dark');
  });

  it('position="inline" renders in the page flow; errors fire an error event with {name, message}', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { inlineEvents: { type: string; detail: unknown }[] };
      w.inlineEvents = [];
      const el = document.createElement('glm-chat');
      el.id = 'inline-chat';
      el.setAttribute('position', 'inline');
      el.setAttribute('model', 'test-models/no-such-model/');
      el.setAttribute('backend', 'cpu');
      el.setAttribute('label', 'Inline help');
      el.addEventListener('error', (e) => w.inlineEvents.push({ type: 'error', detail: (e as unknown as CustomEvent).detail }));
      document.querySelector('section.reviews')!.append(el);
    });
    const inline = page.locator('#inline-chat');
    expect(await inline.locator('.panel').isVisible()).toBe(true);
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('#inline-chat')!).position)).toBe('relative');
    await inline.locator('textarea').fill('hello');
    await inline.locator('textarea').press('Enter');
    await page.waitForFunction(() => (window as unknown as { inlineEvents: unknown[] }).inlineEvents.length > 0, null, { timeout: 60_000 });
    const [err] = await page.evaluate(() => (window as unknown as { inlineEvents: { detail: { name: string; message: string } }[] }).inlineEvents);
    expect(err!.detail.name).toBe('MissingFileError');
    expect(err!.detail.message).toMatch(/no-such-model/);
    expect(await inline.locator('.error').textContent()).toMatch(/^MissingFileError: /);
    await inline.scrollIntoViewIfNeeded();
    await screenshot(page, 'widget-inline-error');
  });
});
