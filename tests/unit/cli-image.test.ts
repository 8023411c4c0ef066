// CLI --image (issue #21): the file goes into the chat message as an image_url part; with the tiny GLM-4V
// (tests/helpers/tiny-vision-model.ts) `generate --chat --image` and `chat --image` answer like the engine and
// the CPU reference; a text-only model refuses it by name, bad uses are usage errors, and an unreadable file
// is named before the model loads.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';
import { visionReference, writeTinyVisionModel } from '../helpers/tiny-vision-model';
import { imageFileDataUrl } from '../../src/cli/image-file';
import { chatLoop } from '../../src/cli/chat-commands';
import { GlmEngine } from '../../src/runtime/engine';
import { userMessage } from '../../src/vision/message';
import { Readable } from 'node:stream';

const PNG = join(import.meta.dirname, '../fixtures/vision-preprocess/rgb-13x7.png');
const JPG = join(import.meta.dirname, '../fixtures/vision-preprocess/rgb-33x21.jpg');

describe('CLI --image', () => {
  let model: string;
  let visionModel: string;
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(resolve(tmpdir(), 'glm-cli-image-'));
    model = writeTinyChatModel(resolve(tmp, 'random'));
    visionModel = writeTinyVisionModel(resolve(tmp, 'glm4v'));
  });

  const QUESTION = 'What is in the picture?';

  it('generate --chat --image with a GLM-4V model: the engine\'s ids and reply, which are the CPU reference\'s', async () => {
    const reference = await visionReference(visionModel, imageFileDataUrl(PNG), QUESTION, 8);
    const engine = new GlmEngine();
    await engine.load(visionModel, { backend: 'cpu' });
    const direct = await engine.generateWithIds({ messages: [userMessage(QUESTION, [imageFileDataUrl(PNG)])], max_tokens: 8, temperature: 0 });
    engine.unload();
    expect(direct.ids).toEqual(reference.ids);
    const args = ['generate', '--model', visionModel, '--backend', 'cpu', '--prompt', QUESTION, '--chat', '--image', PNG, '--max-new-tokens', '8'];
    const json = await runCli([...args, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout) as { ids: number[]; text: string; usage: { prompt_tokens: number } };
    expect(out.ids).toEqual(direct.ids);
    expect(out.text).toBe(direct.completion.choices[0]!.message.content);
    expect(out.usage.prompt_tokens).toBe(reference.promptRows);
    const streamed = await runCli(args);
    expect(streamed.code, streamed.stderr).toBe(0);
    expect(streamed.stdout).toBe(`${reference.text}\n`);
  });

  it('chat --image with a GLM-4V model: the first turn carries the image and gets the reference\'s reply', async () => {
    const reference = await visionReference(visionModel, imageFileDataUrl(JPG), QUESTION, 6);
    const engine = new GlmEngine();
    await engine.load(visionModel, { backend: 'cpu' });
    let out = '';
    const input = Object.assign(Readable.from([`${QUESTION}\n`]), { isTTY: false });
    await chatLoop(engine, { maxNewTokens: 6, temperature: 0, image: imageFileDataUrl(JPG) }, input, (s) => {
      out += s;
    });
    expect(out.split('\n')[1]).toBe(`glm> ${reference.text}`);
    expect(engine.stats().lastPrefilledTokens).toBe(reference.promptRows);
    engine.unload();
  });

  it('reads the file as a data: URL typed by its bytes', () => {
    expect(imageFileDataUrl(PNG).startsWith('data:image/png;base64,iVBOR')).toBe(true);
    expect(imageFileDataUrl(JPG).startsWith('data:image/jpeg;base64,/9j/')).toBe(true);
    const txt = join(tmp, 'notes.png');
    writeFileSync(txt, 'not an image');
    expect(imageFileDataUrl(txt).startsWith('data:application/octet-stream;base64,')).toBe(true);
  });

  it('generate --chat --image on a text-only model: NoVisionTowerError', async () => {
    const r = await runCli(['generate', '--model', model, '--prompt', 'What is this?', '--chat', '--image', PNG]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/NoVisionTowerError/);
  });

  it('chat: the image goes with the first message (a text-only model refuses it by name)', async () => {
    const engine = new GlmEngine();
    await engine.load(model, { backend: 'cpu' });
    let out = '';
    const input = Object.assign(Readable.from(['hi\n']), { isTTY: false });
    await expect(chatLoop(engine, { maxNewTokens: 2, temperature: 0, image: imageFileDataUrl(PNG) }, input, (s) => {
      out += s;
    })).rejects.toMatchObject({ name: 'NoVisionTowerError' });
    expect(out).toMatch(/glm> $/);
    engine.unload();
  });

  it('usage errors: --image without --chat, a missing file', async () => {
    const noChat = await runCli(['generate', '--model', model, '--prompt', 'x', '--image', PNG]);
    expect(noChat.code).toBe(2);
    expect(noChat.stderr).toMatch(/--image needs --chat/);
    const missing = await runCli(['generate', '--model', model, '--prompt', 'x', '--chat', '--image', join(tmp, 'nope.png')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the file/);
  });
});
