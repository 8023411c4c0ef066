import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, run } from '../../src/cli/main';
import type { Plan } from '../../src/planner/planner';
import { GiB, MiB } from '../../src/planner/units';
import { fixtureDir } from '../helpers/fixtures';

describe('glm-webgpu plan', () => {
  let log: MockInstance<typeof console.log>;
  let error: MockInstance<typeof console.error>;
  let stderr: MockInstance<typeof process.stderr.write>;

  beforeEach(() => {
    log = vi.spyOn(console, 'log').mockImplementation(() => {});
    error = vi.spyOn(console, 'error').mockImplementation(() => {});
    // Commander writes usage errors straight to stderr.
    stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  const printed = () => log.mock.calls.map((c) => c.join(' ')).join('\n');
  const errors = () => [...error.mock.calls.map((c) => c.join(' ')), ...stderr.mock.calls.map((c) => String(c[0]))].join('\n');

  it('--json prints the plan for a preset', async () => {
    expect(await run(['plan', '--preset', 'glm-4-9b', '--gpu-budget', '4GiB', '--json'])).toBe(EXIT_OK);
    const plan = JSON.parse(printed()) as Plan;
    expect(plan.feasible).toBe(true);
    expect(plan.modelName).toBe('glm-4-9b');
    expect(plan.quant).toBe('q4');
    expect(plan.numLayers).toBe(40);
    expect(plan.layers).toHaveLength(40);
    expect(plan.layers.every((l) => (l.device === 'gpu' || l.device === 'cpu') && l.weightBytes > 0)).toBe(true);
    expect(plan.gpuLayerCount + plan.cpuBlock.count).toBe(40);
    expect(plan.totals.gpu.budgetBytes).toBe(4 * GiB);
    expect(plan.totals.gpu.totalBytes).toBeLessThanOrEqual(4 * GiB);
    expect(plan.totals.cpu.budgetBytes).toBe(8 * GiB); // the default CPU budget
    expect(plan.limits.maxStorageBufferBindingSize).toBe(128 * MiB); // the WebGPU default binding
    expect(plan.contextLength).toBe(4096);
    expect(plan.estimate.msPerToken).toBeGreaterThan(0);
    expect(plan.estimate.tokensPerSecond).toBeGreaterThan(0);
    expect(['gpu', 'cpu']).toContain(plan.lmHead);
    expect(plan.embedding).toBe('cpu');
    expect(Array.isArray(plan.splits)).toBe(true);
    expect(Array.isArray(plan.notes)).toBe(true);
  });

  it('passes quant, budgets, binding, context and shader-f16 through', async () => {
    const args = ['plan', '--preset', 'chatglm3-6b', '--quant', 'q8', '--gpu-budget', '24GiB', '--cpu-budget', '1.5GB'];
    expect(await run([...args, '--max-binding', '64MiB', '--context', '8192', '--shader-f16', '--json'])).toBe(EXIT_OK);
    const plan = JSON.parse(printed()) as Plan;
    expect(plan.quant).toBe('q8');
    expect(plan.totals.cpu.budgetBytes).toBe(1.5e9);
    expect(plan.limits.maxPartBytes).toBe(64 * MiB);
    expect(plan.contextLength).toBe(8192);
    expect(plan.kvCache.gpuF16).toBe(true);
    expect(plan.gpuLayerCount).toBe(28);
    expect(plan.splits.find((s) => s.path === 'lmHead')!.parts).toBeGreaterThan(1);
  });

  it('prints the table without --json', async () => {
    expect(await run(['plan', '--preset', 'glm-edge-1.5b', '--gpu-budget', '1GiB'])).toBe(EXIT_OK);
    const text = printed();
    expect(text).toMatch(/^glm-edge-1\.5b · q4 · 28 layers · context 4096/);
    expect(text).toMatch(/^GPU\s+\d+-\d+ \(\d+\)/m);
    expect(text).toMatch(/^CPU\s+/m);
    expect(text).toContain('ms/token');
    expect(text).toContain('tied to the embedding');
  });

  it('reads config.json from --model DIR', async () => {
    expect(await run(['plan', '--model', fixtureDir('thudm-glm4chat-tiny'), '--gpu-budget', '1GiB', '--json'])).toBe(EXIT_OK);
    const plan = JSON.parse(printed()) as Plan;
    expect(plan.family).toBe('chatglm2');
    expect(plan.numLayers).toBe(2);
    expect(plan.contextLength).toBe(512); // the fixture's seq_length caps the default 4096
  });

  it('a missing model folder is a runtime error (exit 1)', async () => {
    expect(await run(['plan', '--model', fixtureDir('no-such-model'), '--json'])).toBe(EXIT_ERROR);
    expect(errors()).toContain('MissingFileError');
  });

  it('an infeasible plan exits 1 with the numbers', async () => {
    expect(await run(['plan', '--preset', 'glm-4-9b', '--gpu-budget', '1GiB', '--cpu-budget', '2GiB'])).toBe(EXIT_ERROR);
    expect(errors()).toContain('PlanInfeasibleError');
    expect(errors()).toContain(`but has 1 GiB (${GiB} bytes)`);
    expect(errors()).toContain(`but has 2 GiB (${2 * GiB} bytes)`);
    expect(printed()).toBe('');
  });

  const usageErrors: [string, string[], RegExp][] = [
    ['an unknown preset', ['--preset', 'glm-5'], /Allowed choices are glm-4-9b/],
    ['both --model and --preset', ['--preset', 'glm-4-9b', '--model', '/tmp'], /exactly one of --model DIR or --preset NAME/],
    ['neither --model nor --preset', [], /exactly one of --model DIR or --preset NAME/],
    ['a bad byte size', ['--preset', 'glm-4-9b', '--gpu-budget', '4 gigs'], /is not a byte size/],
    ['a bad quant', ['--preset', 'glm-4-9b', '--quant', 'q3'], /Allowed choices are q4, q8, none/],
    ['a bad context', ['--preset', 'glm-4-9b', '--context', '-5'], /not a positive whole number of tokens/],
  ];
  for (const [what, args, message] of usageErrors) {
    it(`${what} is a usage error (exit 2)`, async () => {
      expect(await run(['plan', ...args])).toBe(EXIT_USAGE);
      expect(errors()).toMatch(message);
      expect(printed()).toBe('');
    });
  }
});
