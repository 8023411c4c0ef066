// The forward pass (src/model/glm.ts, unchanged) on GpuOps against the reference fixtures, the KV-cache
// decode against a full recompute, and Q4 weights on the GPU against the same Q4 weights on the CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps } from '../../src/cpu/ops';
import { nodeModelFiles } from '../../src/formats/node-files';
import { GpuOps } from '../../src/gpu/ops';
import type { GpuWeight } from '../../src/gpu/tensor';
import { loadModelFolder, type LoadedModel } from '../../src/model/load';
import { quantizeModelWeights } from '../../src/model/quantize-weights';
import type { HostWeight } from '../../src/model/weights';
import type { ModelWeights } from '../../src/model/weights-types';
import { ModelSession, greedyGenerate } from '../../src/runtime/session';
import { expectAllClose, maxAbsDiff } from '../helpers/compare';
import { gemvTwin } from '../helpers/gemv-modes';
import { LOGITS_ATOL, MODEL_FIXTURES, fixtureDir, fixtureExpected } from '../helpers/fixtures';

/**
 * Decoding with the KV cache and recomputing the whole sequence run the same kernels on the same
 * values, only split differently into steps (GEMV vs GEMM, more or fewer keys per attention call):
 * the results differ by f32 summation order alone.
 */
const DECODE_VS_RECOMPUTE_ATOL = 1e-4;
/** GPU vs CPU on the same Q4 weights: the same bound as against the float32 reference. */
const Q4_GPU_VS_CPU_ATOL = LOGITS_ATOL;
const CAPACITY = 64;

let ops: GpuOps;

beforeAll(async () => {
  ops = new GpuOps(await testGpu());
});

afterAll(() => ops?.dispose());

describe.each(MODEL_FIXTURES)('GPU forward pass: %s', (name) => {
  const expected = fixtureExpected(name);
  let host: LoadedModel<HostWeight>;
  let weights: ModelWeights<GpuWeight>;

  beforeAll(async () => {
    host = await loadModelFolder(nodeModelFiles(fixtureDir(name)));
    weights = await ops.uploadWeights(host.weights);
  });

  afterAll(() => {
    if (weights) ops.releaseWeights(weights);
  });

  it('prompt logits match the reference at every position', async () => {
    const session = new ModelSession(ops, host.config, weights, CAPACITY);
    const logits = await ops.read(await session.append(expected.prompt_ids, 'all'));
    const V = host.config.vocabSize;
    let worst = 0;
    expected.prompt_logits.forEach((row, pos) => {
      const got = logits.subarray(pos * V, (pos + 1) * V);
      worst = Math.max(worst, maxAbsDiff(got, row));
      expectAllClose(got, row, { atol: LOGITS_ATOL, label: `${name} position ${pos}` });
    });
    console.log(`[gpu] ${name}: max |logit - reference| = ${worst.toExponential(2)}; ${ops.stats().dispatches} dispatches in the prefill step`);
  });

  it('greedy decoding reproduces greedy_ids', async () => {
    const session = new ModelSession(ops, host.config, weights, CAPACITY);
    const ids = await greedyGenerate(session, expected.prompt_ids, expected.greedy_ids.length);
    expect(ids).toEqual(expected.greedy_ids);
  });

  it('decoding token by token with the KV cache equals a full recompute', async () => {
    const sequence = [...expected.prompt_ids, ...expected.greedy_ids];
    const V = host.config.vocabSize;
    const recompute = await ops.read(await new ModelSession(ops, host.config, weights, CAPACITY).append(sequence, 'all'));
    const session = new ModelSession(ops, host.config, weights, CAPACITY);
    const first = await ops.read(await session.append(expected.prompt_ids, 'last'));
    const P = expected.prompt_ids.length;
    expectAllClose(first, recompute.subarray((P - 1) * V, P * V), { atol: DECODE_VS_RECOMPUTE_ATOL, label: `${name} prefill last row` });
    for (let i = P; i < sequence.length; i++) {
      const step = await ops.read(await session.append([sequence[i]!], 'last'));
      expectAllClose(step, recompute.subarray(i * V, (i + 1) * V), { atol: DECODE_VS_RECOMPUTE_ATOL, label: `${name} decode position ${i}` });
    }
  });

  it('Q4 weights: GPU and CPU agree on logits and greedy ids', async () => {
    const q4 = quantizeModelWeights(host.weights, 'q4');
    const gq4 = await ops.uploadWeights(q4);
    try {
      // Q4 weights through matmulQuant, the GPU kernels' CPU twin; with the int8 decode GEMV (the default
      // where WGSL has dot4I8Packed), its one-token matmuls through the int8 twin (src/cpu/gemv-int8.ts).
      const cpu = gemvTwin(ops.gemv);
      const cpuSession = new ModelSession(cpu, host.config, q4, CAPACITY);
      const gpuSession = new ModelSession(ops, host.config, gq4, CAPACITY);
      const want = await cpu.read(await cpuSession.append(expected.prompt_ids, 'all'));
      const got = await ops.read(await gpuSession.append(expected.prompt_ids, 'all'));
      expectAllClose(got, want, { atol: Q4_GPU_VS_CPU_ATOL, label: `${name} q4 GPU vs CPU prompt logits` });
      const reference = Float32Array.from(expected.prompt_logits.flat());
      console.log(
        `[gpu] ${name}: q4 vs float32 reference max |logit error| = ${maxAbsDiff(got, reference).toExponential(2)} ` +
          `(q4 GPU vs q4 CPU ${maxAbsDiff(got, want).toExponential(2)})`,
      );
      // One decode step (n = 1: the decode GEMV, int8 or float): against the twin, and its change from the float arithmetic.
      const next = [expected.greedy_ids[0]!];
      const gpuStep = await ops.read(await gpuSession.append(next, 'last'));
      const cpuStep = await cpu.read(await cpuSession.append(next, 'last'));
      expectAllClose(gpuStep, cpuStep, { atol: Q4_GPU_VS_CPU_ATOL, label: `${name} q4 GPU vs CPU decode-step logits (gemv ${ops.gemv})` });
      const floatCpu = new CpuOps();
      const floatSession = new ModelSession(floatCpu, host.config, q4, CAPACITY);
      await floatSession.append(expected.prompt_ids, 'last');
      const floatStep = await floatCpu.read(await floatSession.append(next, 'last'));
      console.log(`[gpu] ${name}: decode-step logits, gemv ${ops.gemv} GPU vs float CPU twin: max |diff| = ${maxAbsDiff(gpuStep, floatStep).toExponential(2)}`);
      const steps = expected.greedy_ids.length;
      const cpuIds = await greedyGenerate(new ModelSession(cpu, host.config, q4, CAPACITY), expected.prompt_ids, steps);
      const gpuIds = await greedyGenerate(new ModelSession(ops, host.config, gq4, CAPACITY), expected.prompt_ids, steps);
      expect(gpuIds).toEqual(cpuIds);
    } finally {
      ops.releaseWeights(gq4);
    }
  });
});
