// The bounded fuzz run of `npm test` (issue #18): seeded structural and random mutations of every format,
// each loaded and asked for 3 tokens in a worker with a time and memory limit (tests/fuzz/harness.ts).
// About two minutes; ends with a "fuzz (bounded): PASS/FAIL" line. The long run: npm run fuzz -- --cases 10000.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatReport, runFuzz } from '../fuzz/harness';
import { FUZZ_FORMATS, isPendingTokenizerFix, MUTATIONS } from '../fuzz/mutations';

const ROOT = resolve(import.meta.dirname, '../..');
/** Every mutation of every format runs at least once (the plan gives each its turn first); about 2 minutes on 2 cores. */
const CASES = 7 * 600;
/** Stop starting cases after this long on a slow shared machine; whatever ran is still judged. */
const DEADLINE_MS = 110_000;

describe('fuzz suite (bounded run)', () => {
  it('every mutated file is a named error or a correct load: no death, hang, generic error or silent acceptance', { timeout: 300_000 }, async () => {
    const report = await runFuzz({ root: ROOT, cases: CASES, seed: 18, workers: 2, deadlineMs: DEADLINE_MS, skip: isPendingTokenizerFix });
    console.log(formatReport(report, 'fuzz (bounded)'));
    // The unmutated seeds load and answer: otherwise every "named" verdict would be the seed's own failure.
    const controls = report.results.filter((r) => MUTATIONS[r.spec.format][r.spec.mutation]!.name === 'none');
    expect(controls.length).toBeGreaterThanOrEqual(FUZZ_FORMATS.length);
    for (const c of controls) expect(c.verdict, c.label).toBe('accepted');
    expect(report.results.length).toBeGreaterThan(FUZZ_FORMATS.length * 10);
    expect(report.failures.map((f) => `${f.verdict} ${f.label}: ${f.detail}`)).toEqual([]);
  });
});
