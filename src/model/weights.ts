// Tensor names of every family -> the canonical per-layer set (weights-types.ts).
// Loading goes one canonical tensor at a time through a `convert` callback (upload to the GPU,
// quantize, write a shard), so a caller never needs the whole model in JS memory.
import { GlmError } from '../errors';
import type { GlmConfig } from './config';
import type { HostTensor } from './tensor';
import type { LayerWeights, LinearWeights, ModelWeights, NormWeights } from './weights-types';
import type { QuantizedTensor } from '../quant/types';
import { importThudmInt4 } from '../quant/q4';
import { importThudmInt8 } from '../quant/q8';
import { readTensorBytes, readTensorF32, type TensorIndex, type TensorInfo } from '../formats/safetensors';

export class WeightShapeError extends GlmError {
  override name = 'WeightShapeError';
}

/** A weight as it sits in JS memory: dense float32, or quantized (stored so by THUDM, or by our converter). */
export type HostWeight = HostTensor | QuantizedTensor;

export function weightShape(w: HostWeight): number[] {
  return w.dtype === 'f32' ? w.shape : [w.rows, w.cols];
}

/** Where a canonical tensor comes from. Rows of several sources are concatenated (q, k, v -> qkv). */
interface Recipe {
  path: string;
  sources: string[];
  shape: number[];
  /** ChatGLM-6B stores qkv per head as [q_h; k_h; v_h]; canonical order is all q, all k, all v. */
  perHeadQkv?: boolean;
  /** Quantized-by-THUDM matrices carry a `weight_scale` beside `weight`. */
  storedQuant?: boolean;
}

function names(config: GlmConfig): {
  embedding: string;
  finalNorm: string;
  lmHead: string | null;
  layer: (i: number) => Record<string, string>;
} {
  switch (config.family) {
    case 'chatglm1':
      return {
        embedding: 'transformer.word_embeddings.weight',
        finalNorm: 'transformer.final_layernorm',
        lmHead: 'lm_head.weight',
        layer: (i) => {
          const p = `transformer.layers.${i}`;
          return {
            attnNorm: `${p}.input_layernorm`,
            qkv: `${p}.attention.query_key_value`,
            attnOut: `${p}.attention.dense`,
            mlpNorm: `${p}.post_attention_layernorm`,
            mlpUp: `${p}.mlp.dense_h_to_4h`,
            mlpDown: `${p}.mlp.dense_4h_to_h`,
          };
        },
      };
    case 'chatglm2':
      return {
        embedding: 'transformer.embedding.word_embeddings.weight',
        finalNorm: 'transformer.encoder.final_layernorm',
        lmHead: 'transformer.output_layer.weight',
        layer: (i) => {
          const p = `transformer.encoder.layers.${i}`;
          return {
            attnNorm: `${p}.input_layernorm`,
            qkv: `${p}.self_attention.query_key_value`,
            attnOut: `${p}.self_attention.dense`,
            mlpNorm: `${p}.post_attention_layernorm`,
            mlpUp: `${p}.mlp.dense_h_to_4h`,
            mlpDown: `${p}.mlp.dense_4h_to_h`,
          };
        },
      };
    case 'glm':
    case 'glm4':
      return {
        embedding: 'model.embed_tokens.weight',
        finalNorm: 'model.norm',
        lmHead: config.tieWordEmbeddings ? null : 'lm_head.weight',
        layer: (i) => {
          const p = `model.layers.${i}`;
          return {
            attnNorm: `${p}.input_layernorm`,
            q: `${p}.self_attn.q_proj`,
            k: `${p}.self_attn.k_proj`,
            v: `${p}.self_attn.v_proj`,
            attnOut: `${p}.self_attn.o_proj`,
            postAttnNorm: `${p}.post_self_attn_layernorm`,
            mlpNorm: `${p}.post_attention_layernorm`,
            mlpUp: `${p}.mlp.gate_up_proj`,
            mlpDown: `${p}.mlp.down_proj`,
            postMlpNorm: `${p}.post_mlp_layernorm`,
          };
        },
      };
  }
}

