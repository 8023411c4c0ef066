// GLM-4V (glm-4v-9b): the EVA2-CLIP vision tower, and how its output enters the language model's sequence.
// Reference: THUDM glm-4v-9b `visual.py` (EVA2CLIPModel) and `modeling_chatglm.py` (ChatGLMModel.forward).
//
//   image [3, S, S] -> 14x14/stride-14 conv (a GEMM over patches) -> [g², Dv]; prepend the class token; + position embeddings
//   -> L x TransformerLayer:  x = x + LN_in(Attn(x));  x = x + LN_post(MLP_gelu(x))    (post-norm: the norm is on the branch)
//   -> drop the class token -> 2x2/stride-2 conv (a GEMM over 2x2 blocks of patches) -> [(g/2)², D]
//   -> GLU adapter: y = GELU(LN(x·Wp)); y = (silu(y·Wg) * y·Wu)·Wd
//   -> [boi; y; eoi] / scaling_factor                      = the image's (g/2)² + 2 rows in the language model
//
// In the prompt an image is three ids, <|begin_of_image|> placeholder <|end_of_image|>; those three rows are
// replaced by the tower's (g/2)² + 2 rows. Position ids (ChatGLMModel.forward): boi keeps its own position p,
// every patch row gets p + 1, eoi gets p + 2 and the text after it continues as if the image were three tokens.
// So positions and KV-cache slots differ after an image: RoPE takes the positions, the cache the slots.
import { ImageInputError, NoVisionTowerError, VisionConfigError, VisionWeightError } from '../errors';
import { checkPositiveFinite, checkPositiveInt, describeValue } from './limits';
import type { MatmulEpilogue } from './ops';
import type { HostTensor } from './tensor';
import type { LinearWeights, NormWeights } from './weights-types';
import { readTensorF32, type TensorIndex } from '../formats/safetensors';

export interface VisionConfig {
  imageSize: number;
  patchSize: number;
  inChannels: number;
  /** The tower's width (1792 for glm-4v-9b) and its attention heads (16). */
  hiddenSize: number;
  numHeads: number;
  numLayers: number;
  intermediateSize: number;
  layerNormEps: number;
  /** The class token plus one per patch: (imageSize / patchSize)² + 1. */
  numPositions: number;
  scalingFactor: number;
  /** The language model side: its width and the GLU adapter's inner width (config.hidden_size, ffn_hidden_size). */
  lmHiddenSize: number;
  glmFfnSize: number;
  boiTokenId: number;
  eoiTokenId: number;
}

/** Patches per side of the tower's grid. */
export function visionGrid(v: VisionConfig): number {
  return Math.floor(v.imageSize / v.patchSize);
}

/** Rows one image takes in the language model: the (g/2)² merged patches + boi + eoi. */
export function imageTokenCount(v: VisionConfig): number {
  return Math.floor(visionGrid(v) / 2) ** 2 + 2;
}

/** Values one preprocessed image holds (CHW float32). */
export function imagePixelCount(v: VisionConfig): number {
  return v.inChannels * v.imageSize * v.imageSize;
}

type Json = Record<string, unknown>;

