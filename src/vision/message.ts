// Building a user message with images, as pages and apps send it (OpenAI's content parts), and reading
// an attached file as a data: URL. The model sees a message's images in front of its text (GLM-4V's
// layout), so the parts are built in that order.
import { ImageTooLargeError, UnsupportedImageTypeError } from '../errors';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from '../runtime/api-types';
import { DECODABLE_TYPES, DEFAULT_IMAGE_LIMITS, mediaTypeOf, type ImageLimits } from './image-type';

/** A user message: plain text without images; with images, image_url parts then one text part. */
export function userMessage(text: string, imageUrls: readonly string[] = []): ChatCompletionMessageParam {
  if (imageUrls.length === 0) return { role: 'user', content: text };
  const parts: ChatCompletionContentPart[] = imageUrls.map((url) => ({ type: 'image_url', image_url: { url } }));
  if (text !== '') parts.push({ type: 'text', text });
  return { role: 'user', content: parts };
}

/** The image URLs of a message (its image_url parts), for showing them or counting them. */
export function messageImageUrls(m: ChatCompletionMessageParam): string[] {
  if (!Array.isArray(m.content)) return [];
  return m.content.flatMap((p) => (p.type === 'image_url' ? [p.image_url.url] : []));
}

/** Media types a browser page may offer in its file picker (the accept attribute). */
export const ATTACHABLE_IMAGE_TYPES: readonly string[] = DECODABLE_TYPES.browser.map(mediaTypeOf);

/**
 * A picked, pasted or dropped file as a data: URL, after the checks a page can make before sending
 * (type and size); the engine checks the bytes again.
 */
export async function imageFileToDataUrl(file: Blob, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<string> {
  if (!ATTACHABLE_IMAGE_TYPES.includes(file.type)) {
    throw new UnsupportedImageTypeError(`${file.type || 'this file'} is not an image this engine reads; attach one of ${ATTACHABLE_IMAGE_TYPES.join(', ')}`);
  }
  if (file.size > limits.maxBytes) {
    throw new ImageTooLargeError(`the image is ${file.size} bytes, over the limit of ${limits.maxBytes}: downscale or recompress it`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:${file.type};base64,${btoa(binary)}`;
}
