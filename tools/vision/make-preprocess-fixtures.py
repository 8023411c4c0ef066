#!/usr/bin/python3
"""Reference outputs for glm-webgpu's image preprocessing (src/vision/preprocess.ts), made with Pillow.

GLM-4V's reference pipeline (THUDM glm-4v-9b tokenization_chatglm.py) is, on a PIL image opened with
.convert('RGB'): torchvision Resize((S, S), BICUBIC) -> ToTensor -> Normalize(CLIP mean, CLIP std).
torchvision's Resize on a PIL image calls PIL's Image.resize(..., BICUBIC), so Pillow gives the resized
pixels exactly; ToTensor (/255) and Normalize ((x - mean) / std) are float32 element-wise ops, done
here in numpy float32 (the same IEEE single-precision results torch computes).

Writes tests/fixtures/vision-preprocess/: the source images (PNG, one JPEG) and expected.json
(resized RGB bytes as base64, normalized CHW float32 as base64 little-endian). Run from the repository
root: /usr/bin/python3 tools/vision/make-preprocess-fixtures.py
"""
import base64
import io
import json
import os

import numpy as np
import PIL
from PIL import Image

OUT = 'tests/fixtures/vision-preprocess'
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def pattern(width, height, channels, seed):
    """Deterministic pixels with sharp edges and gradients (bicubic overshoot gets clipped)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 37 + y * 11) % 256
    noise = rng.integers(0, 256, size=(height, width, channels))
    img = np.where(((x // 3 + y // 2) % 2 == 0)[..., None], noise, base[..., None] * np.ones(channels, dtype=np.int64))
    img[0, :, :] = 255  # a white edge row next to black: maximal ringing
    img[:, 0, :] = 0
    return img.astype(np.uint8)


def expected_for(img, size):
    rgb = img.convert('RGB')
    resized = rgb.resize((size, size), Image.BICUBIC)
    arr = np.asarray(resized, dtype=np.uint8)
    chw = arr.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    norm = ((chw - MEAN[:, None, None]) / STD[:, None, None]).astype(np.float32)
    out = {'size': size, 'resized_rgb': base64.b64encode(arr.tobytes()).decode()}
    if size <= 32:  # the normalized floats of the large case would make the file big for no extra coverage
        out['normalized_f32'] = base64.b64encode(norm.astype('<f4').tobytes()).decode()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [
        # name, width, height, PIL mode, target sizes
        ('rgb-13x7', 13, 7, 'RGB', [16, 5]),        # upscale both ways; downscale both ways
        ('rgb-37x23', 37, 23, 'RGB', [14, 23]),     # downscale; one axis unchanged, the other down
        ('rgb-20x9', 20, 9, 'RGB', [14]),           # down horizontally, up vertically
        ('rgb-14x14', 14, 14, 'RGB', [14]),         # same size: PIL copies
        ('rgba-11x17', 11, 17, 'RGBA', [14]),       # alpha dropped by convert('RGB')
        ('l-19x10', 19, 10, 'L', [14]),             # grayscale replicated to RGB
        ('la-9x12', 9, 12, 'LA', [8]),              # grayscale + alpha
        ('p-15x15', 15, 15, 'P', [14]),             # palette
        ('rgb-300x200', 300, 200, 'RGB', [224]),    # a larger downscale (support > 2 pixels)
    ]
    out = {'pillow': PIL.__version__, 'numpy': np.__version__, 'mean': MEAN.tolist(), 'std': STD.tolist(), 'cases': []}
    for i, (name, w, h, mode, sizes) in enumerate(cases):
        channels = {'RGB': 3, 'RGBA': 4, 'L': 1, 'LA': 2, 'P': 1}[mode]
        px = pattern(w, h, channels, seed=i)
        if mode == 'P':
            img = Image.fromarray(px[..., 0], 'L').convert('RGB').quantize(colors=16)
        elif channels == 1:
            img = Image.fromarray(px[..., 0], 'L')
        else:
            img = Image.fromarray(px, mode)
        path = f'{name}.png'
        img.save(os.path.join(OUT, path))
        img = Image.open(os.path.join(OUT, path))  # what the reference opens
        out['cases'].append({'name': name, 'file': path, 'mode': img.mode, 'width': w, 'height': h,
                             'expected': [expected_for(img, s) for s in sizes]})
    # A JPEG (photo-like smooth colours, default 4:2:0 chroma subsampling): decoders differ in IDCT rounding
    # and chroma upsampling (libjpeg interpolates, jpeg-js repeats), so the test states the tolerance it meets.
    y, x = np.mgrid[0:21, 0:33]
    smooth = np.stack([x * 7 + 10, y * 11 + 20, (x + y) * 4 + 60], axis=-1).clip(0, 255).astype(np.uint8)
    jpeg_src = Image.fromarray(smooth, 'RGB')
    buf = io.BytesIO()
    jpeg_src.save(buf, format='JPEG', quality=90)
    with open(os.path.join(OUT, 'rgb-33x21.jpg'), 'wb') as f:
        f.write(buf.getvalue())
    jpeg = Image.open(os.path.join(OUT, 'rgb-33x21.jpg'))
    out['cases'].append({'name': 'jpeg-33x21', 'file': 'rgb-33x21.jpg', 'mode': jpeg.mode, 'width': 33, 'height': 21,
                         'decoded_rgb': base64.b64encode(np.asarray(jpeg.convert('RGB')).tobytes()).decode(),
                         'expected': [expected_for(jpeg, 14)]})
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
