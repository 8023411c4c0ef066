// Node has no engine worker: the engine runs in the calling thread (`#platform-engine-worker`, see ./types.ts).
export function createEngineWorker(): Worker | undefined {
  return undefined;
}
