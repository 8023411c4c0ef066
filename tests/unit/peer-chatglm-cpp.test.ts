// chatglm.cpp's own test vectors (tests/fixtures/peer-tests/chatglm.cpp, see its README): a 1-layer
// float32 model per generation, prefill of ids [0,1,2] then two decode steps with the KV cache; each
// y is the last hidden state after the final norm. chatglm.cpp checks itself at 5e-4; so do we.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpuOps, cpuTensor, layerNorm, matmulF32, rmsNorm } from '../../src/cpu/ops';
import { normalizeConfig, type GlmConfig } from '../../src/model/config';
import { forward } from '../../src/model/glm';
import { makeBatch } from '../../src/model/positions';
import type { ForwardBatch } from '../../src/model/ops';
import type { HostTensor } from '../../src/model/tensor';
import type { ModelWeights } from '../../src/model/weights-types';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { expectAllClose } from '../helpers/compare';

const PEER_ATOL = 5e-4; // chatglm.cpp's own tolerance for these vectors
const DIR = resolve(FIXTURES_DIR, 'peer-tests/chatglm.cpp');

/** Sequential reader over a raw little-endian file. */
class Reader {
  private offset = 0;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  f32(...shape: number[]): HostTensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = this.view.getFloat32(this.offset + 4 * i, true);
    this.offset += 4 * n;
    return { dtype: 'f32', shape, data };
  }
  i32(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => this.view.getInt32(this.offset + 4 * i, true));
    this.offset += 4 * n;
    return out;
  }
  get done(): boolean {
    return this.offset === this.bytes.length;
  }
}

const load = (file: string) => new Reader(new Uint8Array(readFileSync(resolve(DIR, file))));

// Configs as chatglm.cpp's tests/test_convert.py builds them: hidden 32, 8 heads of 4, vocab 5, 1 layer.
const V1_CONFIG = normalizeConfig({
  model_type: 'chatglm', position_encoding_2d: true, num_layers: 1, vocab_size: 5, hidden_size: 32,
  num_attention_heads: 8, inner_hidden_size: 128, layernorm_epsilon: 1e-5, max_sequence_length: 8,
  // ids in the vectors: sequence [0, 1, 2] with [gMASK] at 1 and sop at 2 gives the README's position ids
  gmask_token_id: 1, bos_token_id: 2, mask_token_id: 4, eos_token_id: 4,
});
const v2Config = (ropeRatio: number): GlmConfig =>
  normalizeConfig({
    model_type: 'chatglm', num_layers: 1, padded_vocab_size: 5, hidden_size: 32, ffn_hidden_size: 48, kv_channels: 4,
    num_attention_heads: 8, multi_query_attention: true, multi_query_group_num: 2, add_qkv_bias: true, add_bias_linear: false,
    rmsnorm: true, layernorm_epsilon: 1e-5, seq_length: 8, rope_ratio: ropeRatio,
  });

function readV1(r: Reader): ModelWeights<HostTensor> {
  const embedding = r.f32(5, 32);
  const attnNorm = { weight: r.f32(32), bias: r.f32(32) };
  const qkvW = r.f32(96, 32);
  const qkvB = r.f32(96);
  // ChatGLM-6B stores qkv per head as [q_h; k_h; v_h]: reorder rows to canonical [q; k; v] like weights.ts does.
  const reorder = (t: HostTensor, cols: number): HostTensor => {
    const H = 8, D = 4, out = new Float32Array(t.data.length);
    for (let part = 0; part < 3; part++)
      for (let h = 0; h < H; h++)
        for (let d = 0; d < D; d++) {
          const from = (h * 3 * D + part * D + d) * cols;
          out.set(t.data.subarray(from, from + cols), (part * H * D + h * D + d) * cols);
        }
    return { dtype: 'f32', shape: t.shape, data: out };
  };
  const attnOut = { weight: r.f32(32, 32), bias: r.f32(32) };
  const mlpNorm = { weight: r.f32(32), bias: r.f32(32) };
  const mlpUp = { weight: r.f32(128, 32), bias: r.f32(128) };
  const mlpDown = { weight: r.f32(32, 128), bias: r.f32(32) };
  const finalNorm = { weight: r.f32(32), bias: r.f32(32) };
  return {
    embedding,
    layers: [{ attnNorm, qkv: { weight: reorder(qkvW, 32), bias: reorder(qkvB, 1) }, attnOut, mlpNorm, mlpUp, mlpDown }],
    finalNorm,
    lmHead: embedding, // not in the file; the vectors stop at the final norm
  };
}

