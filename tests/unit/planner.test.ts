import { describe, expect, it } from 'vitest';
import { GlmError, InvalidArgumentError } from '../../src/errors';
import { normalizeConfig } from '../../src/model/config';
import { PRESET_CONFIG_JSON, PRESETS, presetNames, type PresetName } from '../../src/model/presets';
import {
  classifyAdapter,
  defaultGpuBudget,
  explainPlan,
  planPlacement,
  PlanInfeasibleError,
  replanWithMoreCpu,
  type Plan,
  type PlanInput,
} from '../../src/planner/planner';
import { kvBytesPerToken, kvBytesPerTokenPerLayer, tensorBytes, tensorSizes, type TensorSize, type WeightQuant } from '../../src/planner/sizes';
import { formatBytes, GiB, MiB, parseBytes } from '../../src/planner/units';
import { q4Bytes } from '../../src/quant/types';

const GPU_BUDGETS_GIB = [1, 2, 4, 6, 8, 24];
const BINDING_LIMITS = [128 * MiB, 1 * GiB, 2 * GiB];
// Large enough that every preset fits with all layers on the CPU, so every sweep case has a plan.
const SWEEP_CPU_BUDGET = 16 * GiB;

function inputFor(
  preset: PresetName,
  opts: { quant?: WeightQuant; gpu: number; cpu?: number; binding?: number; maxBuffer?: number; context?: number; minContext?: number; features?: string[] },
): PlanInput {
  const config = PRESETS[preset];
  const binding = opts.binding ?? 128 * MiB;
  return {
    config,
    sizes: tensorSizes(config, opts.quant ?? 'q4'),
    device: { maxStorageBufferBindingSize: binding, maxBufferSize: opts.maxBuffer ?? Math.max(256 * MiB, binding), features: opts.features ?? [] },
    budgets: { gpuBytes: opts.gpu, cpuBytes: opts.cpu ?? SWEEP_CPU_BUDGET },
    contextLength: opts.context ?? 4096,
    ...(opts.minContext !== undefined ? { minContextLength: opts.minContext } : {}),
    modelName: preset,
  };
}

/** Every GPU-resident weight tensor of a plan (a tied head counted once). */
function gpuTensors(input: PlanInput, plan: Plan): TensorSize[] {
  const { sizes } = input;
  const out: TensorSize[] = [];
  plan.layers.forEach((l, i) => {
    if (l.device === 'gpu') out.push(...sizes.layers[i]!.tensors);
  });
  if (plan.lmHead === 'gpu') out.push(...sizes.finalNorm, sizes.lmHead);
  if (plan.embedding === 'gpu' && !sizes.lmHeadTied) out.push(sizes.embedding);
  return out;
}

