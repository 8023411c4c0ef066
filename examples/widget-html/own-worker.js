// An engine worker made by the app itself from the library's worker entry (`glm-webgpu/worker`): the
// page passes it to createEngine({ worker: new Worker('./own-worker.js', { type: 'module' }) }).
// With a bundler: `import 'glm-webgpu/worker';` in a file started with
// `new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' })`.
import './node_modules/glm-webgpu/dist/lib/browser/worker.js';
