// The planner with GLM-4V's vision tower: sizes count the tower exactly as loaded, the plan puts it (weights and
// one image's activations) on the head's device, and the fit verdicts for GLM-4V-9B at 8, 12, 16 and 24 GiB of GPU.
import { describe, expect, it } from 'vitest';
import { loadModelFolder } from '../../src/model/load';
import { nodeModelFiles } from '../../src/formats/node-files';
import { PRESETS } from '../../src/model/presets';
import { mapVisionWeights, visionActivationBytes } from '../../src/model/vision';
import { tensorSizes } from '../../src/planner/sizes';
import { explainPlan, planPlacement, type PlanInput } from '../../src/planner/planner';
import { formatBytes } from '../../src/planner/units';
import { GLM4V_DIR } from '../helpers/glm4v-fixture';

const GiB = 1024 ** 3;

describe('planner sizes with a vision tower', () => {
  it('tensorSizes counts every tower tensor, as many bytes as the loader reads (float32)', async () => {
    const { config, vision } = await loadModelFolder(nodeModelFiles(GLM4V_DIR));
    const sizes = tensorSizes(config, 'none');
    let loaded = 0;
    let count = 0;
    mapVisionWeights(vision!, (w) => {
      count++;
      loaded += w.dtype === 'f32' ? w.data.length * 4 : 0;
      return w;
    });
    expect(sizes.vision).toHaveLength(count);
    // The same paths as the loaded tower (the skeleton packages store it under).
    const paths: string[] = [];
    mapVisionWeights(vision!, (_, path) => paths.push(path));
    expect(sizes.vision.map((t) => t.path).sort()).toEqual(paths.sort());
    expect(sizes.vision.reduce((s, t) => s + t.bytes, 0)).toBe(loaded);
    const text = tensorSizes({ ...config, vision: undefined }, 'none');
    expect(sizes.totalBytes - text.totalBytes).toBe(loaded);
  });

  it('GLM-4V-9B: the tower is ~4.5B parameters; q4 stores its matrices in INT4, its tables in f32', () => {
    const sizes = tensorSizes(PRESETS['glm-4v-9b'], 'q4');
    const params = sizes.vision.reduce((s, t) => s + t.rows * t.cols, 0);
    expect(params).toBeGreaterThan(4.3e9);
    expect(params).toBeLessThan(4.6e9); // 4.51e9 by these shapes (the "about 4.4B" rounds it)
    expect(sizes.vision.find((t) => t.path === 'vision.positions')!.format).toBe('f32');
    expect(sizes.vision.find((t) => t.path === 'vision.layers.0.fc1.weight')!.format).toBe('q4');
  });
});

describe('GLM-4V-9B fit verdicts (q4, context 4096, 16 GiB CPU, binding 2 GiB)', () => {
  const config = PRESETS['glm-4v-9b'];
  const input = (gpuGiB: number): PlanInput => ({
    config,
    sizes: tensorSizes(config, 'q4'),
    device: { maxStorageBufferBindingSize: 2 * GiB - 4, maxBufferSize: 4 * GiB, features: [] },
    budgets: { gpuBytes: gpuGiB * GiB, cpuBytes: 16 * GiB },
    contextLength: 4096,
    modelName: 'glm-4v-9b',
  });

  it.each([8, 12, 16, 24])('%i GiB GPU', (gib) => {
    const plan = planPlacement(input(gib));
    const sizes = input(gib).sizes;
    const towerBytes = sizes.vision.reduce((s, t) => s + t.bytes, 0);
    // The tower sits with the head: its weights on that device, one image's activations in its scratch.
    const head = plan.lmHead === 'gpu' ? plan.totals.gpu : plan.totals.cpu;
    expect(head.weightBytes).toBeGreaterThanOrEqual(towerBytes);
    expect(head.scratchBytes).toBeGreaterThanOrEqual(visionActivationBytes(config.vision!));
    expect(plan.totals.gpu.weightBytes + plan.totals.cpu.weightBytes).toBe(sizes.totalBytes);
    console.log(
      `[plan] GLM-4V-9B q4 at ${gib} GiB GPU: ${plan.gpuLayerCount}/40 layers on the GPU, head + tower on the ${plan.lmHead.toUpperCase()}; ` +
        `GPU ${formatBytes(plan.totals.gpu.totalBytes)}, CPU ${formatBytes(plan.totals.cpu.totalBytes)} (tower ${formatBytes(towerBytes)})`,
    );
    expect(explainPlan(plan)).toContain('glm-4v-9b');
  });

  it('at 24 GiB the whole model, tower included, is on the GPU', () => {
    const plan = planPlacement(input(24));
    expect(plan.gpuLayerCount).toBe(40);
    expect(plan.lmHead).toBe('gpu');
  });
});
