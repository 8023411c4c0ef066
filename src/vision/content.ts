// Images in chat messages (issue #21): OpenAI's `image_url` content parts, checked; what a loaded model
// can take (its vision spec); and GLM-4V's prompt with images, laid out as THUDM's glm-4v-9b
// tokenization_chatglm.py apply_chat_template does it:
//
//   [gMASK] <sop> { <|role|> encode(metadata + "\n") [<|begin_of_image|> <|endoftext|> <|end_of_image|>] encode(content) }* <|assistant|>
//
// The three image ids stand for the image: the model replaces them by the vision tower's output, which
// begins and ends with the boi/eoi embeddings and holds (image_size / patch_size / 2)^2 patch features
// in between (modeling_chatglm.py), so one image takes `tokensPerImage` positions of the context.
import { ChatTemplateError } from '../tokenizer/errors';
import { InvalidArgumentError, TooManyImagesError, UnsupportedFieldError, NoVisionTowerError } from '../errors';
import type { ChatMessage } from '../tokenizer/chat';
import type { GlmTokenizer } from '../tokenizer/types';
import { checkImageUrl } from './image-source';

/**
 * Where an image part stood in a message's text, while the messages go through the tool and knowledge
 * steps as plain text (private-use characters, refused in user text): renderGlm4vChat turns it into the
 * image ids. It never reaches a tokenizer.
 */
export const IMAGE_MARK = '\uE000image\uE001';

/** OpenAI's `detail` is accepted and has no effect: GLM-4V sees every image at its one configured size. */
const DETAILS = ['auto', 'low', 'high'];

/** Checks one `{type: 'image_url', image_url: {url, detail?}}` part; returns its URL. */
export function checkImagePart(part: unknown, where: string): string {
  const p = part as { type?: unknown; image_url?: unknown };
  for (const key of Object.keys(p)) if (key !== 'type' && key !== 'image_url') throw new UnsupportedFieldError(`${where} field "${key}" is not supported`);
  const image = p.image_url as { url?: unknown; detail?: unknown } | string | null | undefined;
  if (typeof image === 'string') throw new InvalidArgumentError(`${where}: image_url must be an object {url}, not a string`);
  if (!image || typeof image !== 'object') throw new InvalidArgumentError(`${where}: an image_url part needs image_url: {url}`);
  for (const key of Object.keys(image)) if (key !== 'url' && key !== 'detail') throw new UnsupportedFieldError(`${where} image_url field "${key}" is not supported`);
  if (image.detail !== undefined && !DETAILS.includes(image.detail as string)) {
    throw new InvalidArgumentError(`${where}: image_url.detail must be one of ${DETAILS.join(', ')}`);
  }
  return checkImageUrl(image.url, `${where} image_url.url`);
}

/** A text part must not carry the image mark (it would become an image). */
export function checkTextPart(text: string, where: string): string {
  if (text.includes(IMAGE_MARK)) throw new InvalidArgumentError(`${where} contains the private-use characters U+E000/U+E001 around "image", which the engine reserves`);
  return text;
}

interface MessageLike {
  content?: string | null | ReadonlyArray<unknown>;
}

/** The image URLs of a request's messages, in order (parts already checked by validateChatRequest). */
export function imageUrlsOf(messages: readonly MessageLike[]): string[] {
  const urls: string[] = [];
  messages.forEach((m, i) => {
    if (!Array.isArray(m.content)) return;
    m.content.forEach((part, j) => {
      if ((part as { type?: unknown })?.type === 'image_url') urls.push(checkImagePart(part, `message ${i} content part ${j}`));
    });
  });
  return urls;
}

/** What a loaded model takes as images (null: no vision tower). Pages show the attach button from it. */
export interface VisionInfo {
  /** Every image is resized to imageSize x imageSize (config vision_config.image_size; GLM-4V-9B: 1120). */
  imageSize: number;
  patchSize: number;
  /** Images per conversation: 1 for GLM-4V-9B (its reference code takes one image per conversation). */
  maxImages: number;
  /** Context positions one image takes: (imageSize / patchSize / 2)^2 patch features + boi + eoi (GLM-4V-9B: 1602). */
  tokensPerImage: number;
  boiTokenId: number;
  eoiTokenId: number;
}

/** GLM-4V's reference takes one image per conversation (apply_chat_template asserts it). */
export const GLM4V_MAX_IMAGES = 1;

/**
 * The vision spec of a GLM-4V config.json (`vision_config` with image_size and patch_size; `boi_token_id`,
 * `eoi_token_id`), or null for a text-only config. Whether the loaded backend runs the tower is the
 * engine's question (GlmEngine.info().vision).
 */
