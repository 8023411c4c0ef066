// The engine with a real tiny GLM-4V model on the CPU (tests/helpers/tiny-vision-model.ts: THUDM's tiny
// fixture + the GLM-4 mini tokenizer):
// - generateFromPrompt({ids, images}): the reference's greedy ids, usage counting the image rows;
// - the chat API with an image_url part: the same ids as the session API directly (the CPU reference),
//   KV reuse across turns with the image kept (and its reply equal to a fresh engine's), a different image
//   cutting the cache at the image, and named errors that leave the engine answering as before.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { GlmEngine } from '../../src/runtime/engine';
import { createEngine } from '../../src/worker/client';
import { renderChat } from '../../src/tokenizer/chat';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { renderGlm4vChat } from '../../src/vision/content';
import type { ChatCompletionMessageParam, ChatCompletionRequest } from '../../src/runtime/api-types';
import type { ModelSession } from '../../src/runtime/session';
import { glm4vExpected, glm4vImage } from '../helpers/glm4v-fixture';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { visionReference, writeTinyVisionModel, type VisionReference } from '../helpers/tiny-vision-model';

const FIXTURES = join(import.meta.dirname, '../fixtures/vision-preprocess');
const dataUrl = (name: string) => `data:image/${name.endsWith('.jpg') ? 'jpeg' : 'png'};base64,${readFileSync(join(FIXTURES, name)).toString('base64')}`;
const IMAGE = dataUrl('rgb-300x200.png');
const OTHER_IMAGE = dataUrl('rgb-37x23.png');
const QUESTION = 'What is in the picture?';
const MAX_TOKENS = 8;
/** Tower rows of one image of the fixture: (56 / 14 / 2)² patches + boi + eoi. */
const IMAGE_ROWS = 6;

const withImage = (url: string, text: string): ChatCompletionMessageParam => ({
  role: 'user',
  content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text }],
});
const greedy = (messages: ChatCompletionMessageParam[], maxTokens = MAX_TOKENS): ChatCompletionRequest & { stream: false } => ({
  messages, temperature: 0, max_tokens: maxTokens, stream: false,
});

