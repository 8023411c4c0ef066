// The long fuzz run: bundles tests/fuzz/cli.ts with rolldown (vite's bundler) and runs it.
//   npm run fuzz -- --cases 10000 [--seed 1] [--workers 2] [--formats safetensors,gguf] [--replay LABEL]
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'rolldown';

const root = resolve(import.meta.dirname, '..');
// Inside node_modules so the bundle resolves the packages it leaves external (rolldown).
mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
const out = join(mkdtempSync(join(root, 'node_modules/.cache/glm-fuzz-')), 'cli.mjs');
await build({
  input: join(root, 'tests/fuzz/cli.ts'),
  platform: 'node',
  logLevel: 'silent',
  external: ['webgpu', 'rolldown', /^node:/],
  output: { file: out, format: 'esm', codeSplitting: false },
});
process.env.GLM_FUZZ_ROOT = root;
await import(pathToFileURL(out).href);