/** The invariants every plan must satisfy, whatever the input. */
function expectValidPlan(input: PlanInput, plan: Plan): void {
  const { gpu, cpu } = plan.totals;
  expect(gpu.totalBytes, 'GPU total within budget').toBeLessThanOrEqual(input.budgets.gpuBytes);
  expect(cpu.totalBytes, 'CPU total within budget').toBeLessThanOrEqual(input.budgets.cpuBytes);
  expect(gpu.totalBytes).toBe(gpu.weightBytes + gpu.kvBytes + gpu.scratchBytes);
  expect(cpu.totalBytes).toBe(cpu.weightBytes + cpu.kvBytes + cpu.scratchBytes);
  expect(plan.layers).toHaveLength(input.config.numLayers);

  // CPU layers: one contiguous block, as cpuBlock describes it.
  const cpuLayers = plan.layers.filter((l) => l.device === 'cpu').map((l) => l.index);
  expect(cpuLayers.length).toBe(plan.cpuBlock.count);
  if (cpuLayers.length > 0) {
    expect(cpuLayers.at(-1)! - cpuLayers[0]! + 1, `CPU layers ${cpuLayers} are not contiguous`).toBe(cpuLayers.length);
    expect(plan.cpuBlock.first).toBe(cpuLayers[0]);
  }
  expect(plan.seams).toBeLessThanOrEqual(2);
  // The block sits next to the device it continues from: at the start after the CPU embedding when the
  // head is on the GPU, at the end before the head when the head is on the CPU.
  if (plan.cpuBlock.position === 'start') expect(plan.lmHead).toBe('gpu');
  if (plan.cpuBlock.position === 'end') expect(plan.lmHead).toBe('cpu');

  // Weight and KV totals add up from the per-layer placement.
  const layerSum = (d: 'gpu' | 'cpu', k: 'weightBytes' | 'kvBytes') => plan.layers.filter((l) => l.device === d).reduce((s, l) => s + l[k], 0);
  expect(gpu.kvBytes).toBe(layerSum('gpu', 'kvBytes'));
  expect(cpu.kvBytes).toBe(layerSum('cpu', 'kvBytes'));
  expect(gpu.weightBytes).toBeGreaterThanOrEqual(layerSum('gpu', 'weightBytes'));

  // Every GPU buffer part fits one binding and one buffer.
  const maxPart = Math.min(input.device.maxStorageBufferBindingSize, input.device.maxBufferSize);
  expect(plan.limits.maxPartBytes).toBe(maxPart);
  const splits = new Map(plan.splits.map((s) => [s.path, s]));
  for (const t of gpuTensors(input, plan)) {
    const split = splits.get(t.path);
    if (!split) {
      expect(t.bytes, `${t.path} is on the GPU unsplit`).toBeLessThanOrEqual(maxPart);
      continue;
    }
    expect(t.bytes, `${t.path} is split but would fit whole`).toBeGreaterThan(maxPart);
    expect(split.partRows.reduce((a, b) => a + b, 0)).toBe(t.rows);
    expect(split.parts).toBe(split.partRows.length);
    split.partRows.forEach((rows, i) => {
      expect(split.partBytes[i]).toBe(tensorBytes(t.format, rows, t.cols));
      expect(split.partBytes[i], `${t.path} part ${i}`).toBeLessThanOrEqual(maxPart);
    });
  }
  expect(splits.size, 'splits only for GPU tensors').toBe(gpuTensors(input, plan).filter((t) => t.bytes > maxPart).length);
  if (plan.gpuLayerCount > 0) {
    const kv = plan.kvCache;
    expect((kv.gpuBuffer.positionsPerPart * kv.bytesPerTokenPerLayer.gpu) / 2).toBeLessThanOrEqual(maxPart);
    expect(kv.gpuBuffer.parts * kv.gpuBuffer.positionsPerPart).toBeGreaterThanOrEqual(plan.contextLength);
  }

  expect(plan.estimate.secondsPerToken).toBeGreaterThan(0);
  expect(plan.estimate.tokensPerSecond).toBeCloseTo(1 / plan.estimate.secondsPerToken, 9);
  expect(explainPlan(plan)).toContain('ms/token');
}

describe('presets', () => {
  it('have the published shapes', () => {
    const shape = (n: PresetName) => {
      const c = PRESETS[n];
      return [c.family, c.numLayers, c.hiddenSize, c.numHeads, c.numKvHeads, c.headDim, c.ffnHiddenSize, c.vocabSize, c.maxSequenceLength];
    };
    expect(shape('glm-4-9b')).toEqual(['chatglm2', 40, 4096, 32, 2, 128, 13696, 151552, 131072]);
    expect(shape('chatglm3-6b')).toEqual(['chatglm2', 28, 4096, 32, 2, 128, 13696, 65024, 8192]);
    expect(shape('chatglm-6b')).toEqual(['chatglm1', 28, 4096, 32, 32, 128, 16384, 130528, 2048]);
    expect(shape('glm-edge-1.5b')).toEqual(['glm', 28, 2048, 16, 4, 128, 6144, 59264, 8192]);
    expect(PRESETS['glm-4-9b'].rope.base).toBe(500 * 10000);
    expect(PRESETS['chatglm-6b'].tokens).toMatchObject({ bos: 130004, eos: [130005], mask: 130000, gmask: 130001 });
    expect(PRESETS['glm-edge-1.5b'].rope.rotaryDim).toBe(128);
    expect(PRESETS['glm-edge-1.5b'].tieWordEmbeddings).toBe(true);
    expect(presetNames).toEqual(Object.keys(PRESETS));
  });

  it('are exactly normalizeConfig of the written-out config.json', () => {
    for (const name of presetNames) expect(PRESETS[name]).toEqual(normalizeConfig(PRESET_CONFIG_JSON[name]));
  });
});

