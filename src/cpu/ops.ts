// Float32 reference ops: plain loops, written for clarity. They are (1) the reference every GPU
// kernel is tested against and (2) the runtime CPU fallback for layers the planner puts on the CPU.
// Sums run in JS doubles and are stored as float32, so they are at least as accurate as a float32
// PyTorch run; the GPU kernels accumulate in f32 and are compared with named tolerances.
import type { GlmConfig } from '../model/config';
import type { ForwardBatch, MatmulEpilogue, Ops } from '../model/ops';
import type { HostWeight } from '../model/weights';
import { roundToF16 } from '../formats/dtype';
import { matmulQuant } from './quant-matmul';
import type { QuantizedTensor } from '../quant/types';
import { dequantizeRows } from '../quant/rows';
import type { VisionOps } from '../model/vision';
import { attentionFull, blocks2x2, concatRows, geluErf } from './vision-ops';

/** A CPU activation: [rows, cols] float32, row-major. */
export interface CpuTensor {
  rows: number;
  cols: number;
  data: Float32Array;
}

export interface CpuKvCache {
  capacity: number;
  /** Per layer: [capacity, numKvHeads·headDim]. */
  k: Float32Array[];
  v: Float32Array[];
}

/** Dense float32 or quantized (q4/q8, used directly by matmulQuant). */
export type CpuWeight = HostWeight;

export function cpuTensor(rows: number, cols: number, data: Float32Array = new Float32Array(rows * cols)): CpuTensor {
  if (data.length !== rows * cols) throw new RangeError(`[${rows}, ${cols}] tensor needs ${rows * cols} values, got ${data.length}`);
  return { rows, cols, data };
}

function vectorOf(w: CpuWeight, length: number, what: string): Float32Array {
  if (w.dtype !== 'f32') throw new RangeError(`${what}: expected a float32 vector, got a ${w.dtype} tensor`);
  if (w.data.length !== length) throw new RangeError(`${what}: expected ${length} values, got ${w.data.length} (shape [${w.shape}])`);
  return w.data;
}

function matrixShape(w: CpuWeight): [number, number] {
  if (w.dtype !== 'f32') return [w.rows, w.cols];
  if (w.shape.length !== 2) throw new RangeError(`expected a 2-D weight, got shape [${w.shape}]`);
  return [w.shape[0]!, w.shape[1]!];
}

// ---- elementary ops, exported individually: GPU kernel tests compare against these ----

export function layerNorm(x: CpuTensor, weight: Float32Array, bias: Float32Array | undefined, eps: number): CpuTensor {
  const { rows, cols } = x;
  const out = cpuTensor(rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mean = 0;
    for (let i = 0; i < cols; i++) mean += x.data[o + i]!;
    mean /= cols;
    let variance = 0;
    for (let i = 0; i < cols; i++) variance += (x.data[o + i]! - mean) ** 2;
    variance /= cols;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < cols; i++) out.data[o + i] = (x.data[o + i]! - mean) * inv * weight[i]! + (bias ? bias[i]! : 0);
  }
  return out;
}

export function rmsNorm(x: CpuTensor, weight: Float32Array, eps: number): CpuTensor {
  const { rows, cols } = x;
  const out = cpuTensor(rows, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let i = 0; i < cols; i++) ss += x.data[o + i]! * x.data[o + i]!;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let i = 0; i < cols; i++) out.data[o + i] = x.data[o + i]! * inv * weight[i]!;
  }
  return out;
}

/** x [n, in] · w [out, in]ᵀ + bias + residualScale·residual. */
export function matmulF32(
  x: CpuTensor,
  w: Float32Array,
  outFeatures: number,
  bias?: Float32Array,
  residual?: CpuTensor,
  residualScale = 1,
): CpuTensor {
  const { rows: n, cols: inFeatures } = x;
  if (w.length !== outFeatures * inFeatures) throw new RangeError(`matmul: weight has ${w.length} values, expected ${outFeatures}x${inFeatures}`);
  if (residual && (residual.rows !== n || residual.cols !== outFeatures)) {
    throw new RangeError(`matmul: residual is [${residual.rows}, ${residual.cols}], expected [${n}, ${outFeatures}]`);
  }
  const out = cpuTensor(n, outFeatures);
  for (let r = 0; r < n; r++) {
    const xo = r * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wo = o * inFeatures;
      let acc = 0;
      for (let i = 0; i < inFeatures; i++) acc += x.data[xo + i]! * w[wo + i]!;
      if (bias) acc += bias[o]!;
      if (residual) acc += residualScale * residual.data[r * outFeatures + o]!;
      out.data[r * outFeatures + o] = acc;
    }
  }
  return out;
}

