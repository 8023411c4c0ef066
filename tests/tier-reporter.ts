// Prints one closing line per run, "<tier>: N passed, N failed[, N skipped]", so logs (and CI)
// show the count of tests that really ran in each tier.
import type { Reporter, TestModule } from 'vitest/node';

export default class TierReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const perTier = new Map<string, { passed: number; failed: number; skipped: number }>();
    for (const mod of testModules) {
      const tier = mod.project.name || 'tests';
      const c = perTier.get(tier) ?? { passed: 0, failed: 0, skipped: 0 };
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') c.passed++;
        else if (state === 'failed') c.failed++;
        else c.skipped++;
      }
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) c.failed++;
      perTier.set(tier, c);
    }
    for (const [tier, c] of perTier) {
      console.log(`${tier}: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`);
    }
  }
}