describe('tensorSizes', () => {
  it('sizes glm-4-9b in q4 within the expected 5-6.5 GB, with exact per-tensor bytes', () => {
    const sizes = tensorSizes(PRESETS['glm-4-9b'], 'q4');
    expect(sizes.totalBytes).toBeGreaterThan(5e9);
    expect(sizes.totalBytes).toBeLessThan(6.5e9);
    const layer = sizes.layers[7]!;
    const byPath = Object.fromEntries(layer.tensors.map((t) => [t.path.replace('layers.7.', ''), t]));
    expect(byPath['qkv.weight']!.bytes).toBe(q4Bytes(4608, 4096));
    expect(byPath['qkv.bias']).toMatchObject({ format: 'f32', bytes: 4608 * 4 });
    expect(byPath['mlpUp.weight']!.bytes).toBe(q4Bytes(2 * 13696, 4096));
    expect(byPath['mlpDown.weight']!.bytes).toBe(q4Bytes(4096, 13696));
    expect(byPath['attnNorm.weight']).toMatchObject({ format: 'f32', bytes: 4096 * 4 });
    expect(layer.bytes).toBe(layer.tensors.reduce((s, t) => s + t.bytes, 0));
    expect(sizes.lmHead.bytes).toBe(q4Bytes(151552, 4096));
    expect(sizes.lmHead).not.toBe(sizes.embedding);
    const all = [...sizes.layers.flatMap((l) => l.tensors), sizes.embedding, sizes.lmHead, ...sizes.finalNorm];
    expect(sizes.totalBytes).toBe(all.reduce((s, t) => s + t.bytes, 0));
  });

  it('counts a tied head once', () => {
    const sizes = tensorSizes(PRESETS['glm-edge-1.5b'], 'q4');
    expect(sizes.lmHeadTied).toBe(true);
    expect(sizes.lmHead).toBe(sizes.embedding);
    const once = [...sizes.layers.flatMap((l) => l.tensors), sizes.embedding, ...sizes.finalNorm];
    expect(sizes.totalBytes).toBe(once.reduce((s, t) => s + t.bytes, 0));
  });

  it('q8, f32 and f16 dense matrices; norms stay f32', () => {
    const config = PRESETS['chatglm3-6b'];
    const q8 = tensorSizes(config, 'q8');
    const f32 = tensorSizes(config, 'none');
    const f16 = tensorSizes(config, 'none', { f16Dense: true });
    expect(f32.embedding).toMatchObject({ format: 'f32', bytes: 65024 * 4096 * 4 });
    expect(f16.embedding).toMatchObject({ format: 'f16', bytes: 65024 * 4096 * 2 });
    expect(q8.embedding.format).toBe('q8');
    expect(f16.finalNorm[0]).toMatchObject({ format: 'f32', bytes: 4096 * 4 });
    expect(q8.totalBytes).toBeLessThan(f16.totalBytes);
    expect(f16.totalBytes).toBeLessThan(f32.totalBytes);
  });

  it('KV bytes per token: K and V of every KV head', () => {
    expect(kvBytesPerTokenPerLayer(PRESETS['glm-4-9b'], true)).toBe(2 * 2 * 128 * 2);
    expect(kvBytesPerToken(PRESETS['glm-4-9b'], false)).toBe(40 * 2 * 2 * 128 * 4);
    // ChatGLM-6B has no grouped KV heads: 16x the KV cache of ChatGLM3-6B.
    expect(kvBytesPerToken(PRESETS['chatglm-6b'], false)).toBe(16 * kvBytesPerToken(PRESETS['chatglm3-6b'], false));
  });

  it('rejects an unknown format', () => {
    expect(() => tensorSizes(PRESETS['glm-4-9b'], 'q3' as WeightQuant)).toThrow(InvalidArgumentError);
  });
});

