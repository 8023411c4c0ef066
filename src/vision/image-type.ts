// What an image is (by its first bytes, not by what a URL or file name claims) and the limits every
// image must keep, on both platforms.
import { ImageTooLargeError, UnsupportedImageTypeError } from '../errors';

export type ImageType = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'avif';

/** Types each platform decodes: JavaScript decoders under Node; the browser's own decoders in pages and workers. */
export const DECODABLE_TYPES: Record<'node' | 'browser', readonly ImageType[]> = {
  node: ['png', 'jpeg'],
  browser: ['png', 'jpeg', 'gif', 'webp', 'bmp', 'avif'],
};

export interface ImageLimits {
  /** Largest encoded image in bytes. */
  maxBytes: number;
  /** Largest decoded image in pixels (width x height); decoding holds 4 bytes a pixel. */
  maxPixels: number;
}

/**
 * 20 MiB (OpenAI's own cap on an image input) and 64 megapixels (8192 x 8192): far above what GLM-4V
 * looks at (1120 x 1120), yet a decoded image stays within 256 MiB.
 */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxBytes: 20 * 1024 * 1024, maxPixels: 8192 * 8192 };

/** The image type of these bytes by their signature, or null for anything else. */
export function sniffImageType(b: Uint8Array): ImageType | null {
  const at = (i: number, ...bytes: number[]) => bytes.every((v, j) => b[i + j] === v);
  const ascii = (i: number, s: string) => at(i, ...[...s].map((c) => c.charCodeAt(0)));
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'BM') && b.length >= 26) return 'bmp';
  if (ascii(4, 'ftypavif') || ascii(4, 'ftypavis')) return 'avif';
  return null;
}

const MEDIA_TYPES: Record<ImageType, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  avif: 'image/avif',
};

export function mediaTypeOf(type: ImageType): string {
  return MEDIA_TYPES[type];
}

/**
 * The type of an encoded image, checked against what this platform decodes and the byte limit. `claimed`
 * is the media type a data: URL or HTTP response names (a non-image one is refused even if the bytes
 * would decode: it is almost always the wrong URL, e.g. an HTML error page).
 */
export function checkImageBytes(bytes: Uint8Array, claimed: string | null, platformName: 'node' | 'browser', limits: ImageLimits): ImageType {
  if (bytes.length > limits.maxBytes) {
    throw new ImageTooLargeError(`the image is ${bytes.length} bytes, over the limit of ${limits.maxBytes}: downscale or recompress it`);
  }
  const decodable = DECODABLE_TYPES[platformName];
  const list = decodable.map((t) => MEDIA_TYPES[t]).join(', ');
  const mediaType = claimed?.split(';')[0]!.trim().toLowerCase() ?? '';
  if (mediaType && !mediaType.startsWith('image/') && mediaType !== 'application/octet-stream') {
    throw new UnsupportedImageTypeError(`the URL gave "${mediaType}", not an image; send one of ${list}`);
  }
  const type = sniffImageType(bytes);
  if (type === null) {
    throw new UnsupportedImageTypeError(`the data is not an image this engine knows${mediaType ? ` (it claims ${mediaType})` : ''}; send one of ${list}`);
  }
  if (!decodable.includes(type)) {
    throw new UnsupportedImageTypeError(`${MEDIA_TYPES[type]} images cannot be decoded here (${platformName}); convert it to one of ${list}`);
  }
  return type;
}
