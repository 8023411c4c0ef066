// A model folder -> normalized config + weights. Three kinds of folder are accepted, checked in this order:
//   - a glm-webgpu package (manifest.json + shards; src/formats/package.ts), from disk, a URL cache or IndexedDB;
//   - a GGUF file (a ModelFiles holding `model.gguf`, e.g. ggufModelFiles over a .gguf path or a picked File);
//   - a folder as published on a hub (config.json + safetensors).
// Weights go one canonical tensor at a time through `convert` in every case.
import type { ModelFiles } from '../formats/byte-source';
import { GGUF_FILE_NAME, loadGgufModel } from '../formats/gguf';
import { MANIFEST_FILE, loadPackageVisionWeights, loadPackageWeights, openPackage, type PackageManifest } from '../formats/package';
import { openSafetensorsModel } from '../formats/safetensors';
import { normalizeConfig, type GlmConfig } from './config';
import { checkLayerCount } from './limits';
import { loadWeights, type HostWeight, type LoadWeightsOptions } from './weights';
import type { ModelWeights } from './weights-types';
import { loadVisionWeights, VISION_PREFIX, type VisionWeights } from './vision';

export type ModelFormat = 'safetensors' | 'package' | 'gguf';

export interface LoadedModel<W> {
  config: GlmConfig;
  weights: ModelWeights<W>;
  /** The raw config.json object (for GGUF: one built from its metadata), for tokenizer and generation settings. */
  rawConfig: Record<string, unknown>;
  /** What the folder held. */
  format?: ModelFormat;
  /** The package manifest, when format is 'package'. */
  manifest?: PackageManifest;
  /** GLM-4V: the vision tower's weights (config.vision says its shapes). */
  vision?: VisionWeights<W>;
}

/** Which kind of model a ModelFiles holds (see the header comment for the order). */
export async function detectModelFormat(files: ModelFiles): Promise<ModelFormat> {
  if (await files.exists(MANIFEST_FILE)) return 'package';
  if (await files.exists(GGUF_FILE_NAME)) return 'gguf';
  return 'safetensors';
}

export async function loadModelFolder<W = HostWeight>(files: ModelFiles, options: LoadWeightsOptions<W> = {}): Promise<LoadedModel<W>> {
  const format = await detectModelFormat(files);
  if (format === 'package') {
    const pkg = await openPackage(files);
    checkLayerCount(pkg.config.numLayers, Object.keys(pkg.manifest.tensors), /^layers\.(\d+)\./, `config ${layerCountField(pkg.config)}`, `${files.location}/manifest.json`);
    const weights = await loadPackageWeights(pkg.config, pkg, options);
    const vision = pkg.config.vision ? await loadPackageVisionWeights(pkg.config.vision, pkg, options) : undefined;
    return { config: pkg.config, weights, rawConfig: pkg.manifest.config, format, manifest: pkg.manifest, ...(vision ? { vision } : {}) };
  }
  if (format === 'gguf') {
    const source = await files.open(GGUF_FILE_NAME);
    try {
      return { ...(await loadGgufModel(source, options)), format };
    } finally {
      await source.close?.();
    }
  }
  const text = await files.readText('config.json');
  const config = normalizeConfig(text);
  const index = await openSafetensorsModel(files);
  try {
    // Before any per-layer entry is built: a declared 1e6 layers or a count below the layers present fails here.
    // (The vision tower's own `transformer.vision.transformer.layers.N` are not language-model layers.)
    const lmNames = [...index.tensors.keys()].filter((n) => !n.startsWith(VISION_PREFIX));
    checkLayerCount(config.numLayers, lmNames, /(?:^|\.)layers\.(\d+)\./, layerCountField(config), `${files.location}/config.json`);
    const weights = await loadWeights(config, index, options);
    const convert = options.convert ?? ((w) => w as unknown as W);
    const vision = config.vision ? await loadVisionWeights(config.vision, index, convert, options.skip) : undefined;
    return { config, weights, rawConfig: JSON.parse(text), format, ...(vision ? { vision } : {}) };
  } finally {
    await index.close();
  }
}

/** The config.json field that holds the layer count, for error messages. */
function layerCountField(config: GlmConfig): string {
  return config.family === 'glm' || config.family === 'glm4' ? 'num_hidden_layers' : 'num_layers';
}
