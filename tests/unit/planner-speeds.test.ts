// Issue #16: the planner with measured speeds (planner/speeds.ts): fixed costs per op and per token enter
// the estimate, Auto then picks the CPU when the GPU is slower (a software adapter), `only` restricts the
// placement to one device, and the estimate has a start-of-chat decode rate and a prefill rate.
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../src/model/presets';
import { HEAD_OPS, opsPerLayer, planPlacement, START_CONTEXT_TOKENS, type PlanInput } from '../../src/planner/planner';
import { bandwidthOf, CALIBRATION_VERSION, cpuThreadingOf, describeCalibration, type Calibration } from '../../src/planner/speeds';
import { tensorSizes } from '../../src/planner/sizes';
import { GiB } from '../../src/planner/units';

const config = PRESETS['glm-edge-1.5b'];
const base: PlanInput = {
  config,
  sizes: tensorSizes(config, 'q4'),
  device: { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 1 * GiB, features: [] },
  budgets: { gpuBytes: 8 * GiB, cpuBytes: 8 * GiB },
  contextLength: 4096,
};

/** A software adapter as calibrated on SwiftShader (a few MB/s through the GEMV, ms per dispatch). */
const SOFTWARE: Calibration = {
  version: CALIBRATION_VERSION,
  gpu: { bytesPerSec: 5e6, opSec: 2e-3, tokenSec: 16e-3, attentionSec: 2e-8, sampleSec: 3e-8, prefillBytesPerSec: null, adapter: 'google · swiftshader' },
  cpu: { bytesPerSec: 1.5e9, opSec: 1.5e-4, attentionSec: 3e-9, prefillBytesPerSec: 1.8e9, minParallelGroups: null, kernels: 'wasm-simd, 1 thread' },
  tookMs: 2500,
  measuredAt: '2026-12-07T03:46:00.000Z',
};

