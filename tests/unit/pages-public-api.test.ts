// The project's pages (chat page, widget and their shared modules) are examples of the library: they
// import only from its public entry points (src/index.ts = `glm-webgpu`, src/worker/engine-worker.ts =
// `glm-webgpu/worker`), from each other, or from npm packages. Not covered: the benchmark page, which
// times kernels below the public API (GpuOps, weight layouts) on purpose, and the test pages used by
// the e2e tier (smoke, engine-test, loader-test).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');
const UI = join(SRC, 'ui');
const PAGES = ['chat', 'widget', 'shared'].map((d) => join(UI, d));
const PUBLIC_ENTRIES = [join(SRC, 'index.ts'), join(SRC, 'worker/engine-worker.ts')];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? tsFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier of a file: static imports and exports, dynamic import() and new URL(..., import.meta.url). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, /new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1]!);
  return found;
}

describe('pages use only the public API', () => {
  const files = PAGES.flatMap(tsFiles);

  it('finds the page modules', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('every import of the chat page, the widget and their shared modules is public, local to the pages, or an npm package', () => {
    const offenders: string[] = [];
    for (const file of files) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue; // an npm package
        const target = resolve(dirname(file), spec.replace(/\?.*$/, '')).replace(/\.ts$/, '');
        const isPage = PAGES.some((dir) => target.startsWith(`${dir}/`)) || target.startsWith(`${UI}/`);
        const isPublic = PUBLIC_ENTRIES.some((entry) => entry.replace(/\.ts$/, '') === target);
        if (!isPage && !isPublic) offenders.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
