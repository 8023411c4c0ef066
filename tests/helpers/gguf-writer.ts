// Test-side GGUF writer (v2/v3) and ggml-style Q4_0/Q8_0 quantizers, independent of the reader in
// src/formats/gguf.ts: they follow llama.cpp's gguf.md and ggml-quants.c (quantize_row_q4_0_ref,
// quantize_row_q8_0_ref), float32 arithmetic mimicked with Math.fround.
import { f32ToF16 } from '../../src/formats/dtype';
import { GgufValueType } from '../../src/formats/gguf';
import type { GlmConfig } from '../../src/model/config';
import type { HostWeight } from '../../src/model/weights';
import type { ModelWeights } from '../../src/model/weights-types';
import { mapWeights } from '../../src/model/weights-types';

export type GgufScalarType = Exclude<GgufValueType, typeof GgufValueType.ARRAY>;

export interface GgufKv {
  key: string;
  type: GgufValueType;
  value: unknown;
  /** Element type when `type` is ARRAY (nested arrays: ARRAY with `inner`). */
  elemType?: GgufValueType;
  inner?: GgufValueType;
}

export interface GgufTensorToWrite {
  name: string;
  /** ggml type id (0 F32, 1 F16, 2 Q4_0, 8 Q8_0, 30 BF16, ...). */
  type: number;
  /** ggml order, innermost first (ne[0] = columns). */
  ne: number[];
  data: Uint8Array;
}

export interface GgufBuildOptions {
  version?: number;
  /** Writes general.alignment when set (the reader's default is 32). */
  alignment?: number;
  metadata?: GgufKv[];
  tensors?: GgufTensorToWrite[];
  magic?: string;
}

class Bytes {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array) {
    this.chunks.push(b);
    this.length += b.byteLength;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    this.push(b);
  }
  u64(v: number | bigint) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.push(b);
  }
  scalar(type: GgufValueType, v: unknown) {
    const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
    if (type === GgufValueType.STRING) return this.str(v as string);
    const b = new Uint8Array(sizes[type]!);
    const d = new DataView(b.buffer);
    switch (type) {
      case GgufValueType.UINT8:
        d.setUint8(0, v as number);
        break;
      case GgufValueType.INT8:
        d.setInt8(0, v as number);
        break;
      case GgufValueType.UINT16:
        d.setUint16(0, v as number, true);
        break;
      case GgufValueType.INT16:
        d.setInt16(0, v as number, true);
        break;
      case GgufValueType.UINT32:
        d.setUint32(0, v as number, true);
        break;
      case GgufValueType.INT32:
        d.setInt32(0, v as number, true);
        break;
      case GgufValueType.FLOAT32:
        d.setFloat32(0, v as number, true);
        break;
      case GgufValueType.BOOL:
        d.setUint8(0, v ? 1 : 0);
        break;
      case GgufValueType.UINT64:
        d.setBigUint64(0, BigInt(v as number | bigint), true);
        break;
      case GgufValueType.INT64:
        d.setBigInt64(0, BigInt(v as number | bigint), true);
        break;
      default:
        d.setFloat64(0, v as number, true);
    }
    this.push(b);
  }
  value(kv: { type: GgufValueType; value: unknown; elemType?: GgufValueType; inner?: GgufValueType }) {
    if (kv.type !== GgufValueType.ARRAY) return this.scalar(kv.type, kv.value);
    const items = Array.from(kv.value as ArrayLike<unknown>);
    this.u32(kv.elemType!);
    this.u64(items.length);
    for (const item of items) {
      if (kv.elemType === GgufValueType.ARRAY) this.value({ type: GgufValueType.ARRAY, value: item, elemType: kv.inner });
      else this.scalar(kv.elemType!, item);
    }
  }
  concat(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

export function buildGguf(opts: GgufBuildOptions): Uint8Array<ArrayBuffer> {
  const version = opts.version ?? 3;
  const alignment = opts.alignment ?? 32;
  const metadata = [...(opts.metadata ?? [])];
  if (opts.alignment !== undefined) metadata.push({ key: 'general.alignment', type: GgufValueType.UINT32, value: opts.alignment });
  const tensors = opts.tensors ?? [];
  const head = new Bytes();
  head.push(new TextEncoder().encode(opts.magic ?? 'GGUF'));
  head.u32(version);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const kv of metadata) {
    head.str(kv.key);
    head.u32(kv.type);
    head.value(kv);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.ne.length);
    for (const d of t.ne) head.u64(d);
    head.u32(t.type);
    offset = Math.ceil(offset / alignment) * alignment;
    offsets.push(offset);
    head.u64(offset);
    offset += t.data.byteLength;
  }
  const dataStart = Math.ceil(head.length / alignment) * alignment;
  const out = new Uint8Array(dataStart + offset);
  out.set(head.concat(), 0);
  tensors.forEach((t, i) => out.set(t.data, dataStart + offsets[i]!));
  return out;
}