describe('planner with measured speeds', () => {
  it('without measurements: the GPU, as before', () => {
    const plan = planPlacement(base);
    expect(plan.gpuLayerCount).toBe(config.numLayers);
    expect(plan.estimate.basis).toMatch(/assumed/);
    expect(plan.estimate.prefillTokensPerSecond).toBeNull();
  });

  it('a software adapter slower than the CPU: Auto puts everything on the CPU', () => {
    const plan = planPlacement({ ...base, bandwidth: bandwidthOf(SOFTWARE), speedBasis: describeCalibration(SOFTWARE) });
    expect(plan.gpuLayerCount).toBe(0);
    expect(plan.lmHead).toBe('cpu');
    expect(plan.totals.gpu.totalBytes).toBe(0);
    // CPU time: weights over the CPU rate plus every op's fixed cost.
    const ops = config.numLayers * opsPerLayer(config) + HEAD_OPS;
    const atStart = plan.totals.cpu.weightBytes; // all weights on the CPU (the embedding is one row a token)
    expect(plan.estimate.tokensPerSecondAtStart).toBeLessThan(1 / (ops * SOFTWARE.cpu.opSec));
    expect(atStart).toBeGreaterThan(0);
    expect(plan.estimate.prefillTokensPerSecond).not.toBeNull();
    expect(plan.estimate.basis).toMatch(/measured on this machine/);
  });

  it('only: the estimate of one device, whatever is faster', () => {
    const bandwidth = bandwidthOf(SOFTWARE);
    const gpu = planPlacement({ ...base, bandwidth, only: 'gpu' });
    const cpu = planPlacement({ ...base, bandwidth, only: 'cpu' });
    expect(gpu.gpuLayerCount).toBe(config.numLayers);
    expect(gpu.lmHead).toBe('gpu');
    expect(cpu.gpuLayerCount).toBe(0);
    expect(cpu.estimate.tokensPerSecondAtStart).toBeGreaterThan(10 * gpu.estimate.tokensPerSecondAtStart);
    // No GPU prefill rate was measured: no prefill estimate for the GPU plan.
    expect(gpu.estimate.prefillTokensPerSecond).toBeNull();
  });

  it('the start-of-chat estimate is at a short context, so it is never slower than the full-context one', () => {
    const plan = planPlacement({ ...base, bandwidth: bandwidthOf(SOFTWARE) });
    expect(plan.estimate.startContextLength).toBe(START_CONTEXT_TOKENS);
    expect(plan.estimate.tokensPerSecondAtStart).toBeGreaterThan(plan.estimate.tokensPerSecond);
    // A context shorter than START_CONTEXT_TOKENS: the estimate is at the whole context.
    const short = planPlacement({ ...base, contextLength: 32, bandwidth: bandwidthOf(SOFTWARE) });
    expect(short.estimate.startContextLength).toBe(32);
  });

  it("the attention's cost per context token enters the estimate: each layer, head and dim, per cached position", () => {
    const bandwidth = bandwidthOf(SOFTWARE);
    const without = planPlacement({ ...base, bandwidth: { ...bandwidth, cpuAttentionSec: 0 }, only: 'cpu' });
    const withAttention = planPlacement({ ...base, bandwidth, only: 'cpu' });
    const attention = config.numLayers * config.numHeads * config.headDim * START_CONTEXT_TOKENS * SOFTWARE.cpu.attentionSec;
    expect(1 / withAttention.estimate.tokensPerSecondAtStart - 1 / without.estimate.tokensPerSecondAtStart).toBeCloseTo(attention, 9);
    const full = 1 / withAttention.estimate.tokensPerSecond - 1 / without.estimate.tokensPerSecond;
    expect(full).toBeCloseTo(config.numLayers * config.numHeads * config.headDim * base.contextLength * SOFTWARE.cpu.attentionSec, 9);
    expect(() => planPlacement({ ...base, bandwidth: { cpuAttentionSec: -1 } })).toThrow(/cpuAttentionSec must be >= 0/);
  });

  it("a head on the GPU pays the sampler's cost per vocabulary entry; a CPU head does not", () => {
    const bandwidth = bandwidthOf(SOFTWARE);
    const gpu = planPlacement({ ...base, bandwidth, only: 'gpu' });
    const gpuNoSampler = planPlacement({ ...base, bandwidth: { ...bandwidth, gpuSampleSec: 0 }, only: 'gpu' });
    const sampler = 1 / gpu.estimate.tokensPerSecondAtStart - 1 / gpuNoSampler.estimate.tokensPerSecondAtStart;
    expect(sampler).toBeCloseTo(config.vocabSize * SOFTWARE.gpu!.sampleSec, 9);
    const cpu = planPlacement({ ...base, bandwidth, only: 'cpu' });
    const cpuNoSampler = planPlacement({ ...base, bandwidth: { ...bandwidth, gpuSampleSec: 0 }, only: 'cpu' });
    expect(cpu.estimate.tokensPerSecondAtStart).toBe(cpuNoSampler.estimate.tokensPerSecondAtStart);
  });

  it('fixed costs must be finite and >= 0', () => {
    expect(() => planPlacement({ ...base, bandwidth: { cpuOpSec: -1 } })).toThrow(/cpuOpSec must be >= 0/);
    expect(() => planPlacement({ ...base, bandwidth: { gpuBytesPerSec: 0 } })).toThrow(/gpuBytesPerSec must be positive/);
  });

  it('the CPU threading it measured goes to the runtime: a threshold, Infinity for never, nothing from an old calibration', () => {
    expect(cpuThreadingOf(SOFTWARE)).toEqual({ cpuMinParallelGroups: Infinity });
    expect(cpuThreadingOf({ ...SOFTWARE, cpu: { ...SOFTWARE.cpu, minParallelGroups: 65536 } })).toEqual({ cpuMinParallelGroups: 65536 });
    const { minParallelGroups: _, ...old } = SOFTWARE.cpu;
    expect(cpuThreadingOf({ ...SOFTWARE, cpu: old as Calibration['cpu'] })).toEqual({});
  });
});
