// A loadable tiny GLM-4V chat model (issue #21): the reference fixture's config and weights
// (tests/fixtures/thudm-glm4v-tiny, made with THUDM's vision tower) plus the GLM-4 mini tokenizer, whose
// vocabulary the fixture was built for (3013 ids: <|begin_of_image|> 3010, <|end_of_image|> 3011).
// Prompts with images are laid out by renderGlm4vChat, as glm-4v-9b's apply_chat_template does; the mini
// tokenizer's Jinja template (used for text-only turns) writes the same text layout, which
// tests/unit/vision-engine.test.ts checks.
//
// Also the CPU reference for a chat with one image: the session API directly (ModelSession.appendPrompt with
// the preprocessed image, then greedy steps), no engine involved, to compare the engine, pages and CLI with.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CpuOps } from '../../src/cpu/ops';
import { convertModel } from '../../src/formats/convert';
import { nodeModelFiles } from '../../src/formats/node-files';
import { nodePackageSink } from '../../src/formats/node-package-sink';
import type { PackageManifest } from '../../src/formats/package';
import { loadModelFolder } from '../../src/model/load';
import { quantizeWeightAt } from '../../src/model/quantize-weights';
import { ModelSession } from '../../src/runtime/session';
import { argmax } from '../../src/runtime/sampler';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import type { GlmTokenizer } from '../../src/tokenizer/types';
import { IMAGE_MARK, renderGlm4vChat } from '../../src/vision/content';
import { preprocessImage } from '../../src/vision/image-source';
import { GLM4V_DIR } from './glm4v-fixture';
import { TOKENIZER_DIR } from './tiny-chat-model';

/** The fixture's eos ids (config.json eos_token_id): <|endoftext|>, <|user|>, <|observation|>. */
export const VISION_STOP_IDS = [3000, 3007, 3009];

/** Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into `dir`. */
export function writeTinyVisionModel(dir: string, opts: { generationConfig?: Record<string, unknown> } = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(resolve(GLM4V_DIR, f), resolve(dir, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(resolve(TOKENIZER_DIR, f), resolve(dir, f));
  if (opts.generationConfig) writeFileSync(resolve(dir, 'generation_config.json'), JSON.stringify(opts.generationConfig));
  return dir;
}

/** The same model as a glm-webgpu package (manifest + shards) in `out`, converted with `quant`. */
export async function packageTinyVisionModel(modelDir: string, out: string, quant: 'none' | 'q4'): Promise<PackageManifest> {
  rmSync(out, { recursive: true, force: true });
  return convertModel(nodeModelFiles(modelDir), await nodePackageSink(out), { quant, shardSize: 256 * 1024 });
}

export async function tinyVisionTokenizer(): Promise<GlmTokenizer> {
  return loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
}

export interface VisionReference {
  /** The prompt ids (the image as boi, placeholder, eoi). */
  promptIds: number[];
  /** Greedy ids after the prompt, up to a stop id (not included) or maxTokens. */
  ids: number[];
  /** The reply as the engine returns it: the ids decoded, GLM-4's leading "\n" dropped. */
  text: string;
  /** Rows the prompt takes in the model (each image's 3 ids become its tower rows). */
  promptRows: number;
}

/**
 * The CPU reference for one user turn `text` with the image at `imageUrl` (a data: URL), after an optional
 * `system` message: the image
 * preprocessed as the engine does it, the prompt rendered as GLM-4V's reference does, then
 * ModelSession.appendPrompt and greedy decoding with `quant` weights, as loadBackend quantizes them.
 */
export async function visionReference(
  modelDir: string, imageUrl: string, text: string, maxTokens: number, quant: 'none' | 'q4' = 'none', system?: string,
): Promise<VisionReference> {
  const model = await loadModelFolder(nodeModelFiles(modelDir), { convert: (w, path) => quantizeWeightAt(w, path, quant) });
  const tokenizer = await tinyVisionTokenizer();
  const image = await preprocessImage(imageUrl, model.config.vision!.imageSize);
  const messages = [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user' as const, content: `${IMAGE_MARK}${text}` }];
  const { ids: promptIds } = renderGlm4vChat(messages, tokenizer);
  const ops = new CpuOps();
  const session = new ModelSession(ops, model.config, model.weights, 512, model.vision);
  let logits = await ops.read(await session.appendPrompt({ ids: promptIds, images: [image] }, 'last'));
  const promptRows = session.tokens.length;
  const ids: number[] = [];
  while (ids.length < maxTokens) {
    const next = argmax(logits);
    if (VISION_STOP_IDS.includes(next)) break;
    ids.push(next);
    if (ids.length < maxTokens) logits = await ops.read(await session.append([next], 'last'));
  }
  const decoded = tokenizer.decode(ids);
  return { promptIds, ids, text: decoded.startsWith('\n') ? decoded.slice(1) : decoded, promptRows };
}
