// Hybrid plans: layers split between the GPU and the CPU in one forward pass, planned from a GPU
// budget, fixed by hand (GPU, CPU, GPU), and recovered after the GPU refuses memory while loading.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { nodeModelFiles } from '../../src/formats/node-files';
import { loadHybridModel, type Placement } from '../../src/runtime/hybrid';
import { planPlacement } from '../../src/planner/planner';
import { tensorSizes } from '../../src/planner/sizes';
import { loadBackend } from '../../src/runtime/backend';
import { setGpuContextFactory } from '../../src/runtime/gpu-backend';
import { greedyGenerate, ModelSession } from '../../src/runtime/session';
import { CpuOps } from '../../src/cpu/ops';
import { loadModelFolder } from '../../src/model/load';
import type { GpuContext } from '../../src/gpu/device';
import { MODEL_FIXTURES, fixtureDir, fixtureExpected, LOGITS_ATOL } from '../helpers/fixtures';
import { expectAllClose } from '../helpers/compare';

const GiB = 1024 ** 3;

/** A device that refuses (through the out-of-memory error scope) every buffer past `limit` bytes in total. */
function refusingContext(ctx: GpuContext, limit: number): GpuContext & { refused: () => number; peak: () => number } {
  let total = 0;
  let peak = 0;
  let refusals = 0;
  // Mirrors the device's error-scope stack so a refusal surfaces in the innermost out-of-memory scope.
  const scopes: { filter: GPUErrorFilter; refused: boolean }[] = [];
  const device = new Proxy(ctx.device, {
    get(target, prop) {
      if (prop === 'pushErrorScope') {
        return (filter: GPUErrorFilter) => {
          scopes.push({ filter, refused: false });
          target.pushErrorScope(filter);
        };
      }
      if (prop === 'popErrorScope') {
        return async () => {
          const scope = scopes.pop();
          const real = await target.popErrorScope();
          return scope?.refused ? ({ message: 'simulated out of memory' } as GPUError) : real;
        };
      }
      if (prop === 'createBuffer') {
        return (desc: GPUBufferDescriptor) => {
          const oomScope = [...scopes].reverse().find((s) => s.filter === 'out-of-memory');
          if (oomScope && total + desc.size > limit) {
            refusals++;
            oomScope.refused = true;
            return target.createBuffer({ ...desc, size: 16 });
          }
          total += desc.size;
          peak = Math.max(peak, total);
          const buffer = target.createBuffer(desc);
          // Freed memory is available again, as on a real device.
          const destroy = buffer.destroy.bind(buffer);
          let live = true;
          Object.defineProperty(buffer, 'destroy', {
            value: () => {
              if (live) total -= desc.size;
              live = false;
              destroy();
            },
          });
          return buffer;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { ...ctx, device, refused: () => refusals, peak: () => peak };
}

/** Rough weight bytes of a fixture (its safetensors file), to size the simulated memory limit. */
function fixtureBytes(name: string): number {
  return statSync(resolve(fixtureDir(name), 'model.safetensors')).size;
}

async function cpuReference(name: string) {
  const { config, weights } = await loadModelFolder(nodeModelFiles(fixtureDir(name)));
  return new ModelSession(new CpuOps(), config, weights, 64);
}

afterEach(() => setGpuContextFactory(null));

describe.each(MODEL_FIXTURES)('hybrid GPU+CPU forward pass: %s', (name) => {
  const expected = fixtureExpected(name);

  it('GPU, CPU, GPU layers (+ CPU head) match the reference logits and greedy ids', async () => {
    const ctx = await testGpu();
    const files = nodeModelFiles(fixtureDir(name));
    const { numLayers } = (await loadModelFolder(files)).config;
    // Alternate devices so every seam direction is crossed: gpu, cpu, gpu, ...; the head on the CPU.
    const placement: Placement = { layers: Array.from({ length: numLayers }, (_, i) => (i % 2 === 0 ? 'gpu' : 'cpu')), head: 'cpu' };
    const model = await loadHybridModel(files, ctx, { quant: 'none', gpuBudget: GiB, cpuBudget: GiB, contextLength: 64, placement });
    try {
      const session = model.newSession(64);
      const logits = await session.ops.read(await session.append(expected.prompt_ids, 'all'));
      const V = model.config.vocabSize;
      expected.prompt_logits.forEach((row, pos) => expectAllClose(logits.subarray(pos * V, (pos + 1) * V), row, { atol: LOGITS_ATOL, label: `${name} hybrid position ${pos}` }));
      const ids = await greedyGenerate(model.newSession(64), expected.prompt_ids, expected.greedy_ids.length);
      expect(ids).toEqual(expected.greedy_ids);
    } finally {
      model.ops.gpu.dispose();
    }
  });
});

describe('planned and recovered placements', () => {
  it('a GPU budget too small for the whole model moves work off the GPU, with the same greedy ids', async () => {
    const ctx = await testGpu();
    setGpuContextFactory(async () => ctx);
    const name = 'hf-glm-tiny';
    const e = fixtureExpected(name);
    const files = nodeModelFiles(fixtureDir(name));
    // What the whole model needs on the GPU, from the planner itself; two layers' worth less must push layers to the CPU.
    const config = (await loadModelFolder(files)).config;
    const input = {
      config,
      sizes: tensorSizes(config, 'none'),
      device: { maxBufferSize: ctx.limits.maxBufferSize, maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, features: [...ctx.features] },
      budgets: { gpuBytes: GiB, cpuBytes: GiB },
      contextLength: 64,
    };
    const full = planPlacement(input);
    expect(full.gpuLayerCount).toBe(config.numLayers);
    const twoLayers = full.layers[0]!.weightBytes + full.layers[0]!.kvBytes + full.layers[1]!.weightBytes + full.layers[1]!.kvBytes;
    const budget = full.totals.gpu.totalBytes - twoLayers;
    const tight = await loadBackend(files, { backend: 'gpu', quant: 'none', gpuBudget: budget, contextLength: 64 });
    try {
      // For layers this small the planner's seam cost (a transfer per token) outweighs GPU speed, so it may
      // choose the CPU for all of them; either way the budget is honoured and the output is unchanged.
      expect(['hybrid', 'cpu']).toContain(tight.kind);
      expect(tight.placement.cpu).toBeGreaterThanOrEqual(2);
      const ids = await greedyGenerate(tight.newSession(64), e.prompt_ids, e.greedy_ids.length);
      expect(ids).toEqual(e.greedy_ids);
    } finally {
      tight.dispose();
    }
  });

  it.each(['thudm-chatglm2-tiny', 'hf-glm4-tiny', 'thudm-chatglm1-tiny'])(
    '%s: a device that refuses memory past N bytes recovers into a hybrid plan with correct outputs',
    async (name) => {
      const base = await testGpu();
      const e = fixtureExpected(name);
      // First learn what loading everything on the GPU peaks at (weights + KV cache + a prefill's scratch)...
      const counting = refusingContext(base, Infinity);
      setGpuContextFactory(async () => counting);
      const all = await loadBackend(nodeModelFiles(fixtureDir(name)), { backend: 'gpu', quant: 'none', gpuBudget: GiB, contextLength: 64 });
      const layers = all.placement.gpu;
      all.dispose();
      const oneLayer = (fixtureBytes(name) / (layers + 1)) | 0;
      // ...then a device with about one and a half layers less than that: the last layer(s) and the head must move.
      const ctx = refusingContext(base, counting.peak() - 1.5 * oneLayer);
      setGpuContextFactory(async () => ctx);
      const backend = await loadBackend(nodeModelFiles(fixtureDir(name)), { backend: 'gpu', quant: 'none', gpuBudget: GiB, contextLength: 64 });
      try {
        const info = backend.describe() as { changes: string[]; placement: Placement };
        console.log(`[hybrid] ${name} changes: ${info.changes.join(' | ')}`);
        expect(ctx.refused()).toBeGreaterThan(0);
        expect(info.changes.join('\n')).toMatch(/refused memory.*re-planned/s);
        expect(info.placement.head).toBe('cpu');
        expect(backend.kind).toBe('hybrid');
        expect(backend.placement.gpu).toBeGreaterThan(0);
        expect(backend.placement.cpu).toBeGreaterThan(0);
        const session = backend.newSession(64);
        const logits = await session.ops.read(await session.append(e.prompt_ids, 'all'));
        const ref = await cpuReference(name);
        const want = await ref.ops.read(await ref.append(e.prompt_ids, 'all'));
        expectAllClose(logits, want, { atol: LOGITS_ATOL, label: `${name} after recovery` });
        expect(await greedyGenerate(backend.newSession(64), e.prompt_ids, e.greedy_ids.length)).toEqual(e.greedy_ids);
        console.log(`[hybrid] ${name}: ${info.changes.join(' ')} -> ${backend.placement.gpu} GPU / ${backend.placement.cpu} CPU layers`);
      } finally {
        backend.dispose();
      }
    },
  );
});
