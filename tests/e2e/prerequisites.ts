import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureChromium, MissingPrerequisiteError } from '../prereq';

// globalSetup for the e2e tier: Chromium must be installed, the pages built (dist/web) and the test pages
// built beside them (dist/test-pages).
export default function setup(): void {
  ensureChromium();
  const dist = resolve(import.meta.dirname, '../../dist');
  const needed = [
    { file: resolve(dist, 'web/index.html'), build: 'npm run build' },
    { file: resolve(dist, 'test-pages/smoke.html'), build: 'npm run build:test-pages' },
  ];
  for (const { file, build } of needed) {
    if (!existsSync(file)) {
      throw new MissingPrerequisiteError(`The pages are not built (${file} is missing). Run \`${build}\` first (npm run test:e2e runs both builds).`);
    }
  }
}