/** glm-4v-9b's `vision_config` (+ the fields of the outer config the tower uses) -> VisionConfig. */
export function normalizeVisionConfig(raw: Json, lmHiddenSize: number, ffnHiddenSize: number, vocabSize: number): VisionConfig {
  const vc = raw.vision_config;
  if (!vc || typeof vc !== 'object' || Array.isArray(vc)) throw new VisionConfigError(`"vision_config" must be an object, got ${describeValue(vc)}`);
  const v = vc as Json;
  const int = (name: string, kind: 'hiddenSize' | 'numHeads' | 'numLayers' | 'ffnHiddenSize' | 'contextLength' | 'headDim') => {
    if (v[name] === undefined || v[name] === null) throw new VisionConfigError(`vision_config is missing the field "${name}"`);
    return checkPositiveInt(v[name], `vision_config.${name}`, kind);
  };
  const act = v.hidden_act ?? 'gelu';
  if (act !== 'gelu') throw new VisionConfigError(`vision_config.hidden_act ${describeValue(act)} is not supported (EVA2-CLIP uses "gelu")`);
  const id = (name: string) => {
    const x = raw[name];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= vocabSize) {
      throw new VisionConfigError(`a GLM-4V config needs "${name}" (a token id below ${vocabSize}), got ${describeValue(x)}`);
    }
    return x;
  };
  const config: VisionConfig = {
    imageSize: int('image_size', 'contextLength'),
    patchSize: int('patch_size', 'headDim'),
    inChannels: int('in_channels', 'numHeads'),
    hiddenSize: int('hidden_size', 'hiddenSize'),
    numHeads: int('num_heads', 'numHeads'),
    numLayers: int('num_hidden_layers', 'numLayers'),
    intermediateSize: int('intermediate_size', 'ffnHiddenSize'),
    layerNormEps: v.layer_norm_eps === undefined ? 1e-6 : checkPositiveFinite(v.layer_norm_eps, 'vision_config.layer_norm_eps', 'normEps'),
    numPositions: int('num_positions', 'contextLength'),
    scalingFactor: v.scaling_factor === undefined ? 8 : checkPositiveFinite(v.scaling_factor, 'vision_config.scaling_factor', 'ropeBase'),
    lmHiddenSize,
    glmFfnSize: ffnHiddenSize,
    boiTokenId: id('boi_token_id'),
    eoiTokenId: id('eoi_token_id'),
  };
  const g = visionGrid(config);
  if (config.hiddenSize % config.numHeads !== 0) throw new VisionConfigError(`vision_config.hidden_size ${config.hiddenSize} is not a multiple of num_heads ${config.numHeads}`);
  if (g * config.patchSize !== config.imageSize) throw new VisionConfigError(`vision_config.image_size ${config.imageSize} is not a multiple of patch_size ${config.patchSize}`);
  if (config.numPositions !== g * g + 1) {
    throw new VisionConfigError(`vision_config.num_positions is ${config.numPositions}, but a ${g}x${g} patch grid plus the class token needs ${g * g + 1}`);
  }
  if (g < 2) throw new VisionConfigError(`a ${g}x${g} patch grid is too small for the 2x2 downsampling conv`);
  return config;
}

// ---------------------------------------------------------------- weights

export interface VisionLayerWeights<W> {
  /** Rows q (all heads), k, v: (3·Dv, Dv) + bias. The reference reshapes each row's output as (3, heads, headDim). */
  qkv: LinearWeights<W>;
  attnOut: LinearWeights<W>; // (Dv, Dv)
  /** input_layernorm: applied to the attention's OUTPUT (post-norm on the branch), LayerNorm with bias. */
  attnNorm: NormWeights<W>;
  fc1: LinearWeights<W>; // (I, Dv)
  fc2: LinearWeights<W>; // (Dv, I)
  /** post_attention_layernorm: applied to the MLP's output. */
  mlpNorm: NormWeights<W>;
}

export interface VisionWeights<W> {
  /** The 14x14 conv as a GEMM: (Dv, C·p·p), columns in (channel, ky, kx) order, + bias. */
  patchEmbed: LinearWeights<W>;
  cls: W; // (1, Dv)
  positions: W; // (g² + 1, Dv): row 0 is the class token's
  layers: VisionLayerWeights<W>[];
  /** The 2x2 conv as a GEMM: (D, Dv·4), columns in (channel, dy, dx) order, + bias. */
  downsample: LinearWeights<W>;
  glu: {
    proj: W; // (D, D)
    norm: NormWeights<W>; // nn.LayerNorm(D): eps 1e-5
    /** gate_proj rows, then dense_h_to_4h rows: (2F, D), so the matmul's 'swiglu' epilogue is silu(gate) * up. */
    gateUp: W;
    down: W; // (D, F)
  };
  /** The learned begin/end-of-image rows, already divided by scaling_factor like the patch rows (see below). */
  boi: W; // (1, D)
  eoi: W; // (1, D)
}

/** nn.LayerNorm's default eps: the GLU adapter's norm1 is built without one. */
export const GLU_NORM_EPS = 1e-5;

/** THUDM tensor names of the tower (under `transformer.vision.`). */
export const VISION_PREFIX = 'transformer.vision.';

/**
 * Reads the tower's weights from a glm-4v checkpoint. The final `x / scaling_factor` is folded into the
 * adapter's last matrix and into boi/eoi here (exact when the factor is a power of two, as glm-4v-9b's 8 is),
 * so the forward pass has no extra scaling op.
 */
