// Three test tiers, each a vitest project that also runs alone:
//   unit: plain Node.            npm run test:unit
//   gpu:  Node + Dawn (WebGPU).  npm run test:gpu   (SwiftShader here, a real GPU on the device machine)
//   e2e:  built pages in headless Chromium via playwright-core.  npm run test:e2e
//   pkg:  the packed tarball installed into fresh copies of examples/, built and run.  npm run test:pkg
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './tests/tier-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts', 'src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'gpu',
          include: ['tests/gpu/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/gpu/prerequisites.ts'],
          // SwiftShader is slow and single devices are shared badly between workers.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/e2e/prerequisites.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'pkg',
          include: ['tests/pkg/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/pkg/prerequisites.ts'],
          fileParallelism: false,
          testTimeout: 400_000,
          hookTimeout: 400_000,
        },
      },
    ],
  },
});
