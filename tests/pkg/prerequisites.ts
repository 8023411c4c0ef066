import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureChromium, MissingPrerequisiteError } from '../prereq';

// globalSetup for the pkg tier: Chromium for the browser examples, and a build to pack.
export default function setup(): void {
  ensureChromium();
  for (const file of ['dist/lib/browser/glm-webgpu.js', 'dist/lib/node/glm-webgpu.js', 'dist/types/index.d.ts', 'dist/cli/main.js', 'dist/web/glm-chat.js']) {
    const path = resolve(import.meta.dirname, '../..', file);
    if (!existsSync(path)) throw new MissingPrerequisiteError(`${path} is missing: run \`npm run build\` first (npm test does it in its e2e step).`);
  }
}