export async function loadVisionWeights<W = HostTensor>(
  v: VisionConfig,
  index: TensorIndex,
  convert: (w: HostTensor, path: string) => W | Promise<W> = (w) => w as unknown as W,
  /** Paths not to read (a resumed conversion has them): their slots stay undefined. */
  skip?: (path: string) => boolean,
): Promise<VisionWeights<W>> {
  const read = async (name: string, shape: number[], scale = 1): Promise<HostTensor> => {
    const info = index.get(VISION_PREFIX + name);
    const n = shape.reduce((a, b) => a * b, 1);
    const got = info.shape.reduce((a, b) => a * b, 1);
    if (got !== n) throw new VisionWeightError(`${VISION_PREFIX}${name}: shape [${info.shape}] does not match the config, which needs [${shape}]`);
    const data = await readTensorF32(info);
    if (scale !== 1) for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i]! / scale);
    return { dtype: 'f32', shape, data };
  };
  const { hiddenSize: Dv, intermediateSize: I, lmHiddenSize: D, glmFfnSize: F, inChannels: C, patchSize: p } = v;
  const g = visionGrid(v);
  const get = async (name: string, shape: number[], path: string, scale = 1) =>
    skip?.(path) ? (undefined as W) : convert(await read(name, shape, scale), path);
  const linear = async (name: string, rows: number, cols: number, path: string): Promise<LinearWeights<W>> => ({
    weight: await get(`${name}.weight`, [rows, cols], `${path}.weight`),
    bias: await get(`${name}.bias`, [rows], `${path}.bias`),
  });
  const norm = async (name: string, width: number, path: string): Promise<NormWeights<W>> => ({
    weight: await get(`${name}.weight`, [width], `${path}.weight`),
    bias: await get(`${name}.bias`, [width], `${path}.bias`),
  });
  const layers: VisionLayerWeights<W>[] = [];
  for (let l = 0; l < v.numLayers; l++) {
    const s = `transformer.layers.${l}`;
    const p2 = `vision.layers.${l}`;
    layers.push({
      qkv: await linear(`${s}.attention.query_key_value`, 3 * Dv, Dv, `${p2}.qkv`),
      attnOut: await linear(`${s}.attention.dense`, Dv, Dv, `${p2}.attnOut`),
      attnNorm: await norm(`${s}.input_layernorm`, Dv, `${p2}.attnNorm`),
      fc1: await linear(`${s}.mlp.fc1`, I, Dv, `${p2}.fc1`),
      fc2: await linear(`${s}.mlp.fc2`, Dv, I, `${p2}.fc2`),
      mlpNorm: await norm(`${s}.post_attention_layernorm`, Dv, `${p2}.mlpNorm`),
    });
  }
  const gluGateUp = async (): Promise<W> => {
    if (skip?.('vision.glu.gateUp')) return undefined as W;
    const gateUp = new Float32Array(2 * F * D);
    gateUp.set((await read('linear_proj.gate_proj.weight', [F, D])).data);
    gateUp.set((await read('linear_proj.dense_h_to_4h.weight', [F, D])).data, F * D);
    return convert({ dtype: 'f32', shape: [2 * F, D], data: gateUp }, 'vision.glu.gateUp');
  };
  return {
    patchEmbed: await linear('patch_embedding.proj', Dv, C * p * p, 'vision.patchEmbed'),
    cls: await get('patch_embedding.cls_embedding', [1, Dv], 'vision.cls'),
    positions: await get('patch_embedding.position_embedding.weight', [g * g + 1, Dv], 'vision.positions'),
    layers,
    downsample: await linear('conv', D, Dv * 4, 'vision.downsample'),
    glu: {
      proj: await get('linear_proj.linear_proj.weight', [D, D], 'vision.glu.proj'),
      norm: await norm('linear_proj.norm1', D, 'vision.glu.norm'),
      gateUp: await gluGateUp(),
      down: await get('linear_proj.dense_4h_to_h.weight', [D, F], 'vision.glu.down', v.scalingFactor),
    },
    boi: await get('boi', [1, D], 'vision.boi', v.scalingFactor),
    eoi: await get('eoi', [1, D], 'vision.eoi', v.scalingFactor),
  };
}

