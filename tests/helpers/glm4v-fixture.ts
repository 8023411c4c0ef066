// The tiny GLM-4V reference fixture (tests/fixtures/thudm-glm4v-tiny, made by tools/fixtures/make_glm4v_tiny.py
// with THUDM's EVA2CLIPModel): its expected.json, and a loader shared by the CPU and GPU tests.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FIXTURES_DIR } from './fixtures';

export const GLM4V_FIXTURE = 'thudm-glm4v-tiny';
export const GLM4V_DIR = resolve(FIXTURES_DIR, GLM4V_FIXTURE);

export interface Glm4vExpected {
  /** The prompt as the tokenizer gives it: [gMASK] <sop> <|user|> ... boi placeholder eoi ... <|assistant|>. */
  prompt_ids: number[];
  image_shape: number[];
  /** The preprocessed image, CHW float32 flattened. */
  image: number[];
  /** Position ids of the merged sequence (the reference's new_position_ids). */
  merged_positions: number[];
  /** The tower's output rows [(g/2)² + 2][hidden] (boi, patches, eoi, divided by scaling_factor). */
  image_features: number[][];
  /** Logits at every row of the merged sequence. */
  prompt_logits: number[][];
  greedy_ids: number[];
  param_names: Record<string, number[]>;
  versions: Record<string, string>;
}

let cached: Glm4vExpected | undefined;
export function glm4vExpected(): Glm4vExpected {
  cached ??= JSON.parse(readFileSync(resolve(GLM4V_DIR, 'expected.json'), 'utf8')) as Glm4vExpected;
  return cached;
}

export function glm4vImage(): Float32Array {
  return Float32Array.from(glm4vExpected().image);
}
