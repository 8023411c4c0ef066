// The catalogue of real GLM models that the chat page and the library offer by name (issue #14):
// `engine.load('glm-edge-1.5b-chat')` loads THUDM/glm-edge-1.5b-chat from the Hugging Face Hub,
// converted into the cache once (src/loader/hub.ts). Any other repo id or URL still works; the
// catalogue only adds names, the files each model needs, sizes, the license, and a fit verdict
// before any download.
//
// Sizes come from each model's shapes (the config.json fields as published, src/model/presets.ts),
// not from a listing of the repo: the download is the BF16 weights (2 bytes a parameter, a separately
// stored lm_head counted even where the config ties it), plus about 10 MB of tokenizer and config files;
// the cached size is our q4 package. Where no shapes are bundled (GLM-Edge-4B), the chat page reads
// the repo's config.json (a few KB) to size it before downloading weights.
import { normalizeConfig, type GlmConfig } from '../model/config';
import { PRESET_CONFIG_JSON, type PresetName } from '../model/presets';
import { tensorSizes, type WeightQuant } from '../planner/sizes';

export interface CatalogueModel {
  /** The name `engine.load()` takes. */
  name: string;
  /** Display name, as the model card writes it. */
  title: string;
  /** Hugging Face repo id. */
  repo: string;
  /** License as named on the model card. */
  license: string;
  /** Files the engine reads from the repo (weights as a pattern where they are sharded). */
  files: string[];
  /** Parameters in billions, as the model card states (informative). */
  paramsB: number;
  /** The model's shapes (config.json fields), when bundled: sizes and the verdict need no network. */
  config: Readonly<Record<string, unknown>> | null;
  /**
   * How the browser gets it: 'hub' = straight from the repo (converted into the cache on first load);
   * 'convert-first' = the repo's weights are in a format the browser cannot read (PyTorch pickles):
   * convert once with the CLI (`notes` says how) and load the package.
   */
  access: 'hub' | 'convert-first';
  notes: string;
}

/** Tokenizer/config files: at most ~10 MB (GLM-4's tokenizer.json is the largest, ~6.5 MB). */
const SMALL_FILES_BYTES = 10 * 2 ** 20;

const withQuantBits = (preset: PresetName, extra: Record<string, unknown>) => ({ ...PRESET_CONFIG_JSON[preset], ...extra });