export function visionInfoOf(rawConfig: Record<string, unknown>, tokenizer?: Pick<GlmTokenizer, 'specialIds'>): VisionInfo | null {
  const vc = rawConfig.vision_config as { image_size?: unknown; patch_size?: unknown } | undefined;
  if (!vc || typeof vc !== 'object') return null;
  const imageSize = vc.image_size;
  const patchSize = vc.patch_size;
  if (typeof imageSize !== 'number' || typeof patchSize !== 'number' || !Number.isInteger(imageSize) || !Number.isInteger(patchSize) || patchSize < 1 || imageSize % (2 * patchSize) !== 0) {
    throw new InvalidArgumentError(`vision_config needs integer image_size and patch_size with image_size a multiple of 2 x patch_size, got ${imageSize} and ${patchSize}`);
  }
  const id = (key: string, spelling: string) => {
    const v = rawConfig[key] ?? tokenizer?.specialIds[spelling];
    if (typeof v !== 'number') throw new InvalidArgumentError(`a GLM-4V config needs ${key} (the id of ${spelling})`);
    return v;
  };
  const side = imageSize / patchSize / 2;
  return {
    imageSize,
    patchSize,
    maxImages: GLM4V_MAX_IMAGES,
    tokensPerImage: side * side + 2,
    boiTokenId: id('boi_token_id', '<|begin_of_image|>'),
    eoiTokenId: id('eoi_token_id', '<|end_of_image|>'),
  };
}

/** Refuses images the loaded model cannot take, before any work is done for them. */
export function checkImagesAllowed(count: number, vision: VisionInfo | null): void {
  if (count === 0) return;
  if (!vision) {
    throw new NoVisionTowerError(`the message has ${count === 1 ? 'an image' : `${count} images`}, but the loaded model has no vision tower: load a GLM-4V model, or send text only`);
  }
  if (count > vision.maxImages) {
    throw new TooManyImagesError(`the conversation has ${count} images; this model takes ${vision.maxImages} per conversation: send one image, or start a new chat for the next`);
  }
}

function special(tokenizer: GlmTokenizer, spelling: string): number {
  const id = tokenizer.specialIds[spelling] ?? tokenizer.tokenToId(spelling);
  if (id === undefined) throw new ChatTemplateError(`the GLM-4V prompt needs the token ${spelling}, which the vocabulary lacks`);
  return id;
}

/**
 * GLM-4V's prompt ids (see the top of this file). A message's images (IMAGE_MARK in its text) go in front
 * of its text, whatever their place among the parts, as the reference puts them. One difference: the
 * reference drops a message whose text is empty, image and all; here an image-only message keeps its
 * image (with empty text), since dropping it would lose the image.
 */
export function renderGlm4vChat(messages: readonly ChatMessage[], tokenizer: GlmTokenizer): { ids: number[]; text: string; images: number } {
  const last = messages[messages.length - 1];
  if (!last || last.role === 'assistant') throw new ChatTemplateError('the last message must not be the assistant\'s: the prompt ends where the assistant\'s reply begins');
  const imageIds = [special(tokenizer, '<|begin_of_image|>'), special(tokenizer, '<|endoftext|>'), special(tokenizer, '<|end_of_image|>')];
  const ids = [special(tokenizer, '[gMASK]'), special(tokenizer, '<sop>')];
  let text = '[gMASK]<sop>';
  let images = 0;
  for (const m of messages) {
    const parts = m.content.split(IMAGE_MARK);
    const content = parts.join('');
    const count = parts.length - 1;
    if (!content && count === 0) continue;
    ids.push(special(tokenizer, `<|${m.role}|>`), ...tokenizer.encode(`${m.metadata ?? ''}\n`, { addSpecialTokens: false }));
    text += `<|${m.role}|>${m.metadata ?? ''}\n`;
    for (let i = 0; i < count; i++) {
      ids.push(...imageIds);
      text += '<|begin_of_image|><|endoftext|><|end_of_image|>';
    }
    ids.push(...tokenizer.encode(content, { addSpecialTokens: false }));
    text += content;
    images += count;
  }
  ids.push(special(tokenizer, '<|assistant|>'));
  return { ids, text: `${text}<|assistant|>`, images };
}

/**
 * Context positions of a prompt: its ids, with each image's three ids counted as the image's
 * tokensPerImage positions (usage.prompt_tokens, the context check). `upTo` counts a prefix only.
 */
export function promptPositions(ids: readonly number[], vision: VisionInfo | null, upTo = ids.length): number {
  if (!vision) return upTo;
  let n = upTo;
  for (let i = 0; i < upTo; i++) if (ids[i] === vision.boiTokenId) n += vision.tokensPerImage - 3;
  return n;
}