/** Lists, for every canonical weight, its sources and expected shape. Pure: no I/O. */
export function weightRecipes(config: GlmConfig): { model: Recipe[]; lmHeadTied: boolean } {
  const { hiddenSize: hidden, numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: F, vocabSize: V } = config;
  const n = names(config);
  const qkvRows = (H + 2 * Hkv) * D;
  const upRows = config.mlp === 'swiglu' ? 2 * F : F;
  const quant = config.storedQuantBits !== 0;
  const recipes: Recipe[] = [{ path: 'embedding', sources: [n.embedding], shape: [V, hidden] }];
  const norm = (path: string, src: string, withBias: boolean) => {
    recipes.push({ path: `${path}.weight`, sources: [`${src}.weight`], shape: [hidden] });
    if (withBias) recipes.push({ path: `${path}.bias`, sources: [`${src}.bias`], shape: [hidden] });
  };
  const linear = (path: string, srcs: string[], rows: number, cols: number, bias: boolean, extra: Partial<Recipe> = {}) => {
    recipes.push({ path: `${path}.weight`, sources: srcs.map((s) => `${s}.weight`), shape: [rows, cols], storedQuant: quant, ...extra });
    if (bias) recipes.push({ path: `${path}.bias`, sources: srcs.map((s) => `${s}.bias`), shape: [rows], ...extra });
  };
  const ln = config.norm === 'layernorm';
  for (let i = 0; i < config.numLayers; i++) {
    const L = n.layer(i);
    const p = `layers.${i}`;
    norm(`${p}.attnNorm`, L.attnNorm!, ln);
    const qkvSources = L.qkv ? [L.qkv] : [L.q!, L.k!, L.v!];
    linear(`${p}.qkv`, qkvSources, qkvRows, hidden, config.qkvBias, { perHeadQkv: config.family === 'chatglm1' });
    linear(`${p}.attnOut`, [L.attnOut!], hidden, H * D, config.attnOutBias);
    if (config.sandwichNorms) norm(`${p}.postAttnNorm`, L.postAttnNorm!, false);
    norm(`${p}.mlpNorm`, L.mlpNorm!, ln);
    linear(`${p}.mlpUp`, [L.mlpUp!], upRows, hidden, config.mlpBias);
    linear(`${p}.mlpDown`, [L.mlpDown!], hidden, F, config.mlpBias);
    if (config.sandwichNorms) norm(`${p}.postMlpNorm`, L.postMlpNorm!, false);
  }
  norm('finalNorm', n.finalNorm, ln);
  if (n.lmHead) recipes.push({ path: 'lmHead', sources: [n.lmHead], shape: [V, hidden] });
  return { model: recipes, lmHeadTied: n.lmHead === null };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Row permutation that turns ChatGLM-6B's per-head [q_h; k_h; v_h] rows into [q; k; v]. */
function perHeadQkvOrder(H: number, D: number): Int32Array {
  const order = new Int32Array(3 * H * D); // order[canonicalRow] = storedRow
  for (let part = 0; part < 3; part++) {
    for (let h = 0; h < H; h++) {
      for (let d = 0; d < D; d++) order[part * H * D + h * D + d] = h * 3 * D + part * D + d;
    }
  }
  return order;
}

function permuteRows<A extends Float32Array | Uint8Array | Uint16Array>(src: A, rowLength: number, order: Int32Array): A {
  const out = new (src.constructor as new (n: number) => A)(src.length);
  for (let r = 0; r < order.length; r++) out.set(src.subarray(order[r]! * rowLength, (order[r]! + 1) * rowLength), r * rowLength);
  return out;
}

function concat<A extends Float32Array | Uint8Array | Uint16Array>(parts: A[]): A {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new (parts[0]!.constructor as new (n: number) => A)(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function info(index: TensorIndex, name: string): TensorInfo {
  return index.get(name); // throws TensorNotFoundError naming similar tensors
}

async function buildDense(index: TensorIndex, r: Recipe, config: GlmConfig): Promise<HostTensor> {
  const infos = r.sources.map((s) => info(index, s));
  const rowsOf = (i: TensorInfo) => (i.shape.length === 2 ? i.shape[0]! : i.shape[0] ?? 1);
  const gotRows = infos.reduce((s, i) => s + rowsOf(i), 0);
  const got = r.shape.length === 2 ? [gotRows, infos[0]!.shape[1] ?? 0] : [gotRows];
  if (!sameShape(got, r.shape) || infos.some((i) => i.shape.length !== r.shape.length)) {
    throw new WeightShapeError(
      `${r.sources.join(' + ')}: shape ${infos.map((i) => `[${i.shape}]`).join(' + ')} does not match the config, which needs [${r.shape}] for ${r.path}`,
    );
  }
  let data = concat(await Promise.all(infos.map((i) => readTensorF32(i))));
  if (r.perHeadQkv) data = permuteRows(data, r.shape.length === 2 ? r.shape[1]! : 1, perHeadQkvOrder(config.numHeads, config.headDim));
  return { dtype: 'f32', shape: r.shape, data };
}

/** THUDM int4/int8 checkpoints: `X.weight` int8 (int4: two values per byte) + `X.weight_scale` f16 per row. */
async function buildStoredQuant(index: TensorIndex, r: Recipe, config: GlmConfig): Promise<QuantizedTensor> {
  const [rows, cols] = r.shape as [number, number];
  const bits = config.storedQuantBits;
  const bytesPerRow = bits === 4 ? cols / 2 : cols;
  const weights: Uint8Array[] = [];
  const scales: Uint16Array[] = [];
  for (const src of r.sources) {
    const w = info(index, src);
    const s = info(index, src.replace(/\.weight$/, '.weight_scale'));
    if (w.shape.length !== 2 || w.shape[1] !== bytesPerRow || s.dtype !== 'F16') {
      throw new WeightShapeError(`${src}: a ${bits}-bit THUDM weight needs int8 [rows, ${bytesPerRow}] and an f16 weight_scale, got ${w.dtype} [${w.shape}] and ${s.dtype} [${s.shape}]`);
    }
    weights.push(await readTensorBytes(w));
    const sb = await readTensorBytes(s);
    scales.push(new Uint16Array(sb.buffer, sb.byteOffset, sb.byteLength / 2).slice());
  }
  let w = concat(weights);
  let s = concat(scales);
  if (w.length !== rows * bytesPerRow) throw new WeightShapeError(`${r.sources.join(' + ')}: ${w.length / bytesPerRow} rows, the config needs ${rows} for ${r.path}`);
  if (r.perHeadQkv) {
    const order = perHeadQkvOrder(config.numHeads, config.headDim);
    w = permuteRows(w, bytesPerRow, order);
    s = permuteRows(s, 1, order);
  }
  return bits === 4 ? importThudmInt4(w, s, rows, cols) : importThudmInt8(w, s, rows, cols);
}

function setPath<W>(root: Record<string, unknown>, path: string, value: W): void {
  const parts = path.split('.');
  let node: Record<string, unknown> = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i]!;
    node[key] ??= /^\d+$/.test(parts[i + 1]!) ? [] : {};
    node = node[key] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

export interface LoadWeightsOptions<W> {
  /** Turns each host tensor into the backend's handle (upload, quantize...). Default: keep it. */
  convert?: (weight: HostWeight, path: string) => W | Promise<W>;
  onProgress?: (done: number, total: number, path: string) => void;
  /**
   * Tensors for which this returns true are neither read nor converted (their slot stays undefined):
   * a resumed conversion already has them and must not fetch their bytes again.
   */
  skip?: (path: string) => boolean;
}

/**
 * Reads every canonical weight from a safetensors model, checking shapes against the config.
 * One tensor in JS memory at a time (plus what `convert` keeps).
 */
export async function loadWeights<W = HostWeight>(config: GlmConfig, index: TensorIndex, options: LoadWeightsOptions<W> = {}): Promise<ModelWeights<W>> {
  const convert = options.convert ?? ((w: HostWeight) => w as unknown as W);
  const { model, lmHeadTied } = weightRecipes(config);
  const root: Record<string, unknown> = {};
  let done = 0;
  for (const r of model) {
    if (options.skip?.(r.path)) {
      options.onProgress?.(++done, model.length, r.path);
      continue;
    }
    const host = r.storedQuant && r.shape.length === 2 ? await buildStoredQuant(index, r, config) : await buildDense(index, r, config);
    setPath(root, r.path, await convert(host, r.path));
    options.onProgress?.(++done, model.length, r.path);
  }
  if (lmHeadTied) root.lmHead = root.embedding;
  const weights = {
    embedding: root.embedding as W,
    layers: root.layers as LayerWeights<W>[],
    finalNorm: root.finalNorm as NormWeights<W>,
    lmHead: root.lmHead as W,
  };
  return weights;
}

export type { LinearWeights };
