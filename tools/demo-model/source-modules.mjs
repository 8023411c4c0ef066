// The demo scripts run the project's TypeScript sources under Node without a build: Vite's SSR loader
// compiles each module on import. One place for that set-up and for reading the knowledge base.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `load('/src/x.ts')` imports a source module; `close()` ends the loader (call it before exiting). */
export async function sourceModules() {
  const server = await createServer({
    root: ROOT, configFile: false, logLevel: 'error', appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false }, optimizeDeps: { noDiscovery: true, include: [] },
  });
  return { load: (path) => server.ssrLoadModule(path), close: () => server.close() };
}

/** The WordNet knowledge base in `file`, parsed by the engine's own reader. */
export async function readKnowledgeBase(load, file) {
  const { parseWordNetKbBytes } = await load('/src/knowledge/wordnet.ts');
  return parseWordNetKbBytes(new Uint8Array(readFileSync(file)));
}
