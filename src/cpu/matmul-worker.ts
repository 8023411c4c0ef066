// Browser entry of a matmul thread: a module worker started by threads.ts (from the engine's worker,
// nested workers being allowed there). All the logic is matmulThreadRuntime, shared with the Node
// workers, which receive it as source text instead of loading this file.
import { matmulThreadRuntime } from './threads';

const scope = self as unknown as {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', handler: (event: MessageEvent) => void): void;
};

matmulThreadRuntime().serve({
  post: (message) => scope.postMessage(message),
  onMessage: (handler) => scope.addEventListener('message', (event) => handler(event.data)),
});
