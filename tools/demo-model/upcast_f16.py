#!/usr/bin/env python3
"""Float16 Hugging Face checkpoint (sharded or not) -> the same model as one float32 model.safetensors.

train.py rounds the trained weights to float16 and saves that model twice: in float32 (hf-f32, 78 MB, too
big for the GPU machine's 16 MiB / 64 MiB return limits) and in float16 (hf-f16, shards < 16 MiB). Both hold
the same values, so widening hf-f16 here rebuilds hf-f32 exactly (standard library only).

  python3 tools/demo-model/upcast_f16.py tools/demo-model/.hf/hf-f16 tools/demo-model/.hf/hf-f32
"""
import json
import os
import shutil
import struct
import sys


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop('__metadata__', None)
    return header, data


def main(src, dst):
    index = os.path.join(src, 'model.safetensors.index.json')
    files = sorted(set(json.load(open(index))['weight_map'].values())) if os.path.exists(index) else ['model.safetensors']
    tensors = {}
    for name in files:
        header, data = read_safetensors(os.path.join(src, name))
        for key, info in header.items():
            a, b = info['data_offsets']
            raw = data[a:b]
            if info['dtype'] == 'F16':
                count = len(raw) // 2
                raw = struct.pack(f'<{count}f', *struct.unpack(f'<{count}e', raw))
            elif info['dtype'] != 'F32':
                raise SystemExit(f'{key}: unexpected dtype {info["dtype"]}')
            tensors[key] = (info['shape'], raw)
    header, offset, blobs = {'__metadata__': {'format': 'pt'}}, 0, []
    for key in sorted(tensors):
        shape, raw = tensors[key]
        header[key] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(dst, 'model.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    for name in ('tokenizer.json', 'tokenizer_config.json', 'generation_config.json'):
        if os.path.exists(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    config = json.load(open(os.path.join(src, 'config.json')))
    config['dtype'] = 'float32'
    with open(os.path.join(dst, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    print(f'{len(tensors)} tensors, {offset} bytes of float32 -> {dst}')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
