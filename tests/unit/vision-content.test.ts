// Images in chat requests (issue #21), the API side: image_url content parts and their named errors,
// GLM-4V's prompt with an image laid out as THUDM glm-4v-9b's tokenization_chatglm.py builds it,
// usage counting the image's positions, and the engine's refusal of images for a text-only model.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import type { GlmTokenizer } from '../../src/tokenizer/types';
import { validateChatRequest } from '../../src/runtime/request';
import { GlmEngine } from '../../src/runtime/engine';
import type { ChatCompletionContentPart } from '../../src/runtime/api-types';
import {
  checkImagesAllowed, IMAGE_MARK, imageUrlsOf, promptPositions, renderGlm4vChat, visionInfoOf, type VisionInfo,
} from '../../src/vision/content';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';

const PNG = readFileSync(join(import.meta.dirname, '../fixtures/vision-preprocess/rgb-13x7.png'));
const dataUrl = (b: Buffer) => `data:image/png;base64,${b.toString('base64')}`;
type Part = ChatCompletionContentPart | string;
const user = (...content: Part[]) =>
  ({ role: 'user' as const, content: content.length === 1 && typeof content[0] === 'string' ? content[0] : (content as ChatCompletionContentPart[]) });
const image = (url: string) => ({ type: 'image_url' as const, image_url: { url } });
const text = (t: string) => ({ type: 'text' as const, text: t });

/** The error a call throws (its name and message), for asserting named errors. */
function thrown(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message };
  }
  throw new Error('expected a throw');
}

describe('image_url content parts: validation with named errors', () => {
  const check = (content: unknown, role = 'user') => thrown(() => validateChatRequest({ messages: [{ role, content } as never] }, 3013));

  it('accepts data:, blob: and http(s) URLs, with or without detail', () => {
    for (const url of [dataUrl(PNG), 'blob:http://127.0.0.1:5173/0b5e', 'https://example.com/cat.png', 'http://127.0.0.1/x.jpg']) {
      expect(() => validateChatRequest({ messages: [user(text('what is it?'), { type: 'image_url', image_url: { url, detail: 'high' } })] }, 3013)).not.toThrow();
    }
  });

  it('bad URLs are ImageUrlError', () => {
    expect(check([image('file:///etc/passwd')]).name).toBe('ImageUrlError');
    expect(check([image('javascript:alert(1)')]).name).toBe('ImageUrlError');
    expect(check([image('cat.png')]).message).toMatch(/not a data:, blob: or http\(s\) URL/);
    expect(check([image('data:image/png;base64')]).name).toBe('ImageUrlError');
    expect(check([image('https://exa mple.com/a.png')]).name).toBe('ImageUrlError');
    expect(check([{ type: 'image_url', image_url: { url: '' } }]).name).toBe('ImageUrlError');
  });

  it('malformed parts and unknown fields are named errors', () => {
    expect(check([{ type: 'image_url', image_url: 'https://example.com/a.png' }]).name).toBe('InvalidArgumentError');
    expect(check([{ type: 'image_url' }]).name).toBe('InvalidArgumentError');
    expect(check([{ type: 'image_url', image_url: { url: dataUrl(PNG), detail: 'max' } }]).name).toBe('InvalidArgumentError');
    expect(check([{ type: 'image_url', image_url: { url: dataUrl(PNG), size: 3 } }]).name).toBe('UnsupportedFieldError');
    expect(check([{ type: 'image_url', image_url: { url: dataUrl(PNG) }, extra: 1 }]).name).toBe('UnsupportedFieldError');
    expect(check([{ type: 'input_audio', input_audio: {} }]).name).toBe('UnsupportedFieldError');
    expect(check([image(dataUrl(PNG))], 'assistant').message).toMatch(/only user messages carry images/);
    expect(check(`a${IMAGE_MARK}b`).name).toBe('InvalidArgumentError');
  });

  it('imageUrlsOf lists the URLs in message order', () => {
    const urls = imageUrlsOf([user('hi'), user(image('https://a/1.png'), text('x')), user(text('y'), image('https://a/2.png'))]);
    expect(urls).toEqual(['https://a/1.png', 'https://a/2.png']);
  });
});

