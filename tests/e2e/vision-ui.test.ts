// Issue #21, the pages side, in headless Chromium: the image attachments (attach button, paste, drop,
// thumbnails, the message's content parts) on the attachments test page, which mounts the chat page's
// composer for a model that takes images; the browser's decoding path (createImageBitmap +
// OffscreenCanvas) against Pillow; and the chat page with a text-only model, where the control is hidden.
// The chat page and the widget with a real GLM-4V model, replying to an attached or pasted image: vision-chat.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';

const FIXTURES = join(import.meta.dirname, '../fixtures/vision-preprocess');
const png = (name: string) => readFileSync(join(FIXTURES, name));
const dataUrl = (name: string) => `data:image/png;base64,${png(name).toString('base64')}`;

/** Dispatches a paste or drop of a PNG file (bytes as base64) on `selector`, as a user's paste or drop does. */
async function pasteOrDrop(page: Page, selector: string, kind: 'paste' | 'drop', base64: string, type = 'image/png'): Promise<void> {
  await page.evaluate(({ selector, kind, base64, type }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], kind === 'paste' ? 'image.png' : 'dropped.png', { type }));
    const target = document.querySelector(selector)!;
    const ev = kind === 'paste' ? new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }) : new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true });
    target.dispatchEvent(ev);
  }, { selector, kind, base64, type });
}

