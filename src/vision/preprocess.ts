// Image preprocessing for GLM-4V, exactly as the reference pipeline does it (THUDM glm-4v-9b
// tokenization_chatglm.py): PIL `.convert('RGB')`, torchvision `Resize((S, S), BICUBIC)` (on a PIL image
// that is Pillow's own resampler), `ToTensor()` (/255) and `Normalize(CLIP mean, CLIP std)`.
// The result is what the model side takes for one image: CHW float32, S x S, normalized.
//
// Decoding bytes into pixels is platform code (src/platform: createImageBitmap + OffscreenCanvas in
// browsers and workers, a JavaScript PNG/JPEG decoder under Node); everything from decoded pixels on
// is here, so both platforms share one exact resize.

/** CLIP's per-channel mean and std (OpenAI CLIP, used by EVA2-CLIP and GLM-4V), as torchvision takes them. */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Decoded pixels: 8-bit samples, `channels` per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), row-major. */
export interface DecodedPixels {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** An RGB image, 3 bytes per pixel, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * PIL's `convert('RGB')`: gray is replicated to R, G and B; alpha is dropped (not composited over a
 * background: the colour stored under a transparent pixel is kept, as PIL keeps it).
 */
export function toRgb(px: DecodedPixels): RgbImage {
  const { width, height, channels, data } = px;
  if (data.length !== width * height * channels) {
    throw new RangeError(`pixel data holds ${data.length} bytes, expected ${width}x${height}x${channels}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; i < data.length; i += channels, o += 3) {
    if (channels <= 2) {
      out[o] = out[o + 1] = out[o + 2] = data[i]!;
    } else {
      out[o] = data[i]!;
      out[o + 1] = data[i + 1]!;
      out[o + 2] = data[i + 2]!;
    }
  }
  return { width, height, data: out };
}

// ---- Pillow's bicubic resample (libImaging/Resample.c), reproduced from its documented behaviour ----
// A separable convolution: a horizontal pass into an 8-bit intermediate image, then a vertical pass.
// When shrinking, the filter is stretched by the scale (antialiasing). Weights are normalized per output
// pixel, then turned into fixed point with PRECISION_BITS fractional bits; sums start at one half and
// are clipped to 0..255. Matching these integer steps is what makes the output byte-identical.

const PRECISION_BITS = 32 - 8 - 2;
/** Pillow's bicubic kernel has a = -0.5 (Keys), support 2. */
const BICUBIC_A = -0.5;
const BICUBIC_SUPPORT = 2;

function bicubic(x: number): number {
  const a = BICUBIC_A;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per output pixel: the first input pixel, how many follow, and their fixed-point weights (ksize each). */
interface Coefficients {
  ksize: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) truncates toward zero, then Pillow clamps to the image.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      sum += w[x]!;
    }
    for (let x = 0; x < ksize; x++) {
      const normalized = x < xmax && sum !== 0 ? w[x]! / sum : 0;
      // Round half away from zero into fixed point, as Pillow's normalize_coeffs_8bpc does.
      weights[xx * ksize + x] = Math.trunc(normalized < 0 ? normalized * (1 << PRECISION_BITS) - 0.5 : normalized * (1 << PRECISION_BITS) + 0.5);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, first, count, weights };
}

/** Pillow's clip8: the fixed-point sum back to a byte. */
function clip8(sum: number): number {
  if (sum <= 0) return 0;
  if (sum >= 255 * (1 << PRECISION_BITS)) return 255;
  return Math.floor(sum / (1 << PRECISION_BITS));
}

const HALF = 1 << (PRECISION_BITS - 1);

/**
 * Resizes an RGB image to `outWidth` x `outHeight` with Pillow's BICUBIC filter, byte for byte what
 * `Image.resize((outWidth, outHeight), Image.BICUBIC)` gives (checked against Pillow in
 * tests/unit/vision-preprocess.test.ts).
 */
export function resizeBicubic(img: RgbImage, outWidth: number, outHeight: number): RgbImage {
  const { width, height } = img;
  if (!(outWidth >= 1 && outHeight >= 1 && Number.isInteger(outWidth) && Number.isInteger(outHeight))) {
    throw new RangeError(`resize target must be positive integers, got ${outWidth}x${outHeight}`);
  }
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  let src = img;
  const vert = coefficients(height, outHeight);
  if (needH) {
    // Only the rows the vertical pass reads (Pillow crops the same way; the bytes do not change).
    const rowFirst = needV ? vert.first[0]! : 0;
    const rowLast = needV ? vert.first[outHeight - 1]! + vert.count[outHeight - 1]! : height;
    const rows = rowLast - rowFirst;
    const c = coefficients(width, outWidth);
    const out = new Uint8Array(outWidth * rows * 3);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + rowFirst) * width * 3;
      for (let xx = 0; xx < outWidth; xx++) {
        const x0 = c.first[xx]!;
        const n = c.count[xx]!;
        const k = xx * c.ksize;
        let r = HALF;
        let g = HALF;
        let b = HALF;
        for (let x = 0; x < n; x++) {
          const wgt = c.weights[k + x]!;
          const p = inRow + (x0 + x) * 3;
          r += src.data[p]! * wgt;
          g += src.data[p + 1]! * wgt;
          b += src.data[p + 2]! * wgt;
        }
        const o = (y * outWidth + xx) * 3;
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
      }
    }
    src = { width: outWidth, height: rows, data: out };
    if (needV) for (let i = 0; i < outHeight; i++) vert.first[i] = vert.first[i]! - rowFirst;
  }
  if (!needV) return needH ? src : { width, height, data: img.data.slice() };
  const out = new Uint8Array(outWidth * outHeight * 3);
  const stride = src.width * 3;
  for (let yy = 0; yy < outHeight; yy++) {
    const y0 = vert.first[yy]!;
    const n = vert.count[yy]!;
    const k = yy * vert.ksize;
    for (let xx = 0; xx < src.width * 3; xx++) {
      let sum = HALF;
      for (let y = 0; y < n; y++) sum += src.data[(y0 + y) * stride + xx]! * vert.weights[k + y]!;
      out[yy * stride + xx] = clip8(sum);
    }
  }
  return { width: src.width, height: outHeight, data: out };
}

/**
 * torchvision's ToTensor + Normalize: CHW float32, (v / 255 - mean) / std with every step rounded to
 * float32 as torch computes it (so the floats equal the reference's bit for bit).
 */
export function normalizeClip(img: RgbImage): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const mean = f(CLIP_MEAN[c]!);
    const std = f(CLIP_STD[c]!);
    for (let i = 0; i < plane; i++) out[c * plane + i] = f(f(f(img.data[i * 3 + c]! / 255) - mean) / std);
  }
  return out;
}

/** The whole pipeline on decoded pixels: RGB, bicubic resize to `size` x `size`, CLIP normalization. */
export function preprocessPixels(px: DecodedPixels, size: number): Float32Array {
  return normalizeClip(resizeBicubic(toRgb(px), size, size));
}
