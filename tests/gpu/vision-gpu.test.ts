// GLM-4V's vision tower on the GPU: each new kernel against its CPU twin over odd shapes (src/cpu/vision-ops.ts),
// then the tiny GLM-4V fixture end to end (tower, merged sequence, greedy decode) against THUDM's reference in
// float32, and q4 on the GPU against the same q4 weights on the CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps, cpuTensor, type CpuTensor } from '../../src/cpu/ops';
import { attentionFull, blocks2x2, concatRows, geluErf } from '../../src/cpu/vision-ops';
import { nodeModelFiles } from '../../src/formats/node-files';
import { GpuOps } from '../../src/gpu/ops';
import type { GpuTensor, GpuWeight } from '../../src/gpu/tensor';
import { loadModelFolder, type LoadedModel } from '../../src/model/load';
import { hostTensor } from '../../src/model/tensor';
import { quantizeModelWeights, quantizeWeight } from '../../src/model/quantize-weights';
import { convertVisionWeights, encodeImage, mapVisionWeights, quantizeVisionWeights, type VisionWeights } from '../../src/model/vision';
import type { HostWeight } from '../../src/model/weights';
import type { ModelWeights } from '../../src/model/weights-types';
import type { Ops } from '../../src/model/ops';
import { quantizeQ4, dequantize } from '../../src/quant/index';
import { ModelSession } from '../../src/runtime/session';
import { expectAllClose, maxAbsDiff } from '../helpers/compare';
import { LOGITS_ATOL } from '../helpers/fixtures';
import { GLM4V_DIR, glm4vExpected, glm4vImage } from '../helpers/glm4v-fixture';
import { randomArray } from '../helpers/random';

/** Attention: f32 dot products and an online softmax vs the CPU's double two-pass softmax (as ops.test.ts). */
const ATTENTION_ATOL = 1e-5;
const ATTENTION_RTOL = 1e-5;
/** GELU: WGSL's exp and A&S 7.1.26's erf (1.5e-7 absolute) vs a double-precision erf. */
const GELU_ATOL = 1e-6;
const GELU_RTOL = 1e-5;
/** Copies and gathers move f32 values unchanged. */
const EXACT = { atol: 0 };
/** The tower's rows on GPU vs CPU, the same weights: f32 summation order through a few layers. */
const TOWER_ATOL = 1e-4;
const CAPACITY = 64;

let ops: GpuOps;
const cpu = new CpuOps();

beforeAll(async () => {
  ops = new GpuOps(await testGpu());
});
afterAll(() => ops?.dispose());

const random = (rows: number, cols: number, seed: number, scale = 1): CpuTensor => cpuTensor(rows, cols, randomArray(rows * cols, seed, scale));
const up = (t: CpuTensor): GpuTensor => ops.upload(t.data, t.rows, t.cols);

describe('vision-tower kernels vs their CPU twins (odd shapes)', () => {
  it.each([
    [1, 1, 4],
    [37, 3, 13], // tokens not a multiple of the 64-key tile, odd head dim
    [70, 2, 70], // two key tiles; head dim over one invocation per dim
    [17, 3, 16], // the fixture's tower: 4x4 patches + class token
  ])('attentionFull: %i tokens, %i heads of %i', async (n, H, D) => {
    const qkv = random(n, 3 * H * D, n * 31 + D, 2);
    const got = await ops.read(ops.attentionFull(up(qkv), H));
    expectAllClose(got, attentionFull(qkv, H).data, { atol: ATTENTION_ATOL, rtol: ATTENTION_RTOL, label: `attentionFull ${n}x${H}x${D}` });
  });

  it('attentionFull refuses a width that is not 3 x heads x dim', () => {
    expect(() => ops.attentionFull(up(random(3, 10, 1)), 4)).toThrow(RangeError);
  });

  it.each([[1, 1], [7, 333], [3, 1025]])('geluErf: [%i, %i], values up to ±8', async (rows, cols) => {
    const x = random(rows, cols, rows + cols, 8);
    expectAllClose(await ops.read(ops.geluErf(up(x))), geluErf(x).data, { atol: GELU_ATOL, rtol: GELU_RTOL, label: 'geluErf' });
  });

  it.each([[2, 1], [4, 7], [5, 3], [7, 48]])('blocks2x2: %ix%i grid', async (g, C) => {
    const x = random(g * g, C, g * 100 + C);
    expectAllClose(await ops.read(ops.blocks2x2(up(x), g)), blocks2x2(x, g).data, { ...EXACT, label: `blocks2x2 ${g}x${C}` });
  });

  it('concatRows: parts of 1, 5 and 3 rows, 13 wide', async () => {
    const parts = [random(1, 13, 1), random(5, 13, 2), random(3, 13, 3)];
    expectAllClose(await ops.read(ops.concatRows(parts.map(up))), concatRows(parts).data, { ...EXACT, label: 'concatRows' });
    expect(() => ops.concatRows([up(random(1, 13, 1)), up(random(1, 12, 1))])).toThrow(RangeError);
  });

  it('weightRows: an f32 and a q4 weight as activations (the class token, positions, boi/eoi)', async () => {
    const data = randomArray(17 * 48, 5);
    const f32 = await ops.uploadWeight(hostTensor(data, [17, 48]), 'positions');
    expectAllClose(await ops.read(ops.weightRows(f32)), data, { ...EXACT, label: 'weightRows f32' });
    const q = quantizeQ4(data, 17, 48);
    const q4 = await ops.uploadWeight(q, 'positions q4');
    expectAllClose(await ops.read(ops.weightRows(q4)), dequantize(q), { atol: 1e-6, label: 'weightRows q4' });
    ops.releaseWeight(f32);
    ops.releaseWeight(q4);
  });
});