/** Inverse frequencies of RoPE: base^(-2i/rotaryDim), optionally rounded to f16 as ChatGLM-6B stores them. */
export function ropeInvFreq(rotaryDim: number, base: number, f16: boolean): Float32Array {
  const inv = new Float32Array(rotaryDim / 2);
  for (let i = 0; i < inv.length; i++) {
    const v = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / rotaryDim)));
    inv[i] = f16 ? roundToF16(v) : v;
  }
  return inv;
}

/**
 * RoPE of one head vector `v` (headDim values at offset `o`), in place.
 * interleaved: pairs (2i, 2i+1) of the first rotaryDim dims, angle pos·invFreq[i].
 * chatglm1-2d: half h ∈ {0,1} of width W = headDim/2 uses position (h=0) or block position (h=1);
 *   inside a half, pairs (i, i + W/2) rotate NeoX-style with angle p·invFreq[i].
 */
export function applyRope(v: Float32Array, o: number, headDim: number, invFreq: Float32Array, style: 'interleaved' | 'chatglm1-2d', pos: number, blockPos: number): void {
  if (style === 'interleaved') {
    for (let i = 0; i < invFreq.length; i++) {
      const angle = Math.fround(pos * invFreq[i]!);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      const a = v[o + 2 * i]!;
      const b = v[o + 2 * i + 1]!;
      v[o + 2 * i] = a * c - b * s;
      v[o + 2 * i + 1] = b * c + a * s;
    }
    return;
  }
  const half = headDim / 2;
  const quarter = half / 2;
  for (let h = 0; h < 2; h++) {
    const p = h === 0 ? pos : blockPos;
    const base = o + h * half;
    for (let i = 0; i < quarter; i++) {
      const angle = Math.fround(p * invFreq[i]!);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      const a = v[base + i]!;
      const b = v[base + i + quarter]!;
      v[base + i] = a * c - b * s;
      v[base + i + quarter] = b * c + a * s;
    }
  }
}

export function gelu(x: CpuTensor): CpuTensor {
  const out = cpuTensor(x.rows, x.cols);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i]!;
    out.data[i] = 0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v * (1 + 0.044715 * v * v))));
  }
  return out;
}

export function swiglu(x: CpuTensor): CpuTensor {
  if (x.cols % 2 !== 0) throw new RangeError(`swiglu: width ${x.cols} is odd`);
  const f = x.cols / 2;
  const out = cpuTensor(x.rows, f);
  for (let r = 0; r < x.rows; r++) {
    for (let i = 0; i < f; i++) {
      const g = x.data[r * x.cols + i]!;
      const u = x.data[r * x.cols + f + i]!;
      out.data[r * f + i] = (g / (1 + Math.exp(-g))) * u;
    }
  }
  return out;
}

export function add(a: CpuTensor, b: CpuTensor): CpuTensor {
  if (a.rows !== b.rows || a.cols !== b.cols) throw new RangeError(`add: [${a.rows}, ${a.cols}] + [${b.rows}, ${b.cols}]`);
  const out = cpuTensor(a.rows, a.cols);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i]! + b.data[i]!;
  return out;
}

export function embed(table: Float32Array, hidden: number, ids: Int32Array): CpuTensor {
  const vocab = table.length / hidden;
  const out = cpuTensor(ids.length, hidden);
  ids.forEach((id, r) => {
    if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    out.data.set(table.subarray(id * hidden, (id + 1) * hidden), r * hidden);
  });
  return out;
}

/** Splits qkv, ropes q and k, writes k/v into the cache slots start.., returns roped q. */
export function ropeKvAppend(qkv: CpuTensor, cache: CpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): CpuTensor {
  const { numHeads: H, numKvHeads: Hkv, headDim: D, rope } = config;
  const n = qkv.rows;
  if (qkv.cols !== (H + 2 * Hkv) * D) throw new RangeError(`ropeKvAppend: qkv width ${qkv.cols}, expected ${(H + 2 * Hkv) * D}`);
  if (batch.start + n > cache.capacity) throw new RangeError(`KV cache full: ${batch.start + n} tokens > capacity ${cache.capacity}`);
  const invFreq = ropeInvFreq(rope.rotaryDim, rope.base, rope.f16InvFreq);
  const q = cpuTensor(n, H * D);
  const kvWidth = Hkv * D;
  const kCache = cache.k[layer]!;
  const vCache = cache.v[layer]!;
  for (let t = 0; t < n; t++) {
    const row = t * qkv.cols;
    const pos = batch.positions[t]!;
    const blockPos = batch.blockPositions?.[t] ?? 0;
    q.data.set(qkv.data.subarray(row, row + H * D), t * H * D);
    for (let h = 0; h < H; h++) applyRope(q.data, t * H * D + h * D, D, invFreq, rope.style, pos, blockPos);
    const slot = (batch.start + t) * kvWidth;
    kCache.set(qkv.data.subarray(row + H * D, row + H * D + kvWidth), slot);
    for (let h = 0; h < Hkv; h++) applyRope(kCache, slot + h * D, D, invFreq, rope.style, pos, blockPos);
    vCache.set(qkv.data.subarray(row + H * D + kvWidth, row + H * D + 2 * kvWidth), slot);
  }
  return q;
}

