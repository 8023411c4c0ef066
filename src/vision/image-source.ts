// From what a caller has (an image_url string, an ImageBitmap, ImageData, a Blob or bytes) to the
// preprocessed tensor GLM-4V takes: CHW float32, size x size, CLIP-normalized (./preprocess.ts).
// URLs: data: (decoded here), blob: and http(s) (fetched with fetch(), which workers have).
import { platform } from '#platform';
import { ImageDecodeError, ImageTooLargeError, ImageUrlError } from '../errors';
import { checkImageBytes, DEFAULT_IMAGE_LIMITS, type ImageLimits } from './image-type';
import { preprocessPixels, type DecodedPixels } from './preprocess';

/** ImageData's shape (browsers' ImageData, or any RGBA byte array with its size). */
export interface ImageDataLike {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

export type ImageInput = string | Blob | Uint8Array | ImageDataLike | ImageBitmap;

const URL_SCHEMES = ['data:', 'blob:', 'http:', 'https:'];

/** Checks an image_url without reading it: one of the schemes this engine reads, and well formed. */
export function checkImageUrl(url: unknown, where = 'image_url.url'): string {
  if (typeof url !== 'string' || url.length === 0) throw new ImageUrlError(`${where} must be a non-empty string (a data:, blob: or http(s) URL)`);
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0]?.toLowerCase();
  if (!scheme || !URL_SCHEMES.includes(scheme)) {
    const shown = url.length > 60 ? `${url.slice(0, 60)}...` : url;
    throw new ImageUrlError(`${where} "${shown}" is not a data:, blob: or http(s) URL; give the image inline as data:image/png;base64,... or by URL`);
  }
  if (scheme === 'data:' && !/^data:[^,]*,/i.test(url)) throw new ImageUrlError(`${where} is a data: URL without a comma before its data`);
  if (scheme !== 'data:') {
    try {
      new URL(url);
    } catch {
      throw new ImageUrlError(`${where} is not a valid URL`);
    }
  }
  return url;
}

/** The bytes and media type a data: URL carries (base64 or percent-encoded). */
export function parseDataUrl(url: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): { bytes: Uint8Array; mediaType: string | null } {
  const comma = url.indexOf(',');
  const header = url.slice(5, comma);
  const body = url.slice(comma + 1);
  const base64 = /;base64$/i.test(header);
  const mediaType = header.replace(/;base64$/i, '').split(';')[0]!.trim() || null;
  // Refuse before decoding: a base64 body is 4/3 of its bytes.
  const estimated = base64 ? Math.floor((body.length * 3) / 4) : body.length;
  if (estimated > limits.maxBytes + 2) throw new ImageTooLargeError(`the data: URL holds about ${estimated} bytes, over the limit of ${limits.maxBytes}: downscale or recompress the image`);
  if (!base64) return { bytes: new TextEncoder().encode(decodeURIComponent(body)), mediaType };
  const clean = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw new ImageUrlError('the data: URL says base64, but its data is not base64');
  const binary = atob(clean.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return { bytes, mediaType };
}

/** Reads a response body, stopping as soon as it passes the byte limit (a huge image never sits in memory whole). */
async function readLimited(res: Response, limits: ImageLimits): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limits.maxBytes) {
    throw new ImageTooLargeError(`the image is ${declared} bytes, over the limit of ${limits.maxBytes}: downscale or recompress it`);
  }
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limits.maxBytes) {
      await reader.cancel();
      throw new ImageTooLargeError(`the image is over the limit of ${limits.maxBytes} bytes: downscale or recompress it`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The encoded bytes behind an image_url (data: decoded here, blob: and http(s) fetched). */
export async function fetchImageBytes(
  url: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS, signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; mediaType: string | null }> {
  checkImageUrl(url);
  if (url.slice(0, 5).toLowerCase() === 'data:') return parseDataUrl(url, limits);
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw new ImageUrlError(`the image at ${url} could not be fetched (${(err as Error).message}); check the URL, and that its server allows this page (CORS)`, { cause: err });
  }
  if (!res.ok) throw new ImageUrlError(`the image at ${url} could not be fetched: HTTP ${res.status}`);
  return { bytes: await readLimited(res, limits), mediaType: res.headers.get('content-type') };
}

/** Decoded pixels of any image input, within the limits. */
export async function imagePixels(input: ImageInput, limits: ImageLimits = DEFAULT_IMAGE_LIMITS, signal?: AbortSignal): Promise<DecodedPixels> {
  if (typeof input === 'string') {
    const { bytes, mediaType } = await fetchImageBytes(input, limits, signal);
    return decodeBytes(bytes, mediaType, limits);
  }
  if (input instanceof Uint8Array) return decodeBytes(input, null, limits);
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    if (input.size > limits.maxBytes) throw new ImageTooLargeError(`the image is ${input.size} bytes, over the limit of ${limits.maxBytes}: downscale or recompress it`);
    return decodeBytes(new Uint8Array(await input.arrayBuffer()), input.type || null, limits);
  }
  if ('data' in input) {
    checkPixelCount(input.width, input.height, limits);
    if (input.data.length !== input.width * input.height * 4) {
      throw new ImageDecodeError(`ImageData of ${input.width}x${input.height} must hold ${input.width * input.height * 4} RGBA bytes, it holds ${input.data.length}`);
    }
    return { width: input.width, height: input.height, channels: 4, data: input.data };
  }
  const bitmap = input as ImageBitmap;
  checkPixelCount(bitmap.width, bitmap.height, limits);
  return platform.bitmapPixels(bitmap);
}

function checkPixelCount(width: number, height: number, limits: ImageLimits): void {
  if (width * height > limits.maxPixels) throw new ImageTooLargeError(`the image is ${width}x${height} pixels, over the limit of ${limits.maxPixels}: downscale it`);
  if (!(width >= 1 && height >= 1)) throw new ImageDecodeError(`an image of ${width}x${height} pixels has nothing to look at`);
}

async function decodeBytes(bytes: Uint8Array, mediaType: string | null, limits: ImageLimits): Promise<DecodedPixels> {
  const type = checkImageBytes(bytes, mediaType, platform.name, limits);
  const px = await platform.decodeImage(bytes, type, limits.maxPixels);
  checkPixelCount(px.width, px.height, limits);
  return px;
}

/**
 * The model input for one image: decoded, converted to RGB, resized to `size` x `size` with Pillow's
 * bicubic filter, CLIP-normalized; CHW float32 (3 * size * size values).
 */
export async function preprocessImage(
  input: ImageInput, size: number, limits: ImageLimits = DEFAULT_IMAGE_LIMITS, signal?: AbortSignal,
): Promise<Float32Array> {
  return preprocessPixels(await imagePixels(input, limits, signal), size);
}