/** Every tower tensor's canonical path and shape, from the config alone (the planner's sizes). */
export function visionTensorShapes(v: VisionConfig): { path: string; shape: number[] }[] {
  const { hiddenSize: Dv, intermediateSize: I, lmHiddenSize: D, glmFfnSize: F, inChannels: C, patchSize: p } = v;
  const g = visionGrid(v);
  const out: { path: string; shape: number[] }[] = [];
  const lin = (path: string, rows: number, cols: number) => out.push({ path: `${path}.weight`, shape: [rows, cols] }, { path: `${path}.bias`, shape: [rows] });
  const norm = (path: string, width: number) => out.push({ path: `${path}.weight`, shape: [width] }, { path: `${path}.bias`, shape: [width] });
  lin('vision.patchEmbed', Dv, C * p * p);
  out.push({ path: 'vision.cls', shape: [1, Dv] }, { path: 'vision.positions', shape: [g * g + 1, Dv] });
  for (let l = 0; l < v.numLayers; l++) {
    const q = `vision.layers.${l}`;
    lin(`${q}.qkv`, 3 * Dv, Dv);
    lin(`${q}.attnOut`, Dv, Dv);
    norm(`${q}.attnNorm`, Dv);
    lin(`${q}.fc1`, I, Dv);
    lin(`${q}.fc2`, Dv, I);
    norm(`${q}.mlpNorm`, Dv);
  }
  lin('vision.downsample', D, 4 * Dv);
  out.push({ path: 'vision.glu.proj', shape: [D, D] });
  norm('vision.glu.norm', D);
  out.push({ path: 'vision.glu.gateUp', shape: [2 * F, D] }, { path: 'vision.glu.down', shape: [D, F] });
  out.push({ path: 'vision.boi', shape: [1, D] }, { path: 'vision.eoi', shape: [1, D] });
  return out;
}

/** Tables that stay float32 whatever the weight format (quantizeVisionWeights). */
export const VISION_F32_TABLES: ReadonlySet<string> = new Set(['vision.cls', 'vision.positions', 'vision.boi', 'vision.eoi']);

/**
 * Peak activation bytes of one image through the tower (f32), with a hand-off after every layer
 * (encodeImage's afterLayer): one layer's intermediates, the largest being the attention's qkv and the MLP's
 * two [n, I] tensors, plus the input and output of the layer.
 */
export function visionActivationBytes(v: VisionConfig): number {
  const n = visionGrid(v) ** 2 + 1;
  const perLayer = n * (3 * v.hiddenSize + 4 * v.hiddenSize + 2 * v.intermediateSize);
  const adapter = imageTokenCount(v) * (4 * v.hiddenSize + 4 * v.lmHiddenSize + 3 * v.glmFfnSize);
  return 4 * (Math.max(perLayer, adapter) + n * v.inChannels * v.patchSize ** 2);
}

/** Every tower weight with its path (for quantizing, uploading, counting bytes). */
export function mapVisionWeights<A, B>(w: VisionWeights<A>, fn: (weight: A, path: string) => B): VisionWeights<B> {
  const lin = (l: LinearWeights<A>, p: string): LinearWeights<B> => ({ weight: fn(l.weight, `${p}.weight`), ...(l.bias !== undefined ? { bias: fn(l.bias, `${p}.bias`) } : {}) });
  const norm = (n: NormWeights<A>, p: string): NormWeights<B> => ({ weight: fn(n.weight, `${p}.weight`), ...(n.bias !== undefined ? { bias: fn(n.bias, `${p}.bias`) } : {}) });
  return {
    patchEmbed: lin(w.patchEmbed, 'vision.patchEmbed'),
    cls: fn(w.cls, 'vision.cls'),
    positions: fn(w.positions, 'vision.positions'),
    layers: w.layers.map((L, i) => {
      const p = `vision.layers.${i}`;
      return {
        qkv: lin(L.qkv, `${p}.qkv`),
        attnOut: lin(L.attnOut, `${p}.attnOut`),
        attnNorm: norm(L.attnNorm, `${p}.attnNorm`),
        fc1: lin(L.fc1, `${p}.fc1`),
        fc2: lin(L.fc2, `${p}.fc2`),
        mlpNorm: norm(L.mlpNorm, `${p}.mlpNorm`),
      };
    }),
    downsample: lin(w.downsample, 'vision.downsample'),
    glu: { proj: fn(w.glu.proj, 'vision.glu.proj'), norm: norm(w.glu.norm, 'vision.glu.norm'), gateUp: fn(w.glu.gateUp, 'vision.glu.gateUp'), down: fn(w.glu.down, 'vision.glu.down') },
    boi: fn(w.boi, 'vision.boi'),
    eoi: fn(w.eoi, 'vision.eoi'),
  };
}