describe('GLM-4V tiny fixture on the GPU', () => {
  const e = glm4vExpected();
  let host: LoadedModel<HostWeight>;
  const uploaded: { weights: ModelWeights<GpuWeight>; vision: VisionWeights<GpuWeight> }[] = [];

  const upload = async (weights: ModelWeights<HostWeight>, vision: VisionWeights<HostWeight>) => {
    const u = { weights: await ops.uploadWeights(weights), vision: await convertVisionWeights(vision, (w, path) => ops.uploadWeight(w, path)) };
    uploaded.push(u);
    return u;
  };

  beforeAll(async () => {
    host = await loadModelFolder(nodeModelFiles(GLM4V_DIR));
  });
  afterAll(() => {
    for (const u of uploaded) {
      ops.releaseWeights(u.weights);
      mapVisionWeights(u.vision, (w) => ops.releaseWeight(w));
    }
  });

  async function runOn<T, W, C>(o: Ops<T, W, C>, weights: ModelWeights<W>, vision: VisionWeights<W>) {
    const session = new ModelSession(o, host.config, weights, CAPACITY, vision);
    const logits = await o.read(await session.appendPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, 'all'));
    const V = host.config.vocabSize;
    const ids: number[] = [];
    let last = logits.subarray(logits.length - V);
    for (let i = 0; i < e.greedy_ids.length; i++) {
      let best = 0;
      for (let j = 1; j < V; j++) if (last[j]! > last[best]!) best = j;
      ids.push(best);
      if (i < e.greedy_ids.length - 1) last = await o.read(await session.append([best], 'last'));
    }
    return { logits, ids };
  }

  it('float32: the tower rows, every merged row\'s logits and the greedy ids match the reference', async () => {
    const { weights, vision } = await upload(host.weights, host.vision!);
    const rows = await ops.read(await encodeImage(ops, host.config.vision!, vision, glm4vImage()));
    expectAllClose(rows, e.image_features.flat(), { atol: TOWER_ATOL, label: 'GPU image rows' });
    const { logits, ids } = await runOn(ops, weights, vision);
    const V = host.config.vocabSize;
    let worst = 0;
    e.prompt_logits.forEach((want, r) => {
      const got = logits.subarray(r * V, (r + 1) * V);
      worst = Math.max(worst, maxAbsDiff(got, want));
      expectAllClose(got, want, { atol: LOGITS_ATOL, label: `GPU merged row ${r}` });
    });
    console.log(`[gpu f32] GLM-4V: max |logit - reference| = ${worst.toExponential(2)}, image rows ${maxAbsDiff(rows, e.image_features.flat()).toExponential(2)}`);
    expect(ids).toEqual(e.greedy_ids);
  });

  it('q4 (tower and language model): GPU equals CPU on the same q4 weights', async () => {
    const qWeights = quantizeModelWeights(host.weights, 'q4');
    const qVision = quantizeVisionWeights(host.vision!, (w: HostWeight) => quantizeWeight(w, 'q4'));
    const onCpu = await runOn(cpu, qWeights, qVision);
    const { weights, vision } = await upload(qWeights, qVision);
    const onGpu = await runOn(ops, weights, vision);
    const diff = maxAbsDiff(onGpu.logits, onCpu.logits);
    console.log(`[gpu q4] GLM-4V: max |logit GPU - CPU| on the same q4 weights = ${diff.toExponential(2)}`);
    expectAllClose(onGpu.logits, onCpu.logits, { atol: LOGITS_ATOL, label: 'q4 GPU vs CPU' });
    expect(onGpu.ids).toEqual(onCpu.ids);
  });
});
