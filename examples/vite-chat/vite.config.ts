import { defineConfig } from 'vite';

// Cross-origin isolation lets the engine's CPU fallback use worker threads (SharedArrayBuffer).
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // glm-webgpu starts its worker with `new Worker(new URL('./assets/engine-worker.js', import.meta.url))`:
  // keep it out of Vite's dependency pre-bundling so that URL stays next to the library in `vite dev`.
  optimizeDeps: { exclude: ['glm-webgpu'] },
  worker: { format: 'es' },
  server: { headers: isolation },
  preview: { headers: isolation },
});
