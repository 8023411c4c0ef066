// PNG and JPEG decoding in plain JavaScript (fast-png, jpeg-js): the Node path (CLI, tests), where there
// is no createImageBitmap. Pixels come out as Pillow's `Image.open` gives them before `.convert('RGB')`:
// 16-bit samples keep their high byte, low bit depths are scaled to 0..255, palettes are looked up
// (their transparency ignored, as convert('RGB') ignores it).
import { decode as decodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { ImageDecodeError, ImageTooLargeError } from '../errors';
import type { DecodedPixels } from './preprocess';
import type { ImageType } from './image-type';

export function decodeImageJs(bytes: Uint8Array, type: ImageType, maxPixels: number): DecodedPixels {
  if (type === 'png') return decodePngPixels(bytes, maxPixels);
  if (type === 'jpeg') return decodeJpegPixels(bytes, maxPixels);
  // Only reachable if a caller skips image-type.ts's per-platform check.
  throw new ImageDecodeError(`${type} images are decoded in browsers only; convert it to PNG or JPEG`);
}

function decodePngPixels(bytes: Uint8Array, maxPixels: number): DecodedPixels {
  let png: ReturnType<typeof decodePng>;
  try {
    png = decodePng(bytes);
  } catch (err) {
    throw new ImageDecodeError(`the PNG image could not be decoded (${(err as Error).message}); is the file complete?`, { cause: err });
  }
  const { width, height, depth, channels } = png;
  if (width * height > maxPixels) throw new ImageTooLargeError(`the image is ${width}x${height} pixels, over the limit of ${maxPixels}`);
  if (png.palette) {
    const rgb = new Uint8Array(width * height * 3);
    const indexes = unpackSamples(png.data as Uint8Array, width, height, 1, depth);
    for (let i = 0; i < indexes.length; i++) {
      const entry = png.palette[indexes[i]!] ?? [0, 0, 0];
      rgb[i * 3] = entry[0]!;
      rgb[i * 3 + 1] = entry[1]!;
      rgb[i * 3 + 2] = entry[2]!;
    }
    return { width, height, channels: 3, data: rgb };
  }
  if (channels < 1 || channels > 4) throw new ImageDecodeError(`a PNG with ${channels} channels is not a valid image`);
  let data: Uint8Array;
  if (depth === 16) {
    // Pillow reads 16-bit samples into 8-bit modes by keeping the most significant byte.
    const wide = png.data as Uint16Array;
    data = new Uint8Array(wide.length);
    for (let i = 0; i < wide.length; i++) data[i] = wide[i]! >> 8;
  } else if (depth === 8) {
    data = png.data instanceof Uint8Array ? png.data : Uint8Array.from(png.data);
  } else {
    // 1, 2 and 4-bit grayscale: scaled so that the largest value is 255 (Pillow's L;1, L;2, L;4).
    const raw = unpackSamples(png.data as Uint8Array, width, height, channels, depth);
    const scale = 255 / ((1 << depth) - 1);
    data = raw.map((v) => v * scale);
  }
  return { width, height, channels: channels as DecodedPixels['channels'], data };
}

/** Samples of `depth` bits packed MSB first, each row starting on a byte (PNG's layout), one per byte. */
function unpackSamples(packed: Uint8Array, width: number, height: number, channels: number, depth: number): Uint8Array {
  if (depth === 8) return packed;
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * depth;
      const byte = packed[y * rowBytes + (bit >> 3)] ?? 0;
      out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function decodeJpegPixels(bytes: Uint8Array, maxPixels: number): DecodedPixels {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: 1024 });
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/maxResolutionInMP|maxMemoryUsage/.test(message)) throw new ImageTooLargeError(`the JPEG image is over the limit of ${maxPixels} pixels (${message})`);
    throw new ImageDecodeError(`the JPEG image could not be decoded (${message}); is the file complete?`, { cause: err });
  }
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}