describe('planPlacement sweep: every preset x GPU budget x binding limit (q4, context 4096)', () => {
  for (const preset of presetNames) {
    for (const gib of GPU_BUDGETS_GIB) {
      for (const binding of BINDING_LIMITS) {
        it(`${preset}, GPU ${gib} GiB, binding ${formatBytes(binding)}`, () => {
          const input = inputFor(preset, { gpu: gib * GiB, binding });
          const plan = planPlacement(input);
          expectValidPlan(input, plan);
          expect(planPlacement(structuredClone(input)), 'deterministic').toEqual(plan);
        });
      }
    }
  }

  const otherFormats: [PresetName, WeightQuant, number][] = [
    ['glm-4-9b', 'q8', 8],
    ['glm-4-9b', 'none', 24],
    ['chatglm3-6b', 'q8', 4],
    ['chatglm-6b', 'none', 6],
    ['glm-edge-1.5b', 'q8', 1],
    ['glm-edge-1.5b', 'none', 2],
  ];
  for (const [preset, quant, gib] of otherFormats) {
    it(`${preset} ${quant}, GPU ${gib} GiB`, () => {
      const input = inputFor(preset, { quant, gpu: gib * GiB, cpu: 48 * GiB });
      const plan = planPlacement(input);
      expectValidPlan(input, plan);
      expect(plan.quant).toBe(quant);
      expect(planPlacement(input)).toEqual(plan);
    });
  }
});

