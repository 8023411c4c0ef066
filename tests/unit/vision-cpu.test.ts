// GLM-4V on the CPU backend against THUDM's reference (tests/fixtures/thudm-glm4v-tiny): the vision tower's
// rows, the merged sequence's positions and logits, greedy decoding with the image in context; the same
// with the weights (tower included) in q4, whose cost against float32 is printed.
import { describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/cpu/ops';
import { loadModelFolder } from '../../src/model/load';
import { nodeModelFiles } from '../../src/formats/node-files';
import { ModelSession } from '../../src/runtime/session';
import { encodeImage, expandImagePrompt, imageTokenCount, quantizeVisionWeights } from '../../src/model/vision';
import { quantizeModelWeights, quantizeWeight } from '../../src/model/quantize-weights';
import { LOGITS_ATOL } from '../helpers/fixtures';
import { expectAllClose, maxAbsDiff } from '../helpers/compare';
import { GLM4V_DIR, glm4vExpected, glm4vImage } from '../helpers/glm4v-fixture';
import type { HostWeight } from '../../src/model/weights';

const load = () => loadModelFolder(nodeModelFiles(GLM4V_DIR));

function relativeError(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Prefill with the image, then greedy steps; returns every prompt row's logits and the greedy ids. */
async function run(ops: CpuOps, model: Awaited<ReturnType<typeof load>>, steps: number) {
  const e = glm4vExpected();
  const session = new ModelSession(ops, model.config, model.weights, 64, model.vision);
  const logits = await ops.read(await session.appendPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, 'all'));
  const V = model.config.vocabSize;
  const ids: number[] = [];
  let last = logits.subarray(logits.length - V);
  for (let i = 0; i < steps; i++) {
    let best = 0;
    for (let j = 1; j < V; j++) if (last[j]! > last[best]!) best = j;
    ids.push(best);
    if (i < steps - 1) last = await ops.read(await session.append([best], 'last'));
  }
  return { logits, ids, session };
}

describe('GLM-4V tiny fixture on the CPU, float32', () => {
  const e = glm4vExpected();

  it('normalizes the config: tower shapes and the image token count', async () => {
    const { config, vision } = await load();
    expect(config.vision).toMatchObject({ imageSize: 56, patchSize: 14, hiddenSize: 48, numHeads: 3, numLayers: 2, boiTokenId: 3010, eoiTokenId: 3011 });
    expect(vision).toBeDefined();
    expect(imageTokenCount(config.vision!)).toBe(e.image_features.length);
  });

  it('the merged sequence gets the reference position ids', async () => {
    const { config } = await load();
    const expanded = expandImagePrompt(config.vision!, e.prompt_ids, 1);
    expect(expanded.positions).toEqual(e.merged_positions);
    expect(expanded.ids.length).toBe(e.prompt_logits.length);
  });

  it('the vision tower reproduces the reference image rows (boi, patches, eoi)', async () => {
    const { config, vision } = await load();
    const ops = new CpuOps();
    const rows = await ops.read(await encodeImage(ops, config.vision!, vision!, glm4vImage()));
    const D = config.hiddenSize;
    let worst = 0;
    e.image_features.forEach((want, r) => {
      const got = rows.subarray(r * D, (r + 1) * D);
      worst = Math.max(worst, maxAbsDiff(got, want));
      expectAllClose(got, want, { atol: 1e-4, label: `image row ${r}` });
    });
    console.log(`[cpu f32] GLM-4V image rows: max |diff| = ${worst.toExponential(2)}`);
  });

  it('prompt logits at every merged row and greedy ids match the reference', async () => {
    const model = await load();
    const { logits, ids, session } = await run(new CpuOps(), model, e.greedy_ids.length);
    const V = model.config.vocabSize;
    let worst = 0;
    e.prompt_logits.forEach((want, r) => {
      const got = logits.subarray(r * V, (r + 1) * V);
      worst = Math.max(worst, maxAbsDiff(got, want));
      expectAllClose(got, want, { atol: LOGITS_ATOL, label: `merged row ${r}` });
    });
    console.log(`[cpu f32] GLM-4V logits: max |diff| = ${worst.toExponential(2)}`);
    expect(ids).toEqual(e.greedy_ids);
    // Decode continued at the last position + 1, not at the KV slot.
    expect(session.positions.at(-1)).toBe(e.merged_positions.at(-1)! + e.greedy_ids.length - 1);
    expect(session.tokens.length).toBe(e.prompt_logits.length + e.greedy_ids.length - 1);
  });

  it('q4 (tower and language model): greedy start, and the cost against float32 stated', async () => {
    const model = await load();
    const q4Tower = quantizeVisionWeights(model.vision!, (w: HostWeight) => quantizeWeight(w, 'q4'));
    const ops = new CpuOps();
    const rowsF = await ops.read(await encodeImage(ops, model.config.vision!, model.vision!, glm4vImage()));
    const rowsQ = await ops.read(await encodeImage(ops, model.config.vision!, q4Tower, glm4vImage()));
    const rel = relativeError(rowsQ, rowsF);
    const f32 = await run(new CpuOps(), model, 1);
    const towerOnly = await run(new CpuOps(), { ...model, vision: q4Tower }, 1);
    const both = await run(new CpuOps(), { ...model, weights: quantizeModelWeights(model.weights, 'q4'), vision: q4Tower }, e.greedy_ids.length);
    const lmOnly = await run(new CpuOps(), { ...model, weights: quantizeModelWeights(model.weights, 'q4') }, 1);
    console.log(
      `[cpu q4] GLM-4V tower in q4: image rows off by ${(100 * rel).toFixed(1)}% (relative L2); max |logit - f32|: tower q4 ${maxAbsDiff(towerOnly.logits, f32.logits).toFixed(3)}, ` +
        `LM q4 ${maxAbsDiff(lmOnly.logits, f32.logits).toFixed(3)}, both ${maxAbsDiff(both.logits, f32.logits).toFixed(3)}; greedy q4 ${both.ids} vs f32 ${e.greedy_ids}`,
    );
    // Random tiny weights are the worst case for INT4 (no outliers to spare, every matrix ~9% off); broken packing would be ~100%.
    expect(rel).toBeGreaterThan(0); // the tower really ran quantized
    expect(rel).toBeLessThan(0.5);
  });
});

describe('GLM-4V errors', () => {
  const e = glm4vExpected();

  it('images for a model without a tower: NoVisionTowerError, and the session still works', async () => {
    const model = await load();
    const session = new ModelSession(new CpuOps(), model.config, model.weights, 64); // no vision weights
    await expect(session.appendPrompt({ ids: e.prompt_ids, images: [glm4vImage()] })).rejects.toMatchObject({ name: 'NoVisionTowerError' });
    expect(session.tokens.length).toBe(0);
    await session.append([3002, 3004, 3007], 'last');
    expect(session.tokens.length).toBe(3);
  });

  it('a wrong pixel count or a broken boi/placeholder/eoi layout: ImageInputError, nothing appended', async () => {
    const model = await load();
    const session = new ModelSession(new CpuOps(), model.config, model.weights, 64, model.vision);
    await expect(session.appendPrompt({ ids: e.prompt_ids, images: [new Float32Array(10)] })).rejects.toMatchObject({ name: 'ImageInputError' });
    const broken = e.prompt_ids.filter((id) => id !== 3011);
    await expect(session.appendPrompt({ ids: broken, images: [glm4vImage()] })).rejects.toMatchObject({ name: 'ImageInputError', message: /end_of_image/ });
    await expect(session.appendPrompt({ ids: e.prompt_ids, images: [glm4vImage(), glm4vImage()] })).rejects.toMatchObject({ name: 'ImageInputError' });
    expect(session.tokens.length).toBe(0);
    const logits = await session.ops.read(await session.appendPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, 'last'));
    expect(Array.from(logits).indexOf(Math.max(...logits))).toBe(e.greedy_ids[0]);
  });
});
