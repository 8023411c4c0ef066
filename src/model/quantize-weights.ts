// `--quant q4|q8`: quantize every matrix of a model once on the host, so the CPU and GPU backends
// (and the package converter) run on the very same quantized weights. Norm weights and biases stay
// float32: they are tiny and precision-sensitive.
import { quantize } from '../quant/index';
import type { QuantKind } from '../quant/types';
import type { HostWeight } from './weights';
import type { ModelWeights } from './weights-types';
import { mapWeights } from './weights-types';
import { VISION_F32_TABLES } from './vision';

export type QuantChoice = 'none' | QuantKind;

/** Quantizes one weight if it is a float matrix; quantized and 1-D weights are kept as they are. */
export function quantizeWeight(w: HostWeight, kind: QuantChoice): HostWeight {
  if (kind === 'none' || w.dtype !== 'f32' || w.shape.length !== 2) return w;
  const [rows, cols] = w.shape as [number, number];
  return quantize(w.data, rows, cols, kind);
}

/** quantizeWeight for a canonical path: GLM-4V's tower tables (class token, positions, boi/eoi) stay float32. */
export function quantizeWeightAt(w: HostWeight, path: string, kind: QuantChoice): HostWeight {
  return VISION_F32_TABLES.has(path) ? w : quantizeWeight(w, kind);
}

export function quantizeModelWeights(weights: ModelWeights<HostWeight>, kind: QuantChoice): ModelWeights<HostWeight> {
  if (kind === 'none') return weights;
  return mapWeights(weights, (w) => quantizeWeight(w, kind));
}