/** The tower's structure with each leaf its canonical path (what packages store the tensors under). */
export function visionSkeleton(v: VisionConfig): VisionWeights<string> {
  const lin = (p: string, bias = true): LinearWeights<string> => ({ weight: `${p}.weight`, ...(bias ? { bias: `${p}.bias` } : {}) });
  const norm = (p: string): NormWeights<string> => ({ weight: `${p}.weight`, bias: `${p}.bias` });
  return {
    patchEmbed: lin('vision.patchEmbed'),
    cls: 'vision.cls',
    positions: 'vision.positions',
    layers: Array.from({ length: v.numLayers }, (_, l) => {
      const q = `vision.layers.${l}`;
      return { qkv: lin(`${q}.qkv`), attnOut: lin(`${q}.attnOut`), attnNorm: norm(`${q}.attnNorm`), fc1: lin(`${q}.fc1`), fc2: lin(`${q}.fc2`), mlpNorm: norm(`${q}.mlpNorm`) };
    }),
    downsample: lin('vision.downsample'),
    glu: { proj: 'vision.glu.proj', norm: norm('vision.glu.norm'), gateUp: 'vision.glu.gateUp', down: 'vision.glu.down' },
    boi: 'vision.boi',
    eoi: 'vision.eoi',
  };
}

/** The tower from tensors stored under their canonical paths (a package), read one at a time through `read`. */
export async function assembleVisionWeights<W>(v: VisionConfig, read: (path: string, shape: number[]) => Promise<W>): Promise<VisionWeights<W>> {
  const shapes = new Map(visionTensorShapes(v).map((t) => [t.path, t.shape]));
  return convertVisionWeights(visionSkeleton(v), (path) => read(path, shapes.get(path)!));
}

/** mapVisionWeights with an asynchronous conversion (GPU upload), one weight at a time. */
export async function convertVisionWeights<A, B>(w: VisionWeights<A>, fn: (weight: A, path: string) => Promise<B>): Promise<VisionWeights<B>> {
  const todo: [string, A][] = [];
  mapVisionWeights(w, (x, path) => todo.push([path, x]));
  const done = new Map<string, B>();
  for (const [path, x] of todo) done.set(path, await fn(x, path));
  return mapVisionWeights(w, (_, path) => done.get(path)!);
}

/**
 * The tower's weights with `quantize` applied to all but the tables (it leaves vectors alone, like quantizeWeight). The class token, the position table and
 * boi/eoi stay float32, like norms and biases: they are small and added straight into the residual stream.
 */
export function quantizeVisionWeights<W>(w: VisionWeights<W>, quantize: (weight: W) => W): VisionWeights<W> {
  return mapVisionWeights(w, (x, path) => (VISION_F32_TABLES.has(path) ? x : quantize(x)));
}

// ---------------------------------------------------------------- the tower's ops

/** What the tower needs beyond the language model's Ops (CpuOps and GpuOps implement both). */
export interface VisionOps<T, W> {
  matmul(x: T, w: W, epilogue?: MatmulEpilogue<T, W>): T;
  layerNorm(x: T, weight: W, bias: W | undefined, eps: number): T;
  add(a: T, b: T): T;
  sliceRows(x: T, start: number, count: number): T;
  /** A host matrix [rows, cols] as an activation (the patch matrix of an image). */
  fromHost(data: Float32Array, rows: number, cols: number): T;
  /** A (small) weight as an activation: the class token, the position table, boi/eoi. */
  weightRows(w: W): T;
  read(x: T): Promise<Float32Array>;
  /** Present on asynchronous devices (Ops.settle): encodeImage then ends the device step after each layer. */
  settle?(): Promise<void>;
  /** Rows of each part, one after another: [Σ rows, cols]. */
  concatRows(parts: T[]): T;
  /**
   * Full bidirectional attention within one image: qkv [n, 3·H·D] (each row q heads, k heads, v heads) ->
   * [n, H·D]; scale 1/sqrt(D); every query sees every key. Memory stays bounded by tiling over keys.
   */
  attentionFull(qkv: T, numHeads: number): T;
  /** GELU, exact erf form (transformers' "gelu" and nn.GELU()), as the tower and its adapter use. */
  geluErf(x: T): T;
  /** [g·g, C] patch grid -> [(g/2)², 4·C] rows of 2x2 blocks, column c·4 + dy·2 + dx: the 2x2 conv as a GEMM. */
  blocks2x2(x: T, grid: number): T;
}

