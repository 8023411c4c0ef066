import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureChromium, MissingPrerequisiteError } from '../prereq';

// globalSetup for the e2e tier: Chromium must be installed and the pages built.
export default function setup(): void {
  ensureChromium();
  const page = resolve(import.meta.dirname, '../../dist/web/smoke.html');
  if (!existsSync(page)) {
    throw new MissingPrerequisiteError(`The pages are not built (${page} is missing). Run \`npm run build\` first (npm run test:e2e does).`);
  }
}