describe('engine with a GLM-4V model (CPU)', () => {
  const e = glm4vExpected();
  let dir: string;
  let textDir: string;
  let reference: VisionReference;

  beforeAll(async () => {
    const root = mkdtempSync(resolve(tmpdir(), 'glm4v-engine-'));
    dir = writeTinyVisionModel(resolve(root, 'glm4v'));
    textDir = writeTinyChatModel(resolve(root, 'text'));
    reference = await visionReference(dir, IMAGE, QUESTION, MAX_TOKENS);
  });

  /** A GlmEngine on the tiny GLM-4V, and a record of the images each appendPrompt call of its session got. */
  async function watchedEngine(): Promise<{ engine: GlmEngine; imagesPerCall: number[] }> {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    const session = (engine as unknown as { loaded: { session: ModelSession<unknown, unknown, unknown> } }).loaded.session;
    const imagesPerCall: number[] = [];
    const appendPrompt = session.appendPrompt.bind(session);
    vi.spyOn(session, 'appendPrompt').mockImplementation((prompt, want, control) => {
      imagesPerCall.push(prompt.images?.length ?? 0);
      return appendPrompt(prompt, want, control);
    });
    return { engine, imagesPerCall };
  }

  it('the reply to a prompt with an image is the reference\'s greedy continuation; usage counts the image rows', async () => {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    const { completion, ids } = await engine.generateFromPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, { temperature: 0, max_tokens: 4 });
    expect(ids).toEqual(e.greedy_ids.slice(0, ids.length));
    expect(ids.length).toBeGreaterThan(0);
    expect(completion.usage.prompt_tokens).toBe(e.prompt_logits.length); // 12 ids - 3 + 6 image rows
    // The same prompt again: the cache holds the image's rows; the image is the same, so they are kept.
    const again = await engine.generateFromPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, { temperature: 0, max_tokens: 4 });
    expect(again.ids).toEqual(ids);
    expect(again.completion.usage.prompt_tokens_details.cached_tokens).toBe(e.prompt_logits.length - 1);
    engine.unload();
  });

  it('text-only turns: the tokenizer\'s chat template writes the same prompt as GLM-4V\'s image layout without an image', async () => {
    const tok = await loadTokenizer({
      tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'),
      tokenizerConfig: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8'),
    });
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: QUESTION },
      { role: 'assistant' as const, content: 'A cat.' },
      { role: 'user' as const, content: 'And the colour?' },
    ];
    expect(renderChat('glm4', messages, tok).ids).toEqual(renderGlm4vChat(messages, tok).ids);
  });

  it('chat API with an image_url part: the same ids as the session API directly; usage counts the image rows', async () => {
    expect(reference.ids.length).toBeGreaterThan(0);
    const engine = await createEngine({ inThread: true });
    const info = await engine.load(dir, { backend: 'cpu' });
    expect(info.vision).toMatchObject({ imageSize: 56, patchSize: 14, maxImages: 1, tokensPerImage: IMAGE_ROWS, boiTokenId: 3010, eoiTokenId: 3011 });
    const reply = await engine.chat.completions.create(greedy([withImage(IMAGE, QUESTION)]));
    expect(reply.choices[0]!.message.content).toBe(reference.text);
    expect(reply.usage.completion_tokens).toBe(reference.ids.length);
    expect(reply.usage.prompt_tokens).toBe(reference.promptIds.length - 3 + IMAGE_ROWS);
    expect(reply.usage.prompt_tokens).toBe(reference.promptRows);
    // Streamed: the same text, and the usage chunk counts the image too.
    await engine.resetChat();
    const stream = await engine.chat.completions.create({ ...greedy([withImage(IMAGE, QUESTION)]), stream: true, stream_options: { include_usage: true } });
    let streamed = '';
    let promptTokens = 0;
    for await (const c of stream) {
      streamed += c.choices[0]?.delta.content ?? '';
      if (c.usage) promptTokens = c.usage.prompt_tokens;
    }
    expect(streamed).toBe(reference.text);
    expect(promptTokens).toBe(reference.promptRows);
    // A JPEG goes the same way (decoded by the engine's JPEG decoder).
    const jpeg = await engine.chat.completions.create(greedy([withImage(dataUrl('rgb-33x21.jpg'), QUESTION)]));
    expect(jpeg.choices[0]!.message.content).toBe((await visionReference(dir, dataUrl('rgb-33x21.jpg'), QUESTION, MAX_TOKENS)).text);
    await engine.terminate();
  });

  it('the ids the engine generates are the reference\'s (generateWithIds)', async () => {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    const { ids } = await engine.generateWithIds(greedy([withImage(IMAGE, QUESTION)]));
    expect(ids).toEqual(reference.ids);
    engine.unload();
  });

  it('a second turn with the same image reuses the cached image (no re-encode) and answers like a fresh engine', async () => {
    const { engine, imagesPerCall } = await watchedEngine();
    const first = await engine.generate(greedy([withImage(IMAGE, QUESTION)]));
    expect(imagesPerCall).toEqual([1]);
    const boi = reference.promptIds.indexOf(3010);
    const conversation = [withImage(IMAGE, QUESTION), { role: 'assistant' as const, content: first.choices[0]!.message.content }, { role: 'user' as const, content: 'Tell me more.' }];
    const second = await engine.generate(greedy(conversation));
    // The image's rows were kept: the cache covers the prompt past the image, and the image was not sent again.
    expect(engine.stats().lastReusedTokens).toBeGreaterThanOrEqual(boi + IMAGE_ROWS);
    expect(second.usage.prompt_tokens_details.cached_tokens).toBe(engine.stats().lastReusedTokens);
    expect(engine.stats().lastPrefilledTokens).toBe(second.usage.prompt_tokens - engine.stats().lastReusedTokens);
    expect(imagesPerCall).toEqual([1, 0]);

    const fresh = new GlmEngine();
    await fresh.load(dir, { backend: 'cpu' });
    const whole = await fresh.generate(greedy(conversation));
    expect(fresh.stats().lastReusedTokens).toBe(0);
    expect(second.choices[0]!.message.content).toBe(whole.choices[0]!.message.content);
    expect(second.usage.prompt_tokens).toBe(whole.usage.prompt_tokens);
    fresh.unload();
    engine.unload();
  });

  it('a different image with the same ids cuts the cache at the image; the reply is the new image\'s', async () => {
    const { engine, imagesPerCall } = await watchedEngine();
    await engine.generate(greedy([withImage(IMAGE, QUESTION)]));
    const other = await engine.generate(greedy([withImage(OTHER_IMAGE, QUESTION)]));
    expect(other.usage.prompt_tokens_details.cached_tokens).toBe(reference.promptIds.indexOf(3010));
    expect(imagesPerCall).toEqual([1, 1]);
    expect(other.choices[0]!.message.content).toBe((await visionReference(dir, OTHER_IMAGE, QUESTION, MAX_TOKENS)).text);
    // And back to the first image: cut at the image again, the first reply again.
    const back = await engine.generate(greedy([withImage(IMAGE, QUESTION)]));
    expect(back.usage.prompt_tokens_details.cached_tokens).toBe(reference.promptIds.indexOf(3010));
    expect(back.choices[0]!.message.content).toBe(reference.text);
    engine.unload();
  });

  it('an image in the second turn after a text-only first: the text turn stays cached; an image alone is a message', async () => {
    const { engine, imagesPerCall } = await watchedEngine();
    const hello = await engine.generate(greedy([{ role: 'user', content: 'Hello.' }]));
    const conversation = [{ role: 'user' as const, content: 'Hello.' }, { role: 'assistant' as const, content: hello.choices[0]!.message.content }, withImage(IMAGE, QUESTION)];
    const second = await engine.generate(greedy(conversation));
    // The first turn was rendered by the Jinja template, the second by GLM-4V's layout: the same ids, so it is reused.
    expect(second.usage.prompt_tokens_details.cached_tokens).toBeGreaterThanOrEqual(hello.usage.prompt_tokens);
    expect(imagesPerCall).toEqual([0, 1]);
    const fresh = new GlmEngine();
    await fresh.load(dir, { backend: 'cpu' });
    expect((await fresh.generate(greedy(conversation))).choices[0]!.message.content).toBe(second.choices[0]!.message.content);
    // A message with an image and no text (the pages send one when only an image is attached).
    fresh.resetChat();
    const alone = await fresh.generate(greedy([{ role: 'user', content: [{ type: 'image_url', image_url: { url: IMAGE } }] }]));
    expect(alone.choices[0]!.message.content).toBe((await visionReference(dir, IMAGE, '', MAX_TOKENS)).text);
    fresh.unload();
    engine.unload();
  });

  it('too many images and undecodable images are named errors; the engine then answers as before, its cache intact', async () => {
    const { engine, imagesPerCall } = await watchedEngine();
    await engine.generate(greedy([withImage(IMAGE, QUESTION)]));
    const cached = engine.counters().cachedTokens;
    const two: ChatCompletionMessageParam = { role: 'user', content: [{ type: 'image_url', image_url: { url: IMAGE } }, { type: 'image_url', image_url: { url: OTHER_IMAGE } }] };
    await expect(engine.generate(greedy([two]))).rejects.toMatchObject({ name: 'TooManyImagesError' });
    const truncated = `data:image/png;base64,${readFileSync(join(FIXTURES, 'rgb-13x7.png')).subarray(0, 40).toString('base64')}`;
    await expect(engine.generate(greedy([withImage(truncated, QUESTION)]))).rejects.toMatchObject({ name: 'ImageDecodeError' });
    await expect(engine.generate(greedy([withImage('data:image/png;base64,AAAA', QUESTION)]))).rejects.toMatchObject({ name: 'UnsupportedImageTypeError' });
    await expect(engine.generate(greedy([withImage('data:text/html,<b>hi</b>', QUESTION)]))).rejects.toMatchObject({ name: 'UnsupportedImageTypeError' });
    expect(engine.counters().cachedTokens).toBe(cached);
    expect(imagesPerCall).toEqual([1]); // nothing reached the model
    // The same request again: the whole prompt but its last row comes from the cache, and the reply is the reference's.
    const again = await engine.generate(greedy([withImage(IMAGE, QUESTION)]));
    expect(again.usage.prompt_tokens_details.cached_tokens).toBe(reference.promptRows - 1);
    expect(again.choices[0]!.message.content).toBe(reference.text);
    engine.unload();
  });

  it('images for a text-only model: NoVisionTowerError, and the engine still answers', async () => {
    const engine = new GlmEngine();
    await engine.load(textDir, { backend: 'cpu' });
    const ids = engine.tokenize('hello');
    await expect(engine.generateFromPrompt({ ids, images: [glm4vImage()] }, { temperature: 0, max_tokens: 4 })).rejects.toMatchObject({ name: 'NoVisionTowerError' });
    await expect(engine.generate(greedy([withImage(IMAGE, QUESTION)]))).rejects.toMatchObject({ name: 'NoVisionTowerError' });
    const ok = await engine.generateFromPrompt({ ids }, { temperature: 0, max_tokens: 4 });
    expect(ok.completion.choices[0]!.finish_reason).toBeTruthy();
    engine.unload();
  });

  it('a wrong image size: ImageInputError naming the expected shape, and the next request works', async () => {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    const wrongSize = new Float32Array(3 * 28 * 28);
    await expect(engine.generateFromPrompt({ ids: e.prompt_ids, images: [wrongSize] }, { temperature: 0, max_tokens: 4 })).rejects.toMatchObject({
      name: 'ImageInputError',
      message: /3x56x56/,
    });
    const { ids } = await engine.generateFromPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, { temperature: 0, max_tokens: 4 });
    expect(ids).toEqual(e.greedy_ids.slice(0, ids.length));
    engine.unload();
  });
});