export const MODEL_CATALOGUE: readonly CatalogueModel[] = [
  {
    name: 'glm-edge-1.5b-chat',
    title: 'GLM-Edge-1.5B-Chat',
    repo: 'THUDM/glm-edge-1.5b-chat',
    license: 'glm-4 (GLM-4 model license)',
    files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'],
    paramsB: 1.59,
    config: PRESET_CONFIG_JSON['glm-edge-1.5b'],
    access: 'hub',
    notes: 'Fits most browsers with WebGPU; the smallest real GLM chat model.',
  },
  {
    name: 'glm-edge-4b-chat',
    title: 'GLM-Edge-4B-Chat',
    repo: 'THUDM/glm-edge-4b-chat',
    license: 'glm-4 (GLM-4 model license)',
    files: ['config.json', 'model-*-of-*.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'],
    paramsB: 4,
    config: null,
    access: 'hub',
    notes: 'Shapes not bundled: the chat page reads config.json from the Hub to size it before the download.',
  },
  {
    name: 'chatglm3-6b',
    title: 'ChatGLM3-6B',
    repo: 'THUDM/chatglm3-6b',
    license: 'ChatGLM3-6B model license (weights); Apache-2.0 (code)',
    files: ['config.json', 'model-*-of-00007.safetensors', 'model.safetensors.index.json', 'tokenizer.model', 'tokenizer_config.json'],
    paramsB: 6.24,
    config: PRESET_CONFIG_JSON['chatglm3-6b'],
    access: 'hub',
    notes: 'SentencePiece tokenizer (tokenizer.model), ChatGLM3 chat format.',
  },
  {
    name: 'chatglm-6b-int4',
    title: 'ChatGLM-6B-INT4',
    repo: 'THUDM/chatglm-6b-int4',
    license: 'ChatGLM-6B model license (weights); Apache-2.0 (code)',
    files: ['config.json', 'pytorch_model.bin', 'ice_text.model', 'tokenizer_config.json'],
    paramsB: 6.2,
    config: withQuantBits('chatglm-6b', { quantization_bit: 4 }),
    access: 'convert-first',
    notes:
      "THUDM's own int4 checkpoint (read exactly: per-row scales, codes in [-7, 7]), but the repo ships it as a PyTorch pickle (pytorch_model.bin), which a browser cannot read: " +
      "save it as safetensors once (python -c \"import torch; from safetensors.torch import save_file; save_file(torch.load('pytorch_model.bin'), 'model.safetensors')\"), " +
      'then load the folder (or `glm-webgpu convert` it into a package).',
  },
  {
    name: 'glm-4-9b-chat',
    title: 'GLM-4-9B-Chat',
    repo: 'THUDM/glm-4-9b-chat',
    license: 'glm-4 (GLM-4 model license)',
    files: ['config.json', 'model-*-of-00010.safetensors', 'model.safetensors.index.json', 'tokenizer.model', 'tokenizer_config.json', 'generation_config.json'],
    paramsB: 9.4,
    config: PRESET_CONFIG_JSON['glm-4-9b'],
    access: 'hub',
    notes: "THUDM's own layout with the tiktoken-style tokenizer.model (read by the tiktoken tokenizer of issue #14); the -hf repo ships tokenizer.json.",
  },
  {
    name: 'glm-4-9b-chat-hf',
    title: 'GLM-4-9B-Chat (transformers layout)',
    repo: 'THUDM/glm-4-9b-chat-hf',
    license: 'glm-4 (GLM-4 model license)',
    files: ['config.json', 'model-*-of-*.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'],
    paramsB: 9.4,
    // The same weights as glm-4-9b-chat in transformers' GlmForCausalLM layout: the same shapes.
    config: PRESET_CONFIG_JSON['glm-4-9b'],
    access: 'hub',
    notes: 'Same model as GLM-4-9B-Chat with tokenizer.json.',
  },
  {
    name: 'glm-4-9b-0414',
    title: 'GLM-4-9B-0414',
    repo: 'THUDM/GLM-4-9B-0414',
    license: 'MIT',
    files: ['config.json', 'model-*-of-*.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'],
    paramsB: 9.4,
    // GLM-4-0414 keeps GLM-4-9B's matrix shapes (40 layers, 4096 wide, 2 KV heads, vocab 151552) and adds sandwich norms (4096 values each).
    config: PRESET_CONFIG_JSON['glm-4-9b'],
    access: 'hub',
    notes: 'Sandwich norms (family glm4).',
  },
];

export function catalogueModel(name: string): CatalogueModel | undefined {
  return MODEL_CATALOGUE.find((m) => m.name === name || m.repo === name || m.repo.toLowerCase() === name.toLowerCase());
}

export interface CatalogueSizes {
  /** Bytes downloaded from the Hub: the BF16 weights plus the small files (null when no shapes are bundled). */
  downloadBytes: number | null;
  /** Bytes the converted package takes in the cache and on the device, at `quant`. */
  packageBytes: number | null;
  config: GlmConfig | null;
}

/** Download and cache sizes of a catalogue model, from its shapes. */
export function catalogueSizes(model: CatalogueModel, quant: WeightQuant = 'q4'): CatalogueSizes {
  if (!model.config) return { downloadBytes: null, packageBytes: null, config: null };
  const config = normalizeConfig(model.config as Record<string, unknown>);
  const float = tensorSizes(config, 'none');
  // tensorSizes counts float32 (4 bytes a value); the Hub's checkpoints are BF16 (THUDM's int4 one: its own packing).
  let weights = float.totalBytes / 2;
  if (float.lmHeadTied) weights += float.embedding.bytes / 2; // a tied head stored anyway (GLM-Edge-1.5B)
  if (config.storedQuantBits === 4) {
    // THUDM's int4 checkpoint: layer matrices as 4-bit codes (half a byte a weight, plus an f16 scale per
    // row), the embedding, the head and every vector in FP16.
    const matrices = float.layers.flatMap((l) => l.tensors).filter((t) => t.shape.length === 2 && t.rows > 1);
    const matrixFloatBytes = matrices.reduce((s, t) => s + t.bytes, 0);
    weights = (float.totalBytes - matrixFloatBytes) / 2 + matrixFloatBytes / 8 + matrices.reduce((s, t) => s + 2 * t.rows, 0);
    if (float.lmHeadTied) weights += float.embedding.bytes / 2;
  }
  return { downloadBytes: Math.round(weights + SMALL_FILES_BYTES), packageBytes: tensorSizes(config, quant).totalBytes, config };
}