/** CHW image -> [g², C·p·p] rows of patches, columns (channel, ky, kx): the patch conv as a GEMM (im2col). */
export function imagePatches(v: VisionConfig, pixels: Float32Array): Float32Array {
  const { inChannels: C, patchSize: p, imageSize: S } = v;
  const g = visionGrid(v);
  if (pixels.length !== C * S * S) {
    throw new ImageInputError(`an image for this model must be ${C}x${S}x${S} float32 values (CHW, preprocessed), got ${pixels.length} values`);
  }
  const cols = C * p * p;
  const out = new Float32Array(g * g * cols);
  for (let py = 0; py < g; py++) {
    for (let px = 0; px < g; px++) {
      const row = (py * g + px) * cols;
      for (let c = 0; c < C; c++) {
        for (let ky = 0; ky < p; ky++) {
          const src = c * S * S + (py * p + ky) * S + px * p;
          out.set(pixels.subarray(src, src + p), row + c * p * p + ky * p);
        }
      }
    }
  }
  return out;
}

/**
 * The tower: one preprocessed image (CHW float32, imageSize²) -> its rows in the language model
 * [(g/2)² + 2, D], boi and eoi included. Mirrors EVA2CLIPModel.forward.
 */
export async function encodeImage<T, W>(ops: VisionOps<T, W>, v: VisionConfig, w: VisionWeights<W>, pixels: Float32Array): Promise<T> {
  const g = visionGrid(v);
  const n = g * g + 1;
  // PatchEmbedding: conv -> flatten -> [cls; patches] + position_embedding
  const patches = ops.matmul(ops.fromHost(imagePatches(v, pixels), g * g, v.inChannels * v.patchSize ** 2), w.patchEmbed.weight, { bias: w.patchEmbed.bias });
  let x = ops.add(ops.concatRows([ops.weightRows(w.cls), patches]), ops.weightRows(w.positions)); // [g² + 1, Dv]

  for (const layer of w.layers) {
    // TransformerLayer.forward: the norms sit on the branch outputs, not on the inputs
    const qkv = ops.matmul(x, layer.qkv.weight, { bias: layer.qkv.bias });
    const attn = ops.matmul(ops.attentionFull(qkv, v.numHeads), layer.attnOut.weight, { bias: layer.attnOut.bias });
    x = ops.add(x, ops.layerNorm(attn, layer.attnNorm.weight, layer.attnNorm.bias, v.layerNormEps));
    const h = ops.geluErf(ops.matmul(x, layer.fc1.weight, { bias: layer.fc1.bias }));
    const mlp = ops.matmul(h, layer.fc2.weight, { bias: layer.fc2.bias });
    x = ops.add(x, ops.layerNorm(mlp, layer.mlpNorm.weight, layer.mlpNorm.bias, v.layerNormEps));
    // A device that frees a step's buffers only when the step ends (GpuOps) would hold every layer's
    // intermediates until the image is done (tens of GB for glm-4v-9b's 6401 tokens): end the step after each
    // layer and carry x over, so one image needs one layer's activations (visionActivationBytes).
    if (ops.settle) x = ops.fromHost(await ops.read(x), n, v.hiddenSize);
  }

  // x[:, 1:] -> view as a g x g grid -> conv 2x2 stride 2 -> flatten: [(g/2)², D]
  const grid = ops.sliceRows(x, 1, g * g);
  const merged = ops.matmul(ops.blocks2x2(grid, g), w.downsample.weight, { bias: w.downsample.bias });
  // GLU adapter (linear_proj): linear -> LayerNorm -> GELU -> silu(gate) * up -> down (already / scaling_factor)
  const y = ops.geluErf(ops.layerNorm(ops.matmul(merged, w.glu.proj), w.glu.norm.weight, w.glu.norm.bias, GLU_NORM_EPS));
  const adapted = ops.matmul(ops.matmul(y, w.glu.gateUp, { activation: 'swiglu' }), w.glu.down);
  return ops.concatRows([ops.weightRows(w.boi), adapted, ops.weightRows(w.eoi)]);
}

// ---------------------------------------------------------------- the prompt with images

