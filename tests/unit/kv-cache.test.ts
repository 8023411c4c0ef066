import { describe, it } from 'vitest';
import { CpuOps } from '../../src/cpu/ops';
import { loadModelFolder } from '../../src/model/load';
import { nodeModelFiles } from '../../src/formats/node-files';
import { ModelSession } from '../../src/runtime/session';
import { MODEL_FIXTURES, fixtureDir, fixtureExpected } from '../helpers/fixtures';
import { expectAllClose } from '../helpers/compare';

// Decode with the cache and full recompute do the same float32 arithmetic in a different grouping
// only inside attention sums: they agree far below the reference tolerance.
const KV_RECOMPUTE_ATOL = 1e-5;

describe.each(MODEL_FIXTURES)('KV cache: token-by-token decode equals full recompute (%s)', (name) => {
  it('every position', async () => {
    const { config, weights } = await loadModelFolder(nodeModelFiles(fixtureDir(name)));
    const e = fixtureExpected(name);
    const sequence = [...e.prompt_ids, ...e.greedy_ids.slice(0, 6)];
    const ops = new CpuOps();
    const V = config.vocabSize;

    const full = new ModelSession(ops, config, weights, 64);
    const all = await ops.read(await full.append(sequence, 'all'));

    // Prefill the prompt in one call, then one token at a time through the cache.
    const stepwise = new ModelSession(ops, config, weights, 64);
    const prefill = await ops.read(await stepwise.append(e.prompt_ids, 'all'));
    expectAllClose(prefill, all.subarray(0, e.prompt_ids.length * V), { atol: KV_RECOMPUTE_ATOL, label: `${name} prefill` });
    for (let t = e.prompt_ids.length; t < sequence.length; t++) {
      const step = await ops.read(await stepwise.append([sequence[t]!], 'last'));
      expectAllClose(step, all.subarray(t * V, (t + 1) * V), { atol: KV_RECOMPUTE_ATOL, label: `${name} token ${t}` });
    }
  });
});
