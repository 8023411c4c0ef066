// Issue #21 end to end: the chat page and the widget in headless Chromium with a real tiny GLM-4V packaged as
// a model (tests/helpers/tiny-vision-model.ts: THUDM's tiny fixture + the GLM-4 mini tokenizer, converted to
// glm-webgpu packages in float32 and q4). An image attached by the attach button, pasted or dropped goes with the
// question; the reply on the page equals the CPU reference computed in Node (ModelSession.appendPrompt with
// the same image bytes preprocessed, greedy). The images are opaque PNGs, which the browser decodes to the
// same pixels as the engine's Node decoder (vision-ui.test.ts), so the model input is the same.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { DIST_WEB, launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from './harness';
import { packageTinyVisionModel, visionReference, writeTinyVisionModel, type VisionReference } from '../helpers/tiny-vision-model';

const FIXTURES = join(import.meta.dirname, '../fixtures/vision-preprocess');
const ATTACHED = 'rgb-300x200.png';
const PASTED = 'rgb-37x23.png';
const QUESTION = 'What is in the picture?';
/** Greedy tokens per reply: enough words to tell two images apart, few enough for the CPU in a browser. */
const MAX_TOKENS = 12;
/** The system prompt of the widget demo page (src/ui/widget-demo.html). */
const WIDGET_SYSTEM = 'You are the Lumenworks shop assistant. Answer briefly.';
const png = (name: string) => readFileSync(join(FIXTURES, name));
const dataUrl = (name: string) => `data:image/png;base64,${png(name).toString('base64')}`;

/** Pastes (or drops) a PNG file on `target` as a user's paste or drop does (the event carries a File). */
async function pastePng(target: Locator, name: string, kind: 'paste' | 'drop' = 'paste'): Promise<void> {
  await target.evaluate((el, { base64, kind }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], `${kind}.png`, { type: 'image/png' }));
    const init = { bubbles: true, cancelable: true, composed: true };
    el.dispatchEvent(kind === 'paste' ? new ClipboardEvent('paste', { ...init, clipboardData: dt }) : new DragEvent('drop', { ...init, dataTransfer: dt }));
  }, { base64: png(name).toString('base64'), kind });
}

/** The reply as a page shows it: GLM-4's leading whitespace is not drawn. */
const shown = (r: VisionReference) => r.text.replace(/^\s+/, '');