describe('vision spec and limits', () => {
  it('GLM-4V-9B: 1120 / 14 / 2 = 40 x 40 patches + boi + eoi = 1602 positions an image', () => {
    const v = visionInfoOf({ vision_config: { image_size: 1120, patch_size: 14 }, boi_token_id: 151339, eoi_token_id: 151340 })!;
    expect(v).toEqual({ imageSize: 1120, patchSize: 14, maxImages: 1, tokensPerImage: 1602, boiTokenId: 151339, eoiTokenId: 151340 });
    expect(visionInfoOf({ hidden_size: 4096 })).toBeNull();
    expect(thrown(() => visionInfoOf({ vision_config: { image_size: 1000, patch_size: 14 }, boi_token_id: 1, eoi_token_id: 2 })).name).toBe('InvalidArgumentError');
  });

  it('images to a text-only model: NoVisionTowerError; more than the model takes: TooManyImagesError', () => {
    const v: VisionInfo = { imageSize: 28, patchSize: 7, maxImages: 1, tokensPerImage: 6, boiTokenId: 3010, eoiTokenId: 3011 };
    expect(() => checkImagesAllowed(0, null)).not.toThrow();
    expect(thrown(() => checkImagesAllowed(1, null)).name).toBe('NoVisionTowerError');
    expect(() => checkImagesAllowed(1, v)).not.toThrow();
    expect(thrown(() => checkImagesAllowed(2, v)).name).toBe('TooManyImagesError');
  });
});

describe('GLM-4V prompt with an image (THUDM glm-4v-9b apply_chat_template layout)', () => {
  let tok: GlmTokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer({
      tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'),
      tokenizerConfig: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8'),
    });
  });
  // The fixture vocabulary's specials (tests/fixtures/tokenizer-glm4-mini/tokenizer.json added_tokens).
  const EOT = 3000, GMASK = 3002, SOP = 3004, SYSTEM = 3006, USER = 3007, ASSISTANT = 3008, BOI = 3010, EOI = 3011;

  it('one user message: [gMASK] <sop> <|user|> "\\n" boi eot eoi text <|assistant|>', () => {
    const r = renderGlm4vChat([{ role: 'user', content: `${IMAGE_MARK}What is in the image?` }], tok);
    const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
    expect(r.ids).toEqual([GMASK, SOP, USER, ...enc('\n'), BOI, EOT, EOI, ...enc('What is in the image?'), ASSISTANT]);
    // The prompt string vLLM's GLM-4V examples give for the same turn.
    expect(r.text).toBe('[gMASK]<sop><|user|>\n<|begin_of_image|><|endoftext|><|end_of_image|>What is in the image?<|assistant|>');
    expect(r.images).toBe(1);
  });

  it('the image goes in front of its message text wherever the part was; other messages are plain', () => {
    const r = renderGlm4vChat([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: `Describe ${IMAGE_MARK}it` },
      { role: 'assistant', content: 'A cat.' },
      { role: 'user', content: 'Colour?' },
    ], tok);
    const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
    expect(r.ids).toEqual([
      GMASK, SOP,
      SYSTEM, ...enc('\n'), ...enc('Be brief.'),
      USER, ...enc('\n'), BOI, EOT, EOI, ...enc('Describe it'),
      ASSISTANT, ...enc('\n'), ...enc('A cat.'),
      USER, ...enc('\n'), ...enc('Colour?'),
      ASSISTANT,
    ]);
  });

  it('an image-only message keeps its image; an empty text-only message is dropped (as the reference drops it)', () => {
    const r = renderGlm4vChat([{ role: 'system', content: '' }, { role: 'user', content: IMAGE_MARK }], tok);
    expect(r.ids).toEqual([GMASK, SOP, USER, ...tok.encode('\n', { addSpecialTokens: false }), BOI, EOT, EOI, ASSISTANT]);
  });

  it('prompt positions count each image as tokensPerImage', () => {
    const v: VisionInfo = { imageSize: 28, patchSize: 7, maxImages: 1, tokensPerImage: 6, boiTokenId: BOI, eoiTokenId: EOI };
    const ids = [GMASK, SOP, USER, BOI, EOT, EOI, 5, ASSISTANT];
    expect(promptPositions(ids, v)).toBe(8 - 3 + 6);
    expect(promptPositions(ids, v, 3)).toBe(3);
    expect(promptPositions(ids, null)).toBe(8);
  });
});

describe('engine: images through the chat API', () => {
  let dir: string;
  beforeAll(() => {
    dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-vision-')), 'random'));
  });

  it('a text-only model refuses an image with NoVisionTowerError and keeps working', async () => {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    expect(engine.info().vision).toBeNull();
    await expect(engine.generate({ messages: [user(text('hi'), image(dataUrl(PNG)))], max_tokens: 2 })).rejects.toMatchObject({ name: 'NoVisionTowerError' });
    const after = await engine.generate({ messages: [user('hi')], max_tokens: 2, temperature: 0 });
    expect(after.usage.completion_tokens).toBeGreaterThan(0);
    engine.unload();
  });
  // The engine with a real GLM-4V model (images through the chat API, KV reuse with images, errors): vision-engine.test.ts.
});
