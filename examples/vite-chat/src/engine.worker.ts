// The engine worker made by the app itself (?worker=app): this file only imports the library's worker
// entry; Vite bundles it as a module worker because main.ts starts it with `new Worker(new URL(...))`.
import 'glm-webgpu/worker';