export function attention(q: CpuTensor, cache: CpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): CpuTensor {
  const { numHeads: H, numKvHeads: Hkv, headDim: D } = config;
  const n = q.rows;
  const group = H / Hkv;
  const kvWidth = Hkv * D;
  const scale = 1 / Math.sqrt(D);
  const total = batch.start + n;
  const kCache = cache.k[layer]!;
  const vCache = cache.v[layer]!;
  const out = cpuTensor(n, H * D);
  const scores = new Float64Array(total);
  const acc = new Float64Array(D);
  const qData = q.data;
  for (let t = 0; t < n; t++) {
    const self = batch.start + t;
    // Keys this query sees: causal (up to itself), or ChatGLM-6B's bidirectional prefix; the rest weigh 0.
    const end = Math.min(total, Math.max(self + 1, batch.bidirectionalPrefix));
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      const qo = t * H * D + h * D;
      let max = -Infinity;
      for (let j = 0; j < end; j++) {
        let dot = 0;
        const ko = j * kvWidth + kvh * D;
        for (let d = 0; d < D; d++) dot += qData[qo + d]! * kCache[ko + d]!;
        const score = dot * scale;
        scores[j] = score;
        if (score > max) max = score;
      }
      let sum = 0;
      for (let j = 0; j < end; j++) {
        const e = Math.exp(scores[j]! - max);
        scores[j] = e;
        sum += e;
      }
      // Rows of V in order, each added into all D sums: the same sums, in the same order, as one dot product
      // per output column, but reading V row by row (contiguous) instead of a column at a stride.
      acc.fill(0);
      for (let j = 0; j < end; j++) {
        const w = scores[j]!;
        if (w === 0) continue;
        const vo = j * kvWidth + kvh * D;
        for (let d = 0; d < D; d++) acc[d]! += w * vCache[vo + d]!;
      }
      for (let d = 0; d < D; d++) out.data[qo + d] = acc[d]! / sum;
    }
  }
  return out;
}

/** A faster q4/q8 matmul for the runtime fallback (src/cpu/fast-matmul.ts: WebAssembly SIMD, threads). */
export interface QuantMatmul {
  matmul(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float32Array;
}

/**
 * The Ops backend over CPU memory. Without `fast` it is the plain-loop reference every GPU kernel and
 * the WASM kernels are tested against; the runtime passes the WASM SIMD matmul for quantized layers.
 */
export class CpuOps implements Ops<CpuTensor, CpuWeight, CpuKvCache>, VisionOps<CpuTensor, CpuWeight> {
  readonly name = 'cpu';
  /**
   * The CPU kernels gain nothing from long batches (they stream the weights once per row block either
   * way), so a prompt runs in short chunks: an abort between layers then takes effect within a short
   * chunk's layer (issue #16), and the activation scratch stays small.
   */
  readonly prefillChunkTokens = 64;

  constructor(private readonly fast?: QuantMatmul) {}

