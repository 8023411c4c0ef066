// The chat page's engine: createEngine() over the pages' worker (engine-worker.ts), which also reads
// packages from the IndexedDB cache. The widget bundles the same worker inline (widget/glm-chat.ts).
import { createEngine, type Engine } from '../../index';

export function createPageEngine(): Promise<Engine> {
  const worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'glm-webgpu-engine' });
  return createEngine({ worker });
}
