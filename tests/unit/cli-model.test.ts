import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { MODEL_FIXTURES, fixtureDir, fixtureExpected, LOGITS_ATOL } from '../helpers/fixtures';
import { expectAllClose } from '../helpers/compare';

describe.each(MODEL_FIXTURES)('CLI on the fixture folder %s (cpu)', (name) => {
  const expected = fixtureExpected(name);
  const ids = expected.prompt_ids.join(',');

  it('logits matches prompt_logits at every position', async () => {
    const { code, stdout, stderr } = await runCli(['logits', '--model', fixtureDir(name), '--ids', ids, '--backend', 'cpu']);
    expect(code, stderr).toBe(0);
    const { logits } = JSON.parse(stdout) as { logits: number[][] };
    expect(logits.length).toBe(expected.prompt_ids.length);
    logits.forEach((row, pos) => expectAllClose(row, expected.prompt_logits[pos]!, { atol: LOGITS_ATOL, label: `${name} position ${pos}` }));
  });

  it('generate --temperature 0 reproduces greedy_ids', async () => {
    const n = String(expected.greedy_ids.length);
    const { code, stdout, stderr } = await runCli(['generate', '--model', fixtureDir(name), '--ids', ids, '--max-new-tokens', n, '--temperature', '0', '--json', '--backend', 'cpu']);
    expect(code, stderr).toBe(0);
    const out = JSON.parse(stdout) as { ids: number[]; stats: Record<string, unknown> };
    expect(out.ids).toEqual(expected.greedy_ids);
    expect(out.stats.newTokens).toBe(expected.greedy_ids.length);
  });
});

describe('CLI argument errors exit with code 2 and a usage message', () => {
  const model = fixtureDir('hf-glm-tiny');
  // (logits without --model is no error since issue #16: it runs the embedded demo model, cli-first.test.ts)
  it.each([
    [['logits', '--model', model]],
    [['logits', '--model', model, '--ids', '1,x']],
    [['logits', '--model', model, '--ids', '1,2', '--backend', 'tpu']],
    [['logits', '--model', model, '--ids', '1,2', '--quant', 'q3']],
    [['generate', '--model', model, '--ids', '1,2', '--max-new-tokens', '-1']],
    [['logits', '--model', model, '--ids', '1,99999']],
  ])('%j', async (args) => {
    const { code, stderr } = await runCli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/error|usage|not|outside/i);
  });

  it('a missing model folder is a runtime error (exit 1) that names the folder', async () => {
    const { code, stderr } = await runCli(['logits', '--model', '/nonexistent/model', '--ids', '1,2']);
    expect(code).toBe(1);
    expect(stderr).toContain('MissingFileError');
    expect(stderr).toContain('/nonexistent/model');
  });
});