  embed(table: CpuWeight, ids: Int32Array): CpuTensor {
    const [vocab, hidden] = matrixShape(table);
    if (table.dtype === 'f32') return embed(table.data, hidden, ids);
    for (const id of ids) if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    return cpuTensor(ids.length, hidden, dequantizeRows(table, ids));
  }
  layerNorm(x: CpuTensor, weight: CpuWeight, bias: CpuWeight | undefined, eps: number): CpuTensor {
    return layerNorm(x, vectorOf(weight, x.cols, 'layerNorm weight'), bias && vectorOf(bias, x.cols, 'layerNorm bias'), eps);
  }
  rmsNorm(x: CpuTensor, weight: CpuWeight, eps: number): CpuTensor {
    return rmsNorm(x, vectorOf(weight, x.cols, 'rmsNorm weight'), eps);
  }
  matmul(x: CpuTensor, w: CpuWeight, epilogue: MatmulEpilogue<CpuTensor, CpuWeight, CpuKvCache> = {}): CpuTensor {
    if (epilogue.attention) {
      const { attention: a, ...rest } = epilogue;
      if (rest.rmsNorm || rest.activation) throw new RangeError('matmul: an attention prologue cannot take an rmsNorm or an activation');
      return this.matmul(attention(x, a.cache, a.layer, a.batch, a.config), w, rest);
    }
    if (epilogue.ropeKvAppend) {
      const { ropeKvAppend: r, ...rest } = epilogue;
      if (rest.residual || rest.activation) throw new RangeError('matmul: a ropeKvAppend epilogue cannot take a residual or an activation');
      return ropeKvAppend(this.matmul(x, w, rest), r.cache, r.layer, r.batch, r.config);
    }
    if (epilogue.rmsNorm) {
      const { rmsNorm: norm, ...rest } = epilogue;
      return this.matmul(this.rmsNorm(x, norm.weight, norm.eps), w, rest);
    }
    const { activation, ...linear } = epilogue;
    if (activation) {
      if (epilogue.residual) throw new RangeError('matmul: an activation epilogue cannot take a residual');
      const y = this.matmul(x, w, linear);
      return activation === 'swiglu' ? swiglu(y) : gelu(y);
    }
    const [out, inFeatures] = matrixShape(w);
    if (inFeatures !== x.cols) throw new RangeError(`matmul: x has ${x.cols} columns but the weight [${out}, ${inFeatures}] expects ${inFeatures}`);
    const bias = epilogue.bias && vectorOf(epilogue.bias, out, 'matmul bias');
    if (w.dtype === 'f32') return matmulF32(x, w.data, out, bias, epilogue.residual, epilogue.residualScale ?? 1);
    const y = cpuTensor(x.rows, out, (this.fast ?? { matmul: matmulQuant }).matmul(x.data, x.rows, w, bias));
    const { residual, residualScale = 1 } = epilogue;
    if (residual) {
      if (residual.rows !== y.rows || residual.cols !== y.cols) throw new RangeError(`matmul: residual is [${residual.rows}, ${residual.cols}], expected [${y.rows}, ${y.cols}]`);
      for (let i = 0; i < y.data.length; i++) y.data[i] = Math.fround(y.data[i]! + Math.fround(residualScale * residual.data[i]!));
    }
    return y;
  }
  ropeKvAppend(qkv: CpuTensor, cache: CpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): CpuTensor {
    return ropeKvAppend(qkv, cache, layer, batch, config);
  }
  attention(q: CpuTensor, cache: CpuKvCache, layer: number, batch: ForwardBatch, config: GlmConfig): CpuTensor {
    return attention(q, cache, layer, batch, config);
  }
  swiglu(x: CpuTensor): CpuTensor {
    return swiglu(x);
  }
  gelu(x: CpuTensor): CpuTensor {
    return gelu(x);
  }
  add(a: CpuTensor, b: CpuTensor): CpuTensor {
    return add(a, b);
  }
  sliceRows(x: CpuTensor, start: number, count: number): CpuTensor {
    return cpuTensor(count, x.cols, x.data.slice(start * x.cols, (start + count) * x.cols));
  }
  createKvCache(config: GlmConfig, capacity: number): CpuKvCache {
    const width = config.numKvHeads * config.headDim;
    const make = () => Array.from({ length: config.numLayers }, () => new Float32Array(capacity * width));
    return { capacity, k: make(), v: make() };
  }
  async read(x: CpuTensor): Promise<Float32Array> {
    return x.data;
  }
  // ---- the GLM-4V vision tower's ops (src/cpu/vision-ops.ts) ----
  fromHost(data: Float32Array, rows: number, cols: number): CpuTensor {
    return cpuTensor(rows, cols, data);
  }
  weightRows(w: CpuWeight): CpuTensor {
    const [rows, cols] = w.dtype === 'f32' && w.shape.length === 1 ? [1, w.shape[0]!] : matrixShape(w);
    return cpuTensor(rows, cols, w.dtype === 'f32' ? w.data : dequantizeRows(w, Int32Array.from({ length: rows }, (_, i) => i)));
  }
  concatRows(parts: CpuTensor[]): CpuTensor {
    return concatRows(parts);
  }
  attentionFull(qkv: CpuTensor, numHeads: number): CpuTensor {
    return attentionFull(qkv, numHeads);
  }
  geluErf(x: CpuTensor): CpuTensor {
    return geluErf(x);
  }
  blocks2x2(x: CpuTensor, grid: number): CpuTensor {
    return blocks2x2(x, grid);
  }
}