describe('planPlacement rules', () => {
  it('throws PlanInfeasibleError naming needed and available bytes per device', () => {
    const input = inputFor('glm-4-9b', { gpu: 1 * GiB, cpu: 2 * GiB });
    let error: unknown;
    try {
      planPlacement(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PlanInfeasibleError);
    expect(error).toBeInstanceOf(GlmError);
    const e = error as PlanInfeasibleError;
    expect(e.name).toBe('PlanInfeasibleError');
    expect(e.available).toEqual({ gpuBytes: 1 * GiB, cpuBytes: 2 * GiB });
    expect(e.needed.gpuBytes > 1 * GiB || e.needed.cpuBytes > 2 * GiB).toBe(true);
    expect(e.message).toContain(`GPU needs ${formatBytes(e.needed.gpuBytes)} (${e.needed.gpuBytes} bytes)`);
    expect(e.message).toContain(`but has 1 GiB (${1 * GiB} bytes)`);
    expect(e.message).toContain(`CPU needs ${formatBytes(e.needed.cpuBytes)} (${e.needed.cpuBytes} bytes)`);
    expect(e.message).toContain(`but has 2 GiB (${2 * GiB} bytes)`);
    expect(e.message).toContain('glm-4-9b');
  });

  it('more GPU budget never gives a slower estimate', () => {
    for (const preset of presetNames) {
      let previous = Infinity;
      for (let gib = 0.25; gib <= 24; gib += 0.25) {
        const plan = planPlacement(inputFor(preset, { gpu: gib * GiB }));
        expect(plan.estimate.secondsPerToken, `${preset} at ${gib} GiB`).toBeLessThanOrEqual(previous);
        previous = plan.estimate.secondsPerToken;
      }
    }
  });

  it('puts every layer and the head on the GPU when the model fits (24 GiB)', () => {
    for (const preset of presetNames) {
      const plan = planPlacement(inputFor(preset, { gpu: 24 * GiB }));
      expect(plan.layers.every((l) => l.device === 'gpu')).toBe(true);
      expect(plan.lmHead).toBe('gpu');
      expect(plan.cpuBlock).toEqual({ position: 'none', first: -1, count: 0 });
      expect(plan.seams).toBe(0);
      expect(plan.gpuLayerCount).toBe(PRESETS[preset].numLayers);
      const config = PRESETS[preset];
      expect(plan.totals.gpu.kvBytes).toBe(config.numLayers * plan.contextLength * kvBytesPerTokenPerLayer(config, false));
      expect(explainPlan(plan)).toContain(formatBytes(plan.totals.gpu.kvBytes));
    }
  });

  it('places everything on the CPU when the GPU budget is zero', () => {
    const input = inputFor('glm-edge-1.5b', { gpu: 0 });
    const plan = planPlacement(input);
    expectValidPlan(input, plan);
    expect(plan.cpuBlock.position).toBe('all');
    expect(plan.lmHead).toBe('cpu');
    expect(plan.totals.gpu.totalBytes).toBe(0);
    expect(plan.seams).toBe(0);
  });

  it('keeps the embedding on the CPU when asked or when layers run there, and on the GPU with the whole model (untied)', () => {
    const base = inputFor('glm-4-9b', { gpu: 24 * GiB });
    const cpuEmbedding = { ...base, embedding: 'cpu' as const };
    expect(planPlacement(cpuEmbedding).embedding).toBe('cpu');
    // Everything else on the GPU: the embedding joins it, so decode steps can pipeline (issue #17).
    const plan = planPlacement(base);
    expectValidPlan(base, plan);
    expect(plan.gpuLayerCount).toBe(40);
    expect(plan.embedding).toBe('gpu');
    expect(plan.notes.join(' ')).toContain('pipelined steps');
    expect(plan.totals.gpu.weightBytes - planPlacement(cpuEmbedding).totals.gpu.weightBytes).toBeGreaterThanOrEqual(base.sizes.embedding.bytes);
    const gpuEmbedding = { ...base, embedding: 'gpu' as const };
    expect(planPlacement(gpuEmbedding).embedding).toBe('gpu');
    // Some layers on the CPU: the gather stays there (the step waits for a transfer anyway).
    const hybrid = planPlacement(inputFor('glm-4-9b', { gpu: 3 * GiB }));
    expect(hybrid.gpuLayerCount).toBeLessThan(40);
    expect(hybrid.embedding).toBe('cpu');
    // Tied: the embedding is the head's tensor and follows it.
    const tied = planPlacement(inputFor('glm-edge-1.5b', { gpu: 24 * GiB }));
    expect(tied.embedding).toBe(tied.lmHead);
  });

  it('splits the vocab matrices by rows under a 128 MiB binding', () => {
    const input = inputFor('glm-4-9b', { gpu: 24 * GiB, binding: 128 * MiB });
    const plan = planPlacement(input);
    const head = plan.splits.find((s) => s.path === 'lmHead')!;
    expect(head.rows).toBe(151552);
    expect(head.parts).toBe(3);
    expect(head.rowsPerPart % 64).toBe(0);
    expect(Math.max(...head.partBytes)).toBeLessThanOrEqual(128 * MiB);
    // Dense f32 weights: the MLP matrices are split too, in every GPU layer.
    const dense = inputFor('glm-4-9b', { quant: 'none', gpu: 48 * GiB, cpu: 48 * GiB, binding: 128 * MiB });
    const densePlan = planPlacement(dense);
    expectValidPlan(dense, densePlan);
    expect(densePlan.splits.filter((s) => s.path.endsWith('mlpUp.weight'))).toHaveLength(densePlan.gpuLayerCount);
    expect(explainPlan(densePlan)).toMatch(/mlpUp\.weight of \d+ GPU layers/);
  });

  it('respects maxBufferSize when it is below the binding limit', () => {
    const input = inputFor('glm-4-9b', { gpu: 24 * GiB, binding: 2 * GiB, maxBuffer: 200 * MiB });
    const plan = planPlacement(input);
    expectValidPlan(input, plan);
    expect(plan.splits.find((s) => s.path === 'lmHead')!.parts).toBe(2);
  });

  it('keeps tensors whose rows exceed a binding off the GPU', () => {
    // 1 KiB bindings hold no q4 row of a 4096-wide matrix (2304 bytes): everything runs on the CPU.
    const input = inputFor('glm-4-9b', { gpu: 24 * GiB, binding: 1 * 1024, maxBuffer: 1 * 1024 });
    const plan = planPlacement(input);
    expect(plan.cpuBlock.position).toBe('all');
    expect(plan.lmHead).toBe('cpu');
    expect(plan.totals.gpu.totalBytes).toBe(0);
  });

  it('keeps the GPU KV cache in f16 with shader-f16', () => {
    const f32 = planPlacement(inputFor('chatglm3-6b', { gpu: 24 * GiB }));
    const f16 = planPlacement(inputFor('chatglm3-6b', { gpu: 24 * GiB, features: ['shader-f16'] }));
    expect(f16.kvCache.gpuF16).toBe(true);
    expect(f16.totals.gpu.kvBytes * 2).toBe(f32.totals.gpu.kvBytes);
    expect(f16.estimate.secondsPerToken).toBeLessThan(f32.estimate.secondsPerToken);
  });

  it('clamps the context to the model maximum and says so', () => {
    const plan = planPlacement(inputFor('chatglm-6b', { gpu: 24 * GiB, context: 4096 }));
    expect(plan.contextLength).toBe(2048);
    expect(plan.requestedContextLength).toBe(2048);
    expect(plan.notes.join(' ')).toContain('clamped');
  });

  it('splits a KV buffer by positions when a long context exceeds a binding', () => {
    // glm-4-9b at 131072 tokens: one layer's f32 K buffer is 131072 x 2 heads x 128 x 4 bytes = 128 MiB,
    // so 64 MiB bindings need two parts of 65536 positions.
    const input = inputFor('glm-4-9b', { gpu: 24 * GiB, cpu: 64 * GiB, binding: 64 * MiB, context: 131072 });
    const plan = planPlacement(input);
    expectValidPlan(input, plan);
    expect(plan.kvCache.gpuBuffer).toEqual({ bytes: 128 * MiB, parts: 2, positionsPerPart: 65536 });
  });

  it('trades context for GPU layers only when minContextLength allows it', () => {
    // The GPU budget that holds every chatglm-6b layer at 1024 tokens but not at 2048 (its KV cache is large: no GQA).
    // (The embedding on the CPU: with the whole model on the GPU the plan would add it there too, for pipelined decode.)
    const fitsAt1024 = planPlacement({ ...inputFor('chatglm-6b', { gpu: 24 * GiB, context: 1024 }), embedding: 'cpu' }).totals.gpu.totalBytes;
    const strict = planPlacement(inputFor('chatglm-6b', { gpu: fitsAt1024, context: 2048 }));
    expect(strict.contextLength).toBe(2048);
    expect(strict.contextTraded).toBe(false);
    expect(strict.gpuLayerCount).toBeLessThan(28);

    const input = inputFor('chatglm-6b', { gpu: fitsAt1024, context: 2048, minContext: 512 });
    const traded = planPlacement(input);
    expectValidPlan(input, traded);
    expect(traded.contextTraded).toBe(true);
    expect(traded.requestedContextLength).toBe(2048);
    expect(traded.contextLength).toBeGreaterThanOrEqual(1024);
    expect(traded.contextLength).toBeLessThan(2048);
    expect(traded.contextLength % 256).toBe(0);
    expect(traded.gpuLayerCount).toBe(28);
    expect(traded.lmHead).toBe('gpu');
    expect(traded.estimate.secondsPerToken).toBeLessThan(strict.estimate.secondsPerToken);
    expect(traded.notes.join(' ')).toMatch(/Context traded for speed: \d+ tokens instead of 2048 puts every layer and lm_head on the GPU/);
    expect(explainPlan(traded)).toContain('(requested 2048)');

    // With at least 1280 tokens required the whole model no longer fits, but every layer still does
    // (the lm_head's 287 MiB go to the CPU and pay for the longer KV cache).
    const layersOnly = inputFor('chatglm-6b', { gpu: fitsAt1024, context: 2048, minContext: 1280 });
    const partial = planPlacement(layersOnly);
    expectValidPlan(layersOnly, partial);
    expect(partial.contextLength).toBeGreaterThanOrEqual(1280);
    expect(partial.contextLength).toBeLessThan(2048);
    expect(partial.gpuLayerCount).toBe(28);
    expect(partial.lmHead).toBe('cpu');
    expect(partial.notes.join(' ')).toContain('puts all 28 layers on the GPU');
    expect(partial.estimate.secondsPerToken).toBeLessThan(strict.estimate.secondsPerToken);
  });

  it('does not trade context when the requested one already puts the whole model on the GPU', () => {
    const plan = planPlacement(inputFor('glm-4-9b', { gpu: 24 * GiB, context: 8192, minContext: 1024 }));
    expect(plan.contextLength).toBe(8192);
    expect(plan.contextTraded).toBe(false);
  });

  it('shortens the context when nothing fits the requested one and minContextLength allows it', () => {
    // 2 GiB + 2 GiB cannot hold chatglm-6b q4 with 2048 tokens of f32 KV cache (3.5 GiB of weights + 1.75 GiB).
    expect(() => planPlacement(inputFor('chatglm-6b', { gpu: 2 * GiB, cpu: 2 * GiB, context: 2048 }))).toThrow(PlanInfeasibleError);
    const input = inputFor('chatglm-6b', { gpu: 2 * GiB, cpu: 2 * GiB, context: 2048, minContext: 128 });
    const plan = planPlacement(input);
    expectValidPlan(input, plan);
    expect(plan.contextLength).toBeLessThan(2048);
    expect(plan.contextLength).toBeGreaterThanOrEqual(128);
    expect(plan.notes.join(' ')).toContain('Context shortened');
    // The infeasible message says it tried the shortest accepted context.
    expect(() => planPlacement(inputFor('chatglm-6b', { gpu: 1 * GiB, cpu: 1 * GiB, context: 2048, minContext: 256 }))).toThrow(
      /even at the shortest accepted context of 256 tokens/,
    );
  });

  it('replanWithMoreCpu lowers the GPU budget below the failed allocation', () => {
    const input = inputFor('glm-4-9b', { gpu: 8 * GiB });
    const first = planPlacement(input);
    expect(first.gpuLayerCount).toBe(40);
    const failedAt = 3 * GiB;
    const second = replanWithMoreCpu(input, failedAt);
    expect(second.totals.gpu.totalBytes).toBeLessThan(failedAt);
    expect(second.totals.gpu.budgetBytes).toBeLessThan(failedAt);
    expect(second.gpuLayerCount).toBeLessThan(first.gpuLayerCount);
    expect(second.notes.join(' ')).toContain('after a GPU allocation failed at 3 GiB');
    // Failing above the budget still lowers it below the old budget.
    expect(replanWithMoreCpu(input, 20 * GiB).totals.gpu.budgetBytes).toBeLessThan(8 * GiB);
    // When the CPU cannot take the layers, recovery is infeasible.
    expect(() => replanWithMoreCpu({ ...input, budgets: { gpuBytes: 8 * GiB, cpuBytes: 1 * GiB } }, 1 * GiB)).toThrow(PlanInfeasibleError);
  });

  it('rejects bad input', () => {
    const input = inputFor('glm-4-9b', { gpu: 4 * GiB });
    expect(() => planPlacement({ ...input, contextLength: 0 })).toThrow(InvalidArgumentError);
    expect(() => planPlacement({ ...input, budgets: { gpuBytes: -1, cpuBytes: 1 } })).toThrow(InvalidArgumentError);
    expect(() => planPlacement({ ...input, sizes: tensorSizes(PRESETS['chatglm3-6b'], 'q4') })).toThrow(/40 layers|28 layers/);
    expect(() => planPlacement({ ...input, bandwidth: { gpuBytesPerSec: 0 } })).toThrow(InvalidArgumentError);
  });

  it('explainPlan shows ranges, bytes, splits, context and speed', () => {
    const plan = planPlacement(inputFor('glm-4-9b', { gpu: 4 * GiB }));
    const text = explainPlan(plan);
    expect(plan.cpuBlock.count).toBeGreaterThan(0);
    const gpuRow = text.split('\n').find((l) => l.startsWith('GPU'))!;
    expect(gpuRow).toContain(`(${plan.gpuLayerCount})`);
    expect(gpuRow).toContain(formatBytes(plan.totals.gpu.totalBytes));
    expect(gpuRow).toContain('4 GiB');
    expect(text).toContain('context 4096');
    expect(text).toMatch(/\d+\.\d ms\/token \(\d+\.\d tok\/s\)/);
    expect(text).toContain('splits');
  });
});

describe('defaultGpuBudget', () => {
  const big = { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 2 * GiB };
  const adapter = (vendor: string, architecture = '', description = '', isFallback = false) => ({ vendor, architecture, description, isFallback });

  it('is conservative per adapter class', () => {
    expect(defaultGpuBudget(adapter('google', 'swiftshader', 'SwiftShader Device (Subzero)', true), big)).toBe(1 * GiB);
    expect(defaultGpuBudget(adapter('nvidia', 'ampere'), big)).toBe(4 * GiB);
    expect(defaultGpuBudget(adapter('amd', 'rdna-3', 'AMD Radeon RX 7800 XT'), big)).toBe(4 * GiB);
    expect(defaultGpuBudget(adapter('amd', 'rdna-3', 'AMD Radeon(TM) Graphics'), big)).toBe(1.5 * GiB);
    expect(defaultGpuBudget(adapter('intel', 'gen-12lp', 'Intel(R) UHD Graphics 770'), big)).toBe(1.5 * GiB);
    expect(defaultGpuBudget(adapter('intel', 'xe-lpg', 'Intel(R) Arc(TM) Graphics'), big)).toBe(1.5 * GiB);
    expect(defaultGpuBudget(adapter('intel', 'xe-hpg', 'Intel(R) Arc(TM) A770 Graphics'), big)).toBe(4 * GiB);
    expect(defaultGpuBudget(adapter('apple', 'metal-3'), big)).toBe(4 * GiB);
    expect(defaultGpuBudget(adapter('apple', 'metal-3'), big, { deviceMemoryBytes: 16 * GiB })).toBe(8 * GiB);
    expect(defaultGpuBudget(adapter('intel', 'gen-12lp'), big, { deviceMemoryBytes: 8 * GiB })).toBe(2 * GiB);
    expect(defaultGpuBudget(adapter('qualcomm', 'adreno-7xx'), big)).toBe(1 * GiB);
    expect(defaultGpuBudget(adapter(''), big)).toBe(1.5 * GiB);
  });

  it('caps adapters that expose only the WebGPU default limits at 1 GiB', () => {
    expect(defaultGpuBudget(adapter('nvidia'), { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB })).toBe(1 * GiB);
  });

  it('explains its classification', () => {
    expect(classifyAdapter(adapter('nvidia')).adapterClass).toBe('discrete');
    expect(classifyAdapter(adapter('', '', 'llvmpipe (LLVM 15.0.7, 256 bits)')).adapterClass).toBe('software');
    expect(classifyAdapter(adapter('arm', 'valhall')).reason).toMatch(/mobile/);
  });
});

describe('byte units', () => {
  it('parses binary, decimal and bare sizes', () => {
    expect(parseBytes('4GiB')).toBe(4 * GiB);
    expect(parseBytes('128 MiB')).toBe(128 * MiB);
    expect(parseBytes('1.5GB')).toBe(1.5e9);
    expect(parseBytes('1073741824')).toBe(GiB);
    expect(parseBytes('2g')).toBe(2 * GiB);
    expect(parseBytes('512kb')).toBe(512_000);
    expect(parseBytes('0.5GiB')).toBe(GiB / 2);
    expect(parseBytes('10B')).toBe(10);
  });

  it('rejects what is not a size', () => {
    for (const bad of ['', 'GiB', '-1GiB', '4 XB', '1e9', '4GiB extra', '1..5GB']) {
      expect(() => parseBytes(bad), bad).toThrow(InvalidArgumentError);
    }
    expect(() => parseBytes('9999999 TiB')).toThrow(/too large/);
  });

  it('formats with three significant digits and round-trips', () => {
    expect(formatBytes(4 * GiB)).toBe('4 GiB');
    expect(formatBytes(128 * MiB)).toBe('128 MiB');
    expect(formatBytes(1.5 * GiB)).toBe('1.5 GiB');
    expect(formatBytes(5_703_204_864)).toBe('5.31 GiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(320 * MiB)).toBe('320 MiB');
    expect(formatBytes(10 * GiB)).toBe('10 GiB');
    expect(formatBytes(100 * 1024)).toBe('100 KiB');
    expect(formatBytes(2.004 * GiB)).toBe('2 GiB');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023.9 * MiB)).toBe('1024 MiB');
    // Three significant digits: the round trip is within half a unit of the last digit shown (< 0.5%).
    for (const n of [1, 1000, 3 * MiB + 12345, 7.2589 * GiB, 123_456_789]) {
      expect(Math.abs(parseBytes(formatBytes(n)) - n) / n, formatBytes(n)).toBeLessThan(0.005);
    }
  });
});
