// `--image <file>` (issue #21): an image file on disk as the data: URL a chat message's image_url part
// carries. The type comes from the file's first bytes; the engine checks and decodes it like any image.
import { readFileSync, statSync } from 'node:fs';
import { ImageTooLargeError } from '../errors';
import { DEFAULT_IMAGE_LIMITS, mediaTypeOf, sniffImageType } from '../vision/image-type';
import { UsageError } from './args';

export function imageFileDataUrl(path: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new UsageError(`--image: cannot read the file ${path}`);
  }
  if (size > DEFAULT_IMAGE_LIMITS.maxBytes) {
    throw new ImageTooLargeError(`--image: ${path} is ${size} bytes, over the limit of ${DEFAULT_IMAGE_LIMITS.maxBytes}: downscale or recompress it`);
  }
  const bytes = readFileSync(path);
  const type = sniffImageType(bytes);
  // Unknown bytes go as octet-stream: the engine names the problem (UnsupportedImageTypeError) with the types it reads.
  return `data:${type ? mediaTypeOf(type) : 'application/octet-stream'};base64,${bytes.toString('base64')}`;
}