describe('e2e: image attachments (issue #21)', () => {
  let server: StaticServer;
  let browser: Browser;
  let logs: string[];

  beforeAll(async () => {
    server = await startStaticServer(undefined, true, { mounts: { '/vision-fixtures/': FIXTURES } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function openTestPage(query: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    logs = watchConsole(page);
    await page.goto(`${server.url}/attachments-test.html?${query}`);
    await page.waitForFunction(() => window.glmTest?.ready === true, undefined, { timeout: 60_000 });
    return page;
  }

  it('attach button, paste and drop add thumbnails; sending builds image_url parts then text and shows the image', async () => {
    const page = await openTestPage('max=2');
    expect(await page.locator('#attach').isVisible()).toBe(true);
    await page.locator('#image-input').setInputFiles(join(FIXTURES, 'rgb-300x200.png'));
    await expect.poll(() => page.locator('.attachment img').count()).toBe(1);
    expect(await page.locator('.attachment img').first().getAttribute('src')).toBe(dataUrl('rgb-300x200.png'));

    await pasteOrDrop(page, '#prompt', 'paste', png('rgb-37x23.png').toString('base64'));
    await expect.poll(() => page.locator('.attachment img').count()).toBe(2);
    // The model takes two: the attach button turns off, and a third (dropped) image is refused by name.
    expect(await page.locator('#attach').isDisabled()).toBe(true);
    await pasteOrDrop(page, '#composer', 'drop', png('rgb-13x7.png').toString('base64'));
    await expect.poll(() => page.evaluate(() => window.glmTest.errors.length)).toBe(1);
    expect(await page.evaluate(() => window.glmTest.errors[0])).toMatch(/takes 2 images per conversation/);
    expect(await page.locator('.attachment img').count()).toBe(2);

    // Remove the pasted one, drop another instead.
    await page.locator('.attachment .remove').nth(1).click();
    await pasteOrDrop(page, '#composer', 'drop', png('rgb-13x7.png').toString('base64'));
    await expect.poll(() => page.locator('.attachment img').count()).toBe(2);
    await screenshot(page, 'vision-attachments-1280x800');

    await page.locator('#prompt').fill('What is in these pictures?');
    await page.locator('#send').click();
    const sent = await page.evaluate(() => window.glmTest.sent);
    expect(sent).toEqual([{
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: dataUrl('rgb-300x200.png') } },
        { type: 'image_url', image_url: { url: dataUrl('rgb-13x7.png') } },
        { type: 'text', text: 'What is in these pictures?' },
      ],
    }]);
    expect(await page.locator('#attachments').isHidden()).toBe(true);
    expect(await page.locator('.message.user img.message-image').count()).toBe(2);
    expect(await page.locator('.message.user img.message-image').first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(300);
    await screenshot(page, 'vision-sent-1280x800');
    expect(logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
    await page.close();
  });

  it('a non-image file is refused with UnsupportedImageTypeError; at 390x844 the composer still fits', async () => {
    const page = await openTestPage('max=1', { width: 390, height: 844 });
    await page.locator('#image-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await expect.poll(() => page.evaluate(() => window.glmTest.errors.length)).toBe(1);
    expect(await page.evaluate(() => window.glmTest.errors[0])).toMatch(/^UnsupportedImageTypeError: /);
    expect(await page.locator('.attachment').count()).toBe(0);
    await page.locator('#image-input').setInputFiles(join(FIXTURES, 'rgb-300x200.png'));
    await expect.poll(() => page.locator('.attachment img').count()).toBe(1);
    const box = (await page.locator('#composer').boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    await screenshot(page, 'vision-attachments-390x844');
    await page.close();
  });

  it('the browser decoding path (createImageBitmap + OffscreenCanvas) gives Pillow\'s model input exactly for opaque PNGs', async () => {
    const page = await openTestPage('max=1');
    const fixture = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
      cases: Array<{ name: string; file: string; mode: string; expected: Array<{ size: number; normalized_f32?: string }> }>;
    };
    // RGBA/LA are left out: a canvas premultiplies alpha, so colours under transparency read back changed (README).
    const opaque = fixture.cases.filter((c) => c.file.endsWith('.png') && !c.mode.includes('A'));
    let compared = 0;
    for (const c of opaque) {
      for (const e of c.expected) {
        if (!e.normalized_f32) continue;
        const input = { url: dataUrl(c.file), size: e.size };
        const got = await page.evaluate(async ({ url, size }) => Array.from(await window.glmTest.preprocessImage(url, size)), input);
        const b = Buffer.from(e.normalized_f32, 'base64');
        const want = Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
        const bad = want.findIndex((v, i) => got[i] !== v);
        expect(bad, `${c.name} -> ${e.size}: failed at index ${bad}: got ${got[bad]}, expected ${want[bad]}`).toBe(-1);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(6);
    await page.close();
  });

  it('blob: and http(s) URLs give the same model input as data: URLs; a failed fetch and a non-image are named errors', async () => {
    const page = await openTestPage('max=1');
    const out = await page.evaluate(async ({ dataUrl }) => {
      const t = window.glmTest;
      const asArray = async (url: string) => Array.from(await t.preprocessImage(url, 14));
      const bytes = await (await fetch(dataUrl)).blob();
      const blobUrl = URL.createObjectURL(bytes);
      const nameOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => e.name);
      return {
        data: await asArray(dataUrl),
        blob: await asArray(blobUrl),
        http: await asArray(new URL('/vision-fixtures/rgb-37x23.png', location.href).href),
        missing: await nameOf(t.preprocessImage(new URL('/vision-fixtures/nope.png', location.href).href, 14)),
        html: await nameOf(t.preprocessImage(new URL('/attachments-test.html', location.href).href, 14)),
        corrupt: await nameOf(t.preprocessImage(`data:image/png;base64,${btoa(String.fromCharCode(0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 1, 2, 3))}`, 14)),
      };
    }, { dataUrl: dataUrl('rgb-37x23.png') });
    expect(out.blob).toEqual(out.data);
    expect(out.http).toEqual(out.data);
    expect(out.missing).toBe('ImageUrlError');
    expect(out.html).toBe('UnsupportedImageTypeError');
    expect(out.corrupt).toBe('ImageDecodeError');
    await page.close();
  });

  it('the chat page with a text-only model hides the attach control, and a pasted image is not attached', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    logs = watchConsole(page);
    await page.goto(`${server.url}/index.html?backend=cpu`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.locator('#load').click();
    await page.waitForSelector('body[data-model-state="ready"], #error:not([hidden])', { timeout: 120_000 });
    expect(await page.locator('#error:not([hidden])').count(), logs.join('\n')).toBe(0);
    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(viewport);
      expect(await page.locator('#attach').isHidden()).toBe(true);
      await pasteOrDrop(page, '#prompt', 'paste', png('rgb-13x7.png').toString('base64'));
      await pasteOrDrop(page, '#composer', 'drop', png('rgb-13x7.png').toString('base64'));
      expect(await page.locator('.attachment').count()).toBe(0);
      expect(await page.locator('#attachments').isHidden()).toBe(true);
      await screenshot(page, `vision-chat-text-only-${viewport.width}x${viewport.height}`);
    }
    await page.close();
  });
});