// ---- ggml quantizers (reference versions) ----

const fr = Math.fround;

/** quantize_row_q4_0_ref: d = max / -8 (max = the element of largest magnitude), q = min(15, (int8)(x/d + 8.5)). */
export function quantizeQ4_0Blocks(data: Float32Array, rows: number, cols: number): Uint8Array {
  if (cols % 32 !== 0) throw new Error('Q4_0 needs cols % 32 == 0');
  const nb = (rows * cols) / 32;
  const out = new Uint8Array(nb * 18);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = data[i * 32 + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    out[i * 18] = h & 0xff;
    out[i * 18 + 1] = h >> 8;
    for (let j = 0; j < 16; j++) {
      const x0 = fr(data[i * 32 + j]! * id);
      const x1 = fr(data[i * 32 + 16 + j]! * id);
      const q0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[i * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d) (half away from zero). */
export function quantizeQ8_0Blocks(data: Float32Array, rows: number, cols: number): Uint8Array {
  if (cols % 32 !== 0) throw new Error('Q8_0 needs cols % 32 == 0');
  const nb = (rows * cols) / 32;
  const out = new Uint8Array(nb * 34);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[i * 32 + j]!));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    out[i * 34] = h & 0xff;
    out[i * 34 + 1] = h >> 8;
    for (let j = 0; j < 32; j++) {
      const x = fr(data[i * 32 + j]! * id);
      const q = Math.sign(x) * Math.round(Math.abs(x));
      out[i * 34 + 2 + j] = q & 0xff;
    }
  }
  return out;
}

// ---- a model's canonical weights -> a llama.cpp-style GGUF ----

export type GgufWeightType = 'F32' | 'F16' | 'Q4_0' | 'Q8_0';
const TYPE_ID: Record<GgufWeightType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 };

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Encodes a float matrix/vector as a GGUF tensor of `type` (vectors always F32, as llama.cpp keeps them). */
export function encodeGgufTensor(name: string, data: Float32Array, shape: number[], type: GgufWeightType): GgufTensorToWrite {
  const ne = [...shape].reverse();
  if (shape.length === 1 || type === 'F32') return { name, type: 0, ne, data: f32Bytes(data) };
  const [rows, cols] = shape as [number, number];
  if (type === 'F16') return { name, type: TYPE_ID.F16, ne, data: new Uint8Array(Uint16Array.from(data, (v) => f32ToF16(v)).buffer) };
  if (type === 'Q4_0') return { name, type: TYPE_ID.Q4_0, ne, data: quantizeQ4_0Blocks(data, rows, cols) };
  return { name, type: TYPE_ID.Q8_0, ne, data: quantizeQ8_0Blocks(data, rows, cols) };
}

export interface ModelToGgufOptions {
  arch: 'chatglm' | 'glm4';
  type: GgufWeightType;
  /** Write attn_q/attn_k/attn_v instead of a fused attn_qkv. */
  splitQkv?: boolean;
  /** Write ffn_gate + ffn_up instead of the fused ffn_up. */
  splitGateUp?: boolean;
  /** Leave out output.weight (tied embeddings). */
  tieOutput?: boolean;
  version?: number;
  alignment?: number;
  extraMetadata?: GgufKv[];
}

