// Dispatches per layer of one decode step, for every preset's family flags (norm, RoPE style, biases,
// GQA, ChatGLM-6B's alpha residual) on tiny shapes: counted by GpuOps itself (stats().dispatches, the
// dispatches recorded in the step), as the difference between a 2-layer and a 1-layer model, so the
// embedding, final norm and lm_head drop out. A change that un-fuses an op of the decode path fails here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import type { GpuContext } from '../../src/gpu/device';
import { GpuOps } from '../../src/gpu/ops';
import type { GpuWeight } from '../../src/gpu/tensor';
import type { GlmConfig } from '../../src/model/config';
import { PRESETS, presetNames, type PresetName } from '../../src/model/presets';
import { hostTensor } from '../../src/model/tensor';
import { weightRecipes } from '../../src/model/weights';
import type { ModelWeights } from '../../src/model/weights-types';
import { ModelSession } from '../../src/runtime/session';
import { randomQ4 } from '../../src/ui/bench/suite';
import { randomArray } from '../helpers/random';

/**
 * The most dispatches a decode layer may take, per preset. RMSNorm families: qkv GEMV (norm prologue,
 * bias + RoPE + KV-append epilogue), attention split over key tiles, o-proj (merge of the tiles'
 * partials as prologue, residual epilogue), gate_up (norm prologue, SwiGLU epilogue), down (residual
 * epilogue). ChatGLM-6B: its LayerNorm output is also its residual, so each norm stays a kernel, and
 * its 2-D RoPE a kernel of its own.
 */
const MAX_DISPATCHES_PER_LAYER: Record<PresetName, number> = {
  'glm-4-9b': 5,
  'chatglm3-6b': 5,
  'glm-edge-1.5b': 5,
  'glm-4v-9b': 5,
  'chatglm-6b': 8,
};

let ctx: GpuContext;
let ops: GpuOps;

beforeAll(async () => {
  ctx = await testGpu();
  ops = new GpuOps(ctx);
});

afterAll(() => ops?.dispose());

/** The preset's flags on tiny shapes: 4 heads of 32 dims, the preset's GQA-or-not and rotary share. */
function tinyConfig(name: PresetName, layers: number): GlmConfig {
  const p = PRESETS[name];
  const D = 32; // whole 32-column groups per head, as every real GLM head (128 dims)
  const numHeads = 4;
  const numKvHeads = p.numKvHeads === p.numHeads ? numHeads : 2;
  return {
    ...p,
    numLayers: layers,
    hiddenSize: numHeads * D,
    numHeads,
    numKvHeads,
    headDim: D,
    ffnHiddenSize: 96,
    vocabSize: 64,
    rope: { ...p.rope, rotaryDim: (p.rope.rotaryDim / p.headDim) * D },
    // ChatGLM-6B's prompt anchors ([gMASK], sop), moved into the tiny vocabulary.
    tokens: { eos: [0], bos: 62, gmask: 61, mask: 60 },
  };
}

async function randomModel(config: GlmConfig): Promise<ModelWeights<GpuWeight>> {
  const root: Record<string, unknown> = {};
  let seed = 1;
  for (const r of weightRecipes(config).model) {
    const host = r.shape.length === 2 ? randomQ4(r.shape[0]!, r.shape[1]!, seed++) : hostTensor(randomArray(r.shape[0]!, seed++, 0.1), [r.shape[0]!]);
    const w = await ops.uploadWeight(host, r.path);
    const parts = r.path.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) node = (node[parts[i]!] ??= /^\d+$/.test(parts[i + 1]!) ? [] : {}) as Record<string, unknown>;
    node[parts.at(-1)!] = w;
  }
  root.lmHead ??= root.embedding;
  return root as unknown as ModelWeights<GpuWeight>;
}

/** Dispatches of one decode step (after a 3-token prompt) of a `layers`-layer model. */
async function decodeDispatches(name: PresetName, layers: number): Promise<number> {
  const config = tinyConfig(name, layers);
  const weights = await randomModel(config);
  const session = new ModelSession(ops, config, weights, 8);
  try {
    await ops.read((await session.append([1, 61, 62], 'last'))!); // text, [gMASK], sop
    await ops.read((await session.append([4], 'last'))!);
    return ops.stats().dispatches;
  } finally {
    ops.releaseWeights(weights);
  }
}

describe('decode dispatches per layer', () => {
  it.each(presetNames.map((n) => [n]))('%s stays within its fused budget', async (name) => {
    const perLayer = (await decodeDispatches(name, 2)) - (await decodeDispatches(name, 1));
    console.log(`[dispatches] ${name}: ${perLayer} per decode layer (budget ${MAX_DISPATCHES_PER_LAYER[name]})`);
    expect(perLayer).toBeGreaterThan(0);
    expect(perLayer).toBeLessThanOrEqual(MAX_DISPATCHES_PER_LAYER[name]);
  });
});
