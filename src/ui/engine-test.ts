// Test page: puts the public client API on window so e2e tests can drive the worker engine.
import { createEngine } from '../worker/client';

declare global {
  interface Window {
    glm: { createEngine: typeof createEngine; ready: boolean };
  }
}

window.glm = { createEngine, ready: true };
document.getElementById('log')!.textContent = 'ready';
