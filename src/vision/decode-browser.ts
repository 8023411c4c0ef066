// Image decoding in browsers and workers: the browser's own decoders (createImageBitmap) and an
// OffscreenCanvas to read the pixels. A canvas keeps premultiplied alpha, so where an image is
// transparent the colour under it reads back darkened (fully transparent: black), while Pillow's
// convert('RGB') keeps the stored colour; opaque images (photos, screenshots) read back exactly.
import { ImageDecodeError, ImageTooLargeError } from '../errors';
import { mediaTypeOf, type ImageType } from './image-type';
import type { DecodedPixels } from './preprocess';

export async function decodeImageInBrowser(bytes: Uint8Array, type: ImageType, maxPixels: number): Promise<DecodedPixels> {
  let bitmap: ImageBitmap;
  try {
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mediaTypeOf(type) });
    // No colour management and no premultiplication: the file's own sample values, as Pillow reads them.
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (err) {
    throw new ImageDecodeError(`the ${type} image could not be decoded (${(err as Error).message}); is the file complete?`, { cause: err });
  }
  try {
    if (bitmap.width * bitmap.height > maxPixels) {
      throw new ImageTooLargeError(`the image is ${bitmap.width}x${bitmap.height} pixels, over the limit of ${maxPixels}: downscale it`);
    }
    return await bitmapPixels(bitmap);
  } finally {
    bitmap.close();
  }
}

export async function bitmapPixels(bitmap: ImageBitmap): Promise<DecodedPixels> {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new ImageDecodeError('no 2D canvas context is available to read the image pixels');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return { width, height, channels: 4, data };
}
