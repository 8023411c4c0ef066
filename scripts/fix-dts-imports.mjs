// After `tsc -p tsconfig.build.json`: the sources import relative modules without an extension
// (moduleResolution "bundler"), and tsc copies those specifiers into dist/types as they are. TypeScript
// under "node16"/"nodenext" resolution needs the full file name, so add `.js` (or `/index.js` for a
// folder) to every relative specifier of the emitted declarations.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../dist/types');

function declarationFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? declarationFiles(path) : name.endsWith('.d.ts') ? [path] : [];
  });
}

const specifier = /((?:from|import)\s*\(?\s*['"])(\.{1,2}(?:\/[^'"]*)?)(['"])/g;
let changed = 0;
for (const file of declarationFiles(root)) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(specifier, (whole, head, spec, tail) => {
    if (/\.(js|mjs|cjs|json)$/.test(spec)) return whole;
    const target = resolve(dirname(file), spec);
    if (existsSync(`${target}.d.ts`)) return `${head}${spec}.js${tail}`;
    if (existsSync(join(target, 'index.d.ts'))) return `${head}${spec.replace(/\/$/, '')}/index.js${tail}`;
    throw new Error(`${file}: cannot resolve "${spec}" to a declaration file`);
  });
  if (fixed !== text) {
    writeFileSync(file, fixed);
    changed++;
  }
}
console.log(`dist/types: relative imports completed with .js in ${changed} files`);
