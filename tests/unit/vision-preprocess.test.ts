// Image preprocessing (src/vision/preprocess.ts) against Pillow: the bicubic resize byte for byte, the
// CLIP normalization bit for bit, on odd sizes, up and down, RGBA, grayscale and palette images decoded
// by the Node path (src/vision/decode-js.ts). Fixtures: tests/fixtures/vision-preprocess (README there).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeClip, preprocessPixels, resizeBicubic, toRgb } from '../../src/vision/preprocess';
import { imagePixels, preprocessImage } from '../../src/vision/image-source';

const DIR = join(import.meta.dirname, '../fixtures/vision-preprocess');

interface Expected { size: number; resized_rgb: string; normalized_f32?: string }
interface Case { name: string; file: string; mode: string; width: number; height: number; decoded_rgb?: string; expected: Expected[] }
const fixture = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as { cases: Case[] };

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const floats = (b64: string) => {
  const b = bytes(b64);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};

/** Index, expected and actual of the first difference over `tolerance` (null when none). */
function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 0): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance)) return `failed at index ${i}: got ${actual[i]}, expected ${expected[i]}`;
  }
  return null;
}

/**
 * Mean |difference| in 0..255 levels between jpeg-js (the Node path) and libjpeg (Pillow) on the smooth
 * 4:2:0 fixture: measured 2.21, worst pixel 8 (chroma upsampling). Browsers decode with libjpeg-turbo.
 */
const JPEG_MEAN_ABS_TOLERANCE = 2.5;

const pngCases = fixture.cases.filter((c) => c.file.endsWith('.png'));

describe('preprocessing matches Pillow + torchvision exactly', () => {
  for (const c of pngCases) {
    for (const e of c.expected) {
      it(`${c.name} (${c.mode}) -> ${e.size}x${e.size}`, async () => {
        const px = await imagePixels(new Uint8Array(readFileSync(join(DIR, c.file))));
        expect([px.width, px.height]).toEqual([c.width, c.height]);
        const resized = resizeBicubic(toRgb(px), e.size, e.size);
        expect(firstMismatch(resized.data, bytes(e.resized_rgb))).toBeNull();
        if (e.normalized_f32) {
          // Exact: ToTensor and Normalize are float32 element-wise ops, rounded as torch rounds them.
          expect(firstMismatch(normalizeClip(resized), floats(e.normalized_f32))).toBeNull();
          expect(firstMismatch(preprocessPixels(px, e.size), floats(e.normalized_f32))).toBeNull();
        }
      });
    }
  }

  it('a data: URL goes through the same path (the chat API form)', async () => {
    const c = pngCases.find((x) => x.name === 'rgb-13x7')!;
    const url = `data:image/png;base64,${readFileSync(join(DIR, c.file)).toString('base64')}`;
    const out = await preprocessImage(url, 16);
    expect(out.length).toBe(3 * 16 * 16);
    expect(firstMismatch(out, floats(c.expected[0]!.normalized_f32!))).toBeNull();
  });

  it(`a JPEG decodes within ${JPEG_MEAN_ABS_TOLERANCE} levels (mean) of libjpeg, and resizes exactly from the same pixels`, async () => {
    // jpeg-js and libjpeg round the inverse DCT and upsample chroma differently (libjpeg interpolates,
    // jpeg-js repeats), so decoded pixels differ a little; the resize itself is exact once the pixels
    // agree, so it is checked from Pillow's decoded pixels too.
    const c = fixture.cases.find((x) => x.file.endsWith('.jpg'))!;
    const px = await imagePixels(new Uint8Array(readFileSync(join(DIR, c.file))));
    const pillow = bytes(c.decoded_rgb!);
    let sum = 0;
    let worst = 0;
    for (let i = 0; i < pillow.length; i++) {
      const d = Math.abs(px.data[i]! - pillow[i]!);
      worst = Math.max(worst, d);
      sum += d;
    }
    expect(sum / pillow.length, `worst difference ${worst}`).toBeLessThanOrEqual(JPEG_MEAN_ABS_TOLERANCE);
    const fromPillowPixels = resizeBicubic({ width: c.width, height: c.height, data: pillow }, 14, 14);
    expect(firstMismatch(fromPillowPixels.data, bytes(c.expected[0]!.resized_rgb))).toBeNull();
  });

  it('RGBA pixels (ImageData) drop alpha like convert("RGB"), gray replicates', () => {
    const rgba = { width: 2, height: 1, channels: 4 as const, data: new Uint8Array([10, 20, 30, 0, 200, 100, 50, 128]) };
    expect(Array.from(toRgb(rgba).data)).toEqual([10, 20, 30, 200, 100, 50]);
    const la = { width: 2, height: 1, channels: 2 as const, data: new Uint8Array([7, 0, 250, 255]) };
    expect(Array.from(toRgb(la).data)).toEqual([7, 7, 7, 250, 250, 250]);
  });
});

describe('image limits and bad bytes are named errors', () => {
  const file = readFileSync(join(DIR, 'rgb-37x23.png'));
  const url = `data:image/png;base64,${file.toString('base64')}`;
  const nameOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);

  it('over the byte limit (data: URL, bytes) or the pixel limit: ImageTooLargeError', async () => {
    expect(await nameOf(imagePixels(url, { maxBytes: 100, maxPixels: 1e6 }))).toMatch(/^ImageTooLargeError: .*limit of 100/);
    expect(await nameOf(imagePixels(new Uint8Array(file), { maxBytes: 100, maxPixels: 1e6 }))).toMatch(/^ImageTooLargeError: /);
    expect(await nameOf(imagePixels(url, { maxBytes: 1e6, maxPixels: 37 * 23 - 1 }))).toMatch(/^ImageTooLargeError: the image is 37x23 pixels/);
    expect(await nameOf(imagePixels(url, { maxBytes: 1e6, maxPixels: 37 * 23 }))).toBe('ok');
  });

  it('types Node cannot decode, non-images and corrupt files are named', async () => {
    const gif = new TextEncoder().encode('GIF89a\x01\x00\x01\x00');
    expect(await nameOf(imagePixels(gif))).toMatch(/^UnsupportedImageTypeError: image\/gif images cannot be decoded here \(node\)/);
    expect(await nameOf(imagePixels('data:text/plain,hello'))).toMatch(/^UnsupportedImageTypeError: /);
    expect(await nameOf(imagePixels('data:image/png;base64,@@@'))).toMatch(/^ImageUrlError: /);
    expect(await nameOf(imagePixels(new Uint8Array(file.subarray(0, 60))))).toMatch(/^ImageDecodeError: /);
    const jpegHead = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]);
    expect(await nameOf(imagePixels(jpegHead))).toMatch(/^ImageDecodeError: /);
    expect(await nameOf(imagePixels({ width: 2, height: 2, data: new Uint8Array(3) }))).toMatch(/^ImageDecodeError: /);
  });
});