/** Writes a model (as canonical float32 weights + normalized config) the way llama.cpp's converter lays it out. */
export function modelToGguf(config: GlmConfig, weights: ModelWeights<HostWeight>, opts: ModelToGgufOptions): Uint8Array<ArrayBuffer> {
  const tensors: GgufTensorToWrite[] = [];
  const dense = (w: HostWeight) => {
    if (w.dtype !== 'f32') throw new Error('modelToGguf needs float32 weights');
    return w;
  };
  const add = (name: string, w: HostWeight | undefined) => {
    if (!w) return;
    const t = dense(w);
    tensors.push(encodeGgufTensor(name, t.data, t.shape, opts.type));
  };
  const rowsOf = (w: HostWeight, from: number, to: number): HostWeight => {
    const t = dense(w);
    const cols = t.shape.length === 2 ? t.shape[1]! : 1;
    const shape = t.shape.length === 2 ? [to - from, cols] : [to - from];
    return { dtype: 'f32', shape, data: t.data.slice(from * cols, to * cols) };
  };
  const { numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: F } = config;
  add('token_embd.weight', weights.embedding);
  weights.layers.forEach((L, i) => {
    const b = `blk.${i}`;
    add(`${b}.attn_norm.weight`, L.attnNorm.weight);
    add(`${b}.attn_norm.bias`, L.attnNorm.bias);
    for (const kind of ['weight', 'bias'] as const) {
      const w = L.qkv[kind];
      if (!w) continue;
      if (!opts.splitQkv) add(`${b}.attn_qkv.${kind}`, w);
      else {
        add(`${b}.attn_q.${kind}`, rowsOf(w, 0, H * D));
        add(`${b}.attn_k.${kind}`, rowsOf(w, H * D, (H + Hkv) * D));
        add(`${b}.attn_v.${kind}`, rowsOf(w, (H + Hkv) * D, (H + 2 * Hkv) * D));
      }
    }
    add(`${b}.attn_output.weight`, L.attnOut.weight);
    add(`${b}.attn_output.bias`, L.attnOut.bias);
    add(`${b}.post_attention_norm.weight`, L.postAttnNorm?.weight);
    add(`${b}.ffn_norm.weight`, L.mlpNorm.weight);
    add(`${b}.ffn_norm.bias`, L.mlpNorm.bias);
    if (opts.splitGateUp) {
      add(`${b}.ffn_gate.weight`, rowsOf(L.mlpUp.weight, 0, F));
      add(`${b}.ffn_up.weight`, rowsOf(L.mlpUp.weight, F, 2 * F));
    } else add(`${b}.ffn_up.weight`, L.mlpUp.weight);
    add(`${b}.ffn_up.bias`, L.mlpUp.bias);
    add(`${b}.ffn_down.weight`, L.mlpDown.weight);
    add(`${b}.ffn_down.bias`, L.mlpDown.bias);
    add(`${b}.post_ffw_norm.weight`, L.postMlpNorm?.weight);
  });
  add('output_norm.weight', weights.finalNorm.weight);
  if (!opts.tieOutput) add('output.weight', weights.lmHead);

  const a = opts.arch;
  const U = GgufValueType.UINT32;
  const F32 = GgufValueType.FLOAT32;
  const metadata: GgufKv[] = [
    { key: 'general.architecture', type: GgufValueType.STRING, value: a },
    { key: 'general.name', type: GgufValueType.STRING, value: `test-${a}` },
    { key: `${a}.context_length`, type: U, value: config.maxSequenceLength },
    { key: `${a}.embedding_length`, type: U, value: config.hiddenSize },
    { key: `${a}.feed_forward_length`, type: U, value: config.ffnHiddenSize },
    { key: `${a}.block_count`, type: U, value: config.numLayers },
    { key: `${a}.attention.head_count`, type: U, value: H },
    { key: `${a}.attention.head_count_kv`, type: U, value: Hkv },
    { key: `${a}.attention.layer_norm_rms_epsilon`, type: F32, value: config.normEps },
    { key: `${a}.rope.dimension_count`, type: U, value: config.rope.rotaryDim },
    { key: `${a}.rope.freq_base`, type: F32, value: config.rope.base },
    { key: 'tokenizer.ggml.eos_token_id', type: U, value: config.tokens.eos[0] ?? 0 },
    ...(config.tokens.pad !== undefined ? [{ key: 'tokenizer.ggml.padding_token_id', type: U, value: config.tokens.pad }] : []),
    ...(opts.extraMetadata ?? []),
  ];
  if (D !== config.hiddenSize / H) metadata.push({ key: `${a}.attention.key_length`, type: U, value: D });
  return buildGguf({ version: opts.version, alignment: opts.alignment, metadata, tensors });
}

/** The same weights a GGUF of `type` holds, as our host tensors: what the GGUF path must reproduce exactly. */
export function ggmlQuantizedWeights(
  weights: ModelWeights<HostWeight>,
  type: GgufWeightType,
  importer: (blocks: Uint8Array, rows: number, cols: number, type: GgufWeightType) => HostWeight,
): ModelWeights<HostWeight> {
  return mapWeights(weights, (w) => {
    if (w.dtype !== 'f32' || w.shape.length !== 2 || type === 'F32') return w;
    const [rows, cols] = w.shape as [number, number];
    const t = encodeGgufTensor('w', w.data, w.shape, type);
    return importer(t.data, rows, cols, type);
  });
}