describe('e2e: a GLM-4V model in the chat page and the widget (issue #21)', () => {
  let server: StaticServer;
  let browser: Browser;
  const reference: Record<string, VisionReference> = {};

  beforeAll(async () => {
    const tmp = mkdtempSync(resolve(tmpdir(), 'glm-e2e-vision-'));
    const model = writeTinyVisionModel(resolve(tmp, 'glm4v'));
    const models = resolve(DIST_WEB, 'test-models');
    mkdirSync(models, { recursive: true });
    await packageTinyVisionModel(model, resolve(models, 'vision-f32-pkg'), 'none');
    await packageTinyVisionModel(model, resolve(models, 'vision-q4-pkg'), 'q4');
    for (const quant of ['none', 'q4'] as const) {
      for (const name of [ATTACHED, PASTED]) reference[`${quant}:${name}`] = await visionReference(model, dataUrl(name), QUESTION, MAX_TOKENS, quant);
    }
    // The widget demo page's system prompt goes in front of the question.
    reference.widget = await visionReference(model, dataUrl(ATTACHED), QUESTION, MAX_TOKENS, 'none', WIDGET_SYSTEM);
    rmSync(tmp, { recursive: true, force: true });
    // The two images give different replies, so a reply that ignored the image could not pass.
    expect(shown(reference[`none:${ATTACHED}`]!)).not.toBe(shown(reference[`none:${PASTED}`]!));
    server = await startStaticServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Sends what is in the composer with `text`; resolves to the reply's text once it is done. */
  async function send(page: Page, text: string): Promise<string> {
    const before = await page.locator('.message.assistant').count();
    await page.locator('#prompt').fill(text);
    await page.locator('#send').click();
    const reply = page.locator('.message.assistant').nth(before);
    await expect.poll(() => reply.getAttribute('data-done'), { timeout: 180_000 }).toBe('true');
    const finish = await reply.getAttribute('data-finish');
    if (finish === 'error') throw new Error(`the reply failed: ${await page.locator('#error-text').textContent()}`);
    return (await reply.locator('.text').textContent()) ?? '';
  }

  for (const quant of ['none', 'q4'] as const) {
    it(`chat page, ${quant === 'none' ? 'float32' : 'q4'} package on the CPU: an attached, a pasted and a dropped image each get the CPU reference's reply`, async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const logs = watchConsole(page);
      await page.goto(`${server.url}/index.html?model=test-models/vision-${quant === 'none' ? 'f32' : 'q4'}-pkg/&backend=cpu`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      await page.locator('#load').click();
      await page.waitForSelector('body[data-model-state="ready"], #error:not([hidden])', { timeout: 120_000 });
      expect(await page.locator('#error:not([hidden])').count(), `${await page.locator('#error-text').textContent()}\n${logs.join('\n')}`).toBe(0);
      await page.locator('#temperature').fill('0');
      await page.locator('#max-tokens').fill(String(MAX_TOKENS));

      // Attach button: the file picker's file becomes a thumbnail, then goes with the question.
      expect(await page.locator('#attach').isVisible()).toBe(true);
      const chooser = page.waitForEvent('filechooser');
      await page.locator('#attach').click();
      await (await chooser).setFiles(join(FIXTURES, ATTACHED));
      await expect.poll(() => page.locator('.attachment img').count()).toBe(1);
      const attachedReply = await send(page, QUESTION);
      expect(attachedReply).toBe(shown(reference[`${quant}:${ATTACHED}`]!));
      const userImage = page.locator('.message.user img.message-image');
      expect(await userImage.count()).toBe(1);
      expect(await userImage.first().getAttribute('src')).toBe(dataUrl(ATTACHED));
      expect(await userImage.first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(300);
      // The usage line counts the image's rows: 18 prompt ids - 3 + 6 rows.
      expect(await page.locator('#stat-tokens').textContent()).toContain(`prompt ${reference[`${quant}:${ATTACHED}`]!.promptRows} `);
      await screenshot(page, `vision-chat-attached-${quant}-1280x900`);

      // A new chat (the model takes one image per conversation), then a pasted image.
      await page.locator('#new-chat').click();
      await expect.poll(() => page.locator('.message').count()).toBe(0);
      await pastePng(page.locator('#prompt'), PASTED);
      await expect.poll(() => page.locator('.attachment img').count()).toBe(1);
      const pastedReply = await send(page, QUESTION);
      expect(pastedReply).toBe(shown(reference[`${quant}:${PASTED}`]!));
      expect(await page.locator('.message.user img.message-image').first().getAttribute('src')).toBe(dataUrl(PASTED));
      await screenshot(page, `vision-chat-pasted-${quant}-1280x900`);

      // And dropped on the composer, in a new chat: the attached image's reply again.
      await page.locator('#new-chat').click();
      await expect.poll(() => page.locator('.message').count()).toBe(0);
      await pastePng(page.locator('#composer'), ATTACHED, 'drop');
      await expect.poll(() => page.locator('.attachment img').count()).toBe(1);
      expect(await send(page, QUESTION)).toBe(shown(reference[`${quant}:${ATTACHED}`]!));
      expect(logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
      await page.close();
    });
  }

  it('widget (float32 package on the CPU): an attached image gets the CPU reference\'s reply after the page\'s system prompt', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const logs = watchConsole(page);
    await page.goto(`${server.url}/widget-demo.html`);
    await page.waitForFunction(() => customElements.get('glm-chat') !== undefined);
    await page.evaluate(() => {
      const el = document.querySelector('glm-chat')!;
      const w = window as unknown as { events: string[] };
      w.events = [];
      for (const type of ['ready', 'message', 'error']) el.addEventListener(type, () => w.events.push(type));
      el.setAttribute('model', 'test-models/vision-f32-pkg/');
      el.setAttribute('backend', 'cpu');
      el.setAttribute('temperature', '0');
      el.setAttribute('max-tokens', '12');
    });
    const widget = page.locator('glm-chat');
    await widget.locator('.launcher').click();
    await page.waitForFunction(() => (window as unknown as { events: string[] }).events.length > 0, null, { timeout: 120_000 });
    expect(await page.evaluate(() => (window as unknown as { events: string[] }).events), logs.join('\n')).toEqual(['ready']);
    expect(await widget.locator('.attach').isVisible()).toBe(true);
    const chooser = page.waitForEvent('filechooser');
    await widget.locator('.attach').click();
    await (await chooser).setFiles(join(FIXTURES, ATTACHED));
    await expect.poll(() => widget.locator('.attachments img').count()).toBe(1);
    await widget.locator('textarea').fill(QUESTION);
    await widget.locator('textarea').press('Enter');
    await page.waitForFunction(() => (window as unknown as { events: string[] }).events.length > 1, null, { timeout: 180_000 });
    expect(await page.evaluate(() => (window as unknown as { events: string[] }).events)).toEqual(['ready', 'message']);
    expect(await page.evaluate(() => document.querySelector('glm-chat')!.getAttribute('system-prompt'))).toBe(WIDGET_SYSTEM);
    expect(await widget.locator('.msg.assistant').textContent()).toBe(shown(reference.widget!));
    expect(await widget.locator('.msg.user img').first().getAttribute('src')).toBe(dataUrl(ATTACHED));
    await screenshot(page, 'vision-widget-attached-1280x860');
    expect(logs.filter((l) => l.startsWith('[pageerror]'))).toEqual([]);
    await page.close();
  });
});
