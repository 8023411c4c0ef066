// A model folder as published on a hub (config.json + safetensors) -> normalized config + weights.
import type { ModelFiles } from '../formats/byte-source';
import { openSafetensorsModel } from '../formats/safetensors';
import { normalizeConfig, type GlmConfig } from './config';
import { loadWeights, type HostWeight, type LoadWeightsOptions } from './weights';
import type { ModelWeights } from './weights-types';

export interface LoadedModel<W> {
  config: GlmConfig;
  weights: ModelWeights<W>;
  /** The raw config.json object, for tokenizer and generation settings. */
  rawConfig: Record<string, unknown>;
}

export async function loadModelFolder<W = HostWeight>(files: ModelFiles, options: LoadWeightsOptions<W> = {}): Promise<LoadedModel<W>> {
  const text = await files.readText('config.json');
  const config = normalizeConfig(text);
  const index = await openSafetensorsModel(files);
  try {
    const weights = await loadWeights(config, index, options);
    return { config, weights, rawConfig: JSON.parse(text) };
  } finally {
    await index.close();
  }
}
