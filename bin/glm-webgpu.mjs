#!/usr/bin/env node
// Thin launcher: the CLI is bundled by `npm run build` into dist/cli/main.js.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('glm-webgpu: the CLI is not built yet. Run `npm run build` in the glm-webgpu folder first.');
  process.exit(1);
}
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv.slice(2));
