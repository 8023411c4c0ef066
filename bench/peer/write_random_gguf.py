#!/usr/bin/env python3
"""Write a random-weight GGUF file that llama.cpp loads, from a plan made by bench/peer/main.ts.

The plan (JSON: architecture, name, kv, tensors with ggml shapes and types) says what llama.cpp's
loader expects for one of our presets; this script only turns it into a file, with llama.cpp's own
gguf-py (pass its folder with --gguf-py, or put it on PYTHONPATH). Speed does not depend on the
values, but they must stay finite: NaN or inf can take slower paths and end a run early, so every
Q4_0 block gets a small positive f16 scale and random 4-bit codes, scaled by 1/sqrt(fan-in) so that
random activations neither vanish nor blow up across the layers. Norm weights are 1, biases small.

    python3 write_random_gguf.py --plan plan.json --out model.gguf --gguf-py llama.cpp/gguf-py [--seed 1]
"""
import argparse
import json
import math
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--plan', required=True, help='plan JSON from `node dist/peer/main.js plan`')
    ap.add_argument('--out', required=True, help='GGUF file to write')
    ap.add_argument('--gguf-py', help="llama.cpp's gguf-py folder (default: gguf from PYTHONPATH)")
    ap.add_argument('--seed', type=int, default=1)
    args = ap.parse_args()
    if args.gguf_py:
        sys.path.insert(0, args.gguf_py)
    import numpy as np
    import gguf

    with open(args.plan, encoding='utf-8') as f:
        plan = json.load(f)
    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    w = gguf.GGUFWriter(args.out, plan['architecture'])
    w.add_name(plan['name'])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    # No tokenizer: llama.cpp then makes `vocab_size` dummy tokens, enough for llama-bench's random prompts.
    w.add_tokenizer_model('no_vocab')
    kv = plan['kv']
    # Each key through gguf-py's own setter, so it gets the value type llama.cpp's loader checks.
    setters = {
        'context_length': w.add_context_length,
        'embedding_length': w.add_embedding_length,
        'feed_forward_length': w.add_feed_forward_length,
        'block_count': w.add_block_count,
        'attention.head_count': w.add_head_count,
        'attention.head_count_kv': w.add_head_count_kv,
        'attention.layer_norm_rms_epsilon': w.add_layer_norm_rms_eps,
        'rope.dimension_count': w.add_rope_dimension_count,
        'rope.freq_base': w.add_rope_freq_base,
        'vocab_size': w.add_vocab_size,
    }
    unknown = sorted(set(kv) - set(setters))
    if unknown:
        raise SystemExit(f'write_random_gguf.py: no setter for plan keys {unknown}; add them to `setters`')
    for key, value in kv.items():
        setters[key](value)

    block_weights, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_0]
    # A pool of random Q4_0 blocks, tiled over every matrix: the values do not change llama.cpp's speed.
    pool_blocks = 1 << 20
    pool = rng.integers(0, 256, size=(pool_blocks, block_bytes), dtype=np.uint8)

    def q4_0_blocks(tensor) -> 'np.ndarray':
        cols, rows = tensor['ne']
        # Codes are uniform in [-8, 7] (standard deviation ~4.6): this scale gives outputs of about the inputs' size.
        scale = np.float16(1.0 / (4.6 * math.sqrt(tensor['fanIn'])))
        blocks = pool.copy()
        blocks[:, 0:2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
        row_bytes = cols // block_weights * block_bytes
        return np.resize(blocks.reshape(-1), rows * row_bytes).reshape(rows, row_bytes)

    def f32_vector(tensor) -> 'np.ndarray':
        (n,) = tensor['ne']
        if tensor['name'].endswith('norm.weight'):
            return np.ones(n, dtype=np.float32)
        return (rng.standard_normal(n) * 0.02).astype(np.float32)

    makers = {'Q4_0': q4_0_blocks, 'F32': f32_vector}
    for tensor in plan['tensors']:
        if tensor['type'] == 'Q4_0':
            cols, rows = tensor['ne']
            if cols % block_weights:
                raise SystemExit(f"{tensor['name']}: Q4_0 rows must hold whole blocks of {block_weights} (got {cols})")
            shape = (rows, cols // block_weights * block_bytes)
            w.add_tensor_info(tensor['name'], shape, np.dtype(np.uint8), shape[0] * shape[1], raw_dtype=gguf.GGMLQuantizationType.Q4_0)
        elif tensor['type'] == 'F32':
            (n,) = tensor['ne']
            w.add_tensor_info(tensor['name'], (n,), np.dtype(np.float32), n * 4)
        else:
            raise SystemExit(f"{tensor['name']}: unknown tensor type {tensor['type']} (Q4_0 or F32)")

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    total = 0
    for tensor in plan['tensors']:
        data = makers[tensor['type']](tensor)
        w.write_tensor_data(data)
        total += data.nbytes
    w.close()
    print(json.dumps({'gguf': args.out, 'tensors': len(plan['tensors']), 'bytes': total, 'seconds': round(time.time() - t0, 2)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
