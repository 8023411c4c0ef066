import { describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/cpu/ops';
import { loadModelFolder } from '../../src/model/load';
import { nodeModelFiles } from '../../src/formats/node-files';
import { ModelSession, greedyGenerate } from '../../src/runtime/session';
import { MODEL_FIXTURES, fixtureDir, fixtureExpected, LOGITS_ATOL } from '../helpers/fixtures';
import { expectAllClose, maxAbsDiff } from '../helpers/compare';

describe.each(MODEL_FIXTURES)('CPU forward pass vs reference: %s', (name) => {
  const expected = fixtureExpected(name);
  const load = () => loadModelFolder(nodeModelFiles(fixtureDir(name)));

  it('prompt logits match at every position', async () => {
    const { config, weights } = await load();
    const ops = new CpuOps();
    const session = new ModelSession(ops, config, weights, 64);
    const logits = await ops.read(await session.append(expected.prompt_ids, 'all'));
    const V = config.vocabSize;
    let worst = 0;
    expected.prompt_logits.forEach((row, pos) => {
      const got = logits.subarray(pos * V, (pos + 1) * V);
      worst = Math.max(worst, maxAbsDiff(got, row));
      expectAllClose(got, row, { atol: LOGITS_ATOL, label: `${name} position ${pos}` });
    });
    console.log(`[cpu] ${name}: max |logit - reference| = ${worst.toExponential(2)}`);
  });

  it('greedy decoding reproduces greedy_ids', async () => {
    const { config, weights } = await load();
    const session = new ModelSession(new CpuOps(), config, weights, 64);
    const ids = await greedyGenerate(session, expected.prompt_ids, expected.greedy_ids.length);
    expect(ids).toEqual(expected.greedy_ids);
  });
});