/** One image's rows in the expanded sequence. */
export interface ImageSpan {
  /** Index of its first row (the boi row) in the expanded sequence. */
  start: number;
  /** (g/2)² + 2. */
  length: number;
}

export interface ExpandedPrompt {
  /** The sequence the language model runs: each image's 3 prompt ids replaced by its rows (ids: boi, placeholder..., eoi). */
  ids: number[];
  /** Position id of every row of `ids` (see the header comment). */
  positions: number[];
  spans: ImageSpan[];
}

/**
 * Lays out a prompt with images as ChatGLMModel.forward does: the i-th `<|begin_of_image|>` of `ids` takes
 * images[i]; it must be followed by one placeholder id and `<|end_of_image|>`. `firstPosition` is the position
 * of ids[0] (the session's next position when this prompt is appended after earlier turns).
 */
export function expandImagePrompt(v: VisionConfig, ids: readonly number[], imageCount: number, firstPosition = 0): ExpandedPrompt {
  const rows = imageTokenCount(v);
  const out: ExpandedPrompt = { ids: [], positions: [], spans: [] };
  let images = 0;
  let pos = firstPosition;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id === v.eoiTokenId) throw new ImageInputError(`<|end_of_image|> (id ${id}) at index ${i} has no <|begin_of_image|> two ids before it`);
    if (id !== v.boiTokenId) {
      out.ids.push(id);
      out.positions.push(pos++);
      continue;
    }
    if (ids[i + 2] !== v.eoiTokenId) {
      throw new ImageInputError(
        `<|begin_of_image|> at index ${i} must be followed by one placeholder id and <|end_of_image|> (id ${v.eoiTokenId}), as GLM-4V's chat template writes an image`,
      );
    }
    if (images >= imageCount) throw new ImageInputError(`the prompt has more <|begin_of_image|> ids than the ${imageCount} image(s) given`);
    const placeholder = ids[i + 1]!;
    out.spans.push({ start: out.ids.length, length: rows });
    out.ids.push(id, ...new Array<number>(rows - 2).fill(placeholder), ids[i + 2]!);
    out.positions.push(pos, ...new Array<number>(rows - 2).fill(pos + 1), pos + 2);
    pos += 3;
    images++;
    i += 2;
  }
  if (images !== imageCount) throw new ImageInputError(`${imageCount} image(s) given but the prompt has ${images} <|begin_of_image|> id(s); each image needs one`);
  return out;
}

/** One encoded image placed in the sequence. */
export interface ImageRows<T> {
  span: ImageSpan;
  /** [span.length, D]: encodeImage's output. */
  features: T;
}

/** Whether a backend implements the tower's ops (CpuOps and GpuOps do). */
export function hasVisionOps<T, W>(ops: object): ops is VisionOps<T, W> {
  const o = ops as Partial<VisionOps<T, W>>;
  return typeof o.concatRows === 'function' && typeof o.attentionFull === 'function' && typeof o.blocks2x2 === 'function';
}

/**
 * The language model's input rows for `ids` (a piece of an expanded sequence starting at sequence index
 * `start`): token embeddings, with each image span's rows taken from its features instead.
 */
export function embedWithImages<T, W>(
  ops: { embed(table: W, ids: Int32Array): T; sliceRows(x: T, start: number, count: number): T },
  table: W,
  ids: Int32Array,
  start: number,
  images: readonly ImageRows<T>[],
): T {
  if (!hasVisionOps<T, W>(ops)) throw new NoVisionTowerError(`the ${describeValue((ops as { name?: unknown }).name)} backend has no vision-tower ops; images cannot run on it`);
  const parts: T[] = [];
  let at = 0; // index into ids
  const inside = images
    .filter(({ span }) => span.start < start + ids.length && span.start + span.length > start)
    .sort((a, b) => a.span.start - b.span.start);
  for (const { span, features } of inside) {
    const from = Math.max(span.start - start, 0);
    const to = Math.min(span.start + span.length - start, ids.length);
    if (from > at) parts.push(ops.embed(table, ids.subarray(at, from)));
    const skip = start + from - span.start;
    parts.push(skip === 0 && to - from === span.length ? features : ops.sliceRows(features, skip, to - from));
    at = to;
  }
  if (at < ids.length) parts.push(ops.embed(table, ids.subarray(at)));
  return parts.length === 1 ? parts[0]! : ops.concatRows(parts);
}

export { ImageInputError, NoVisionTowerError, VisionConfigError, VisionWeightError };