function readV2(r: Reader): ModelWeights<HostTensor> {
  const embedding = r.f32(5, 32);
  const attnNorm = { weight: r.f32(32) };
  const qkv = { weight: r.f32(48, 32), bias: r.f32(48) };
  const attnOut = { weight: r.f32(32, 32) };
  const mlpNorm = { weight: r.f32(32) };
  const mlpUp = { weight: r.f32(96, 32) };
  const mlpDown = { weight: r.f32(32, 48) };
  const finalNorm = { weight: r.f32(32) };
  return { embedding, layers: [{ attnNorm, qkv, attnOut, mlpNorm, mlpUp, mlpDown }], finalNorm, lmHead: embedding };
}

async function runSteps(config: GlmConfig, weights: ModelWeights<HostTensor>, r: Reader, batches?: ForwardBatch[]) {
  const ops = new CpuOps();
  const cache = ops.createKvCache(config, 8);
  const sequence: number[] = [];
  for (const [step, count] of [[0, 3], [1, 1], [2, 1]] as const) {
    const ids = r.i32(count);
    const want = r.f32(count, 32).data;
    sequence.push(...ids);
    const batch = batches?.[step] ?? makeBatch(config, sequence, sequence.length - count);
    const { hidden } = await forward(ops, config, weights, cache, batch, 'none');
    expectAllClose(await ops.read(hidden), want, { atol: PEER_ATOL, label: `step ${step + 1}` });
  }
  expect(r.done).toBe(true);
}

describe("chatglm.cpp's test vectors (CPU reference backend)", () => {
  it('glm_model.data (ChatGLM-6B): 2-D positions from [gMASK]/sop, bidirectional context', async () => {
    const r = load('glm_model.data');
    await runSteps(V1_CONFIG, readV1(r), r);
  });

  it('glm_model.data with the README position ids given explicitly', async () => {
    const r = load('glm_model.data');
    const i32 = (a: number[]) => Int32Array.from(a);
    const batches: ForwardBatch[] = [
      { ids: i32([0, 1, 2]), positions: i32([0, 1, 1]), blockPositions: i32([0, 0, 1]), start: 0, bidirectionalPrefix: 2 },
      { ids: i32([3]), positions: i32([1]), blockPositions: i32([2]), start: 3, bidirectionalPrefix: 2 },
      { ids: i32([4]), positions: i32([1]), blockPositions: i32([3]), start: 4, bidirectionalPrefix: 2 },
    ];
    await runSteps(V1_CONFIG, readV1(r), r, batches);
  });

  it.each([
    ['glm2_model.data', 1],
    ['glm3_model.data', 1],
    ['glm4_model.data', 500],
  ])('%s (v2 code: RMSNorm, MQA groups, interleaved half RoPE, SwiGLU)', async (file, ropeRatio) => {
    const r = load(file);
    await runSteps(v2Config(ropeRatio), readV2(r), r);
  });

  it('layer_norm.data', () => {
    const r = load('layer_norm.data');
    const w = r.f32(64), b = r.f32(64), x = r.f32(3, 64), y = r.f32(3, 64);
    expect(r.done).toBe(true);
    expectAllClose(layerNorm(cpuTensor(3, 64, x.data), w.data, b.data, 1e-5).data, y.data, { atol: PEER_ATOL });
  });

  it('rms_norm.data', () => {
    const r = load('rms_norm.data');
    const w = r.f32(64), x = r.f32(3, 64), y = r.f32(3, 64);
    expect(r.done).toBe(true);
    expectAllClose(rmsNorm(cpuTensor(3, 64, x.data), w.data, 1e-6 /* RMSNorm(64, eps=1e-6) in test_convert.py */).data, y.data, { atol: PEER_ATOL });
  });

  it('linear.data (a batch of 2, then a single vector)', () => {
    const r = load('linear.data');
    const w = r.f32(32, 64), b = r.f32(32), x = r.f32(2, 64), y = r.f32(2, 32), vecX = r.f32(64), vecY = r.f32(32);
    expect(r.done).toBe(true);
    expectAllClose(matmulF32(cpuTensor(2, 64, x.data), w.data, 32, b.data).data, y.data, { atol: PEER_ATOL, label: 'batch' });
    expectAllClose(matmulF32(cpuTensor(1, 64, vecX.data), w.data, 32, b.data).data, vecY.data, { atol: PEER_ATOL, label: 'vector' });
  });
});
