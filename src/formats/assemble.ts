// Builds a ModelWeights tree from any source that can produce one canonical tensor at a time
// (the project's own package, GGUF). Same contract as weights.ts's loadWeights for safetensors:
// the canonical paths and shapes come from weightRecipes(config), one tensor is in JS memory at a
// time (plus what `convert` keeps), and a tied lm head is the embedding's handle, not a copy.
import type { GlmConfig } from '../model/config';
import { WeightShapeError, weightRecipes, weightShape, type HostWeight, type LoadWeightsOptions } from '../model/weights';
import type { LayerWeights, ModelWeights, NormWeights } from '../model/weights-types';
import { validateQuantTensor } from '../quant/types';

/** Produces the host tensor of one canonical path (`embedding`, `layers.3.qkv.weight`, ...). */
export type CanonicalReader = (path: string, shape: readonly number[]) => Promise<HostWeight>;

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Checks a produced weight against the shape the config needs; quantized buffers are validated too. */
export function checkWeight(w: HostWeight, path: string, shape: readonly number[], where: string): void {
  const got = weightShape(w);
  if (!sameShape(got, shape)) {
    throw new WeightShapeError(`${where}: tensor "${path}" has shape [${got}] but the config needs [${shape}]`);
  }
  if (w.dtype === 'f32') {
    const n = shape.reduce((a, b) => a * b, 1);
    if (w.data.length !== n) throw new WeightShapeError(`${where}: tensor "${path}" holds ${w.data.length} values, shape [${shape}] needs ${n}`);
  } else {
    validateQuantTensor(w);
  }
}

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node: Record<string, unknown> = root;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i]!;
    node[key] ??= /^\d+$/.test(parts[i + 1]!) ? [] : {};
    node = node[key] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

export async function assembleWeights<W>(
  config: GlmConfig,
  read: CanonicalReader,
  options: LoadWeightsOptions<W> = {},
): Promise<ModelWeights<W>> {
  const convert = options.convert ?? ((w: HostWeight) => w as unknown as W);
  const { model, lmHeadTied } = weightRecipes(config);
  const root: Record<string, unknown> = {};
  let done = 0;
  for (const r of model) {
    if (options.skip?.(r.path)) {
      options.onProgress?.(++done, model.length, r.path);
      continue;
    }
    const host = await read(r.path, r.shape);
    setPath(root, r.path, await convert(host, r.path));
    options.onProgress?.(++done, model.length, r.path);
  }
  if (lmHeadTied) root.lmHead = root.embedding;
  return {
    embedding: root.embedding as W,
    layers: root.layers as LayerWeights<W>[],
    finalNorm: root.finalNorm as NormWeights<W>,
    lmHead: root.lmHead as W,
  };
}
