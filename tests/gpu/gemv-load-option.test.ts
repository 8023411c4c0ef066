// The load option of the decode GEMV's arithmetic (issue #17): LoadOptions.gemv reaches the GpuOps of a
// plain GPU load and of a planned (hybrid-capable) one, and a q4 model decodes the same greedy ids
// either way on a fixture (the int8 activations move its logits by a few 1e-2: README, "Integer decode GEMV").
import { afterAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { nodeModelFiles } from '../../src/formats/node-files';
import { loadBackend } from '../../src/runtime/backend';
import { setGpuContextFactory } from '../../src/runtime/gpu-backend';
import { greedyGenerate } from '../../src/runtime/session';
import { fixtureDir, fixtureExpected } from '../helpers/fixtures';

const NAME = 'hf-glm4-tiny';

afterAll(() => setGpuContextFactory(null));

describe('LoadOptions.gemv', () => {
  it('picks the decode GEMV arithmetic of plain and planned GPU loads (default int8 where WGSL has it)', async () => {
    const ctx = await testGpu();
    setGpuContextFactory(async () => ctx);
    const e = fixtureExpected(NAME);
    const ids: Record<string, number[]> = {};
    for (const [gemv, planned] of [[undefined, false], ['float', false], ['int8', true], ['float', true]] as const) {
      const backend = await loadBackend(nodeModelFiles(fixtureDir(NAME)), {
        backend: 'gpu', quant: 'q4', contextLength: 64, ...(planned ? { gpuBudget: 2 ** 30 } : {}), ...(gemv ? { gemv } : {}),
      });
      try {
        expect((backend.describe() as { gemv: string }).gemv).toBe(gemv ?? 'int8');
        ids[`${gemv}/${planned}`] = await greedyGenerate(backend.newSession(64), e.prompt_ids, 4);
      } finally {
        backend.dispose();
      }
    }
    expect(ids['float/false']).toEqual(ids['float/true']);
    expect(ids['undefined/false']).toEqual(ids['int8/true']);
    expect(ids['int8/true']).toEqual(ids['float/true']);
  });
});
