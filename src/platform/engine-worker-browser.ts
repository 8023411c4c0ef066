// Starts the engine's Web Worker in browsers (`#platform-engine-worker`, see ./types.ts for why this is
// apart from browser.ts). `new Worker(new URL(literal, import.meta.url))` is the one form that Vite,
// webpack 5, Rollup plugins and plain ES modules on a static host all understand, so the worker file
// travels with the library wherever it is bundled or copied.
export function createEngineWorker(): Worker | undefined {
  if (typeof Worker === 'undefined') return undefined;
  return new Worker(new URL('../worker/engine-worker.ts', import.meta.url), { type: 'module', name: 'glm-webgpu-engine' });
}
