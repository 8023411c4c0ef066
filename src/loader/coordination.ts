// Coordination between the tabs and workers of one origin that share the model cache:
//   - a lock per model (Web Locks API): one context downloads a model at a time, so two tabs opening
//     the same model fetch each shard once (the second finds the files stored when it gets the lock),
//     and deleting a model waits until its download has stopped before it removes the entries;
//   - a broadcast channel: "model <id> is being deleted" reaches every download of it, in any tab,
//     which then stops instead of writing the model back as complete.
// Runtimes without these APIs (Node, old browsers) get process-local stand-ins, which coordinate the
// downloads of one process (and serve as the fakes of the unit tests).

export interface LockManagerLike {
  request<T>(name: string, options: { mode?: 'exclusive' | 'shared'; signal?: AbortSignal; ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

export type CacheMessage = { type: 'deleting'; id: string };

export interface CacheBus {
  post(message: CacheMessage): void;
  /** Calls `listener` for messages posted by any context (this one included); returns the unsubscribe. */
  subscribe(listener: (message: CacheMessage) => void): () => void;
}

export const BUS_NAME = 'glm-webgpu-cache';
export const modelLockName = (id: string) => `glm-webgpu-cache:model:${id}`;
export const MIGRATION_LOCK = 'glm-webgpu-cache:migrate';

/** A lock manager for one process: exclusive FIFO locks by name, abortable while waiting. */
export function memoryLocks(): LockManagerLike {
  // Per name, the promise that resolves when the last requester (holding or waiting) lets go.
  const tails = new Map<string, Promise<void>>();
  return {
    async request<T>(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<T>): Promise<T> {
      const previous = tails.get(name) ?? Promise.resolve();
      let release!: () => void;
      const tail = previous.then(() => new Promise<void>((r) => (release = r)));
      tails.set(name, tail);
      void tail.then(() => {
        if (tails.get(name) === tail) tails.delete(name);
      });
      const signal = options.signal;
      try {
        await new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason);
          const onAbort = () => reject(signal!.reason);
          signal?.addEventListener('abort', onAbort, { once: true });
          void previous.then(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          });
        });
        return await callback({ name });
      } finally {
        // Also after an abort while waiting: the next requester then follows the previous one directly.
        void previous.then(() => release());
      }
    },
  };
}

/** A bus for one process (every subscriber of this object gets every message). */
export function memoryBus(): CacheBus {
  const listeners = new Set<(m: CacheMessage) => void>();
  return {
    post(message) {
      // Asynchronous like BroadcastChannel, so a poster never runs listeners inside its own call.
      for (const l of [...listeners]) queueMicrotask(() => l(message));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** BroadcastChannel across the origin's tabs and workers. A channel object never hears its own posts, so the bus also delivers locally. */
function broadcastBus(): CacheBus {
  const local = memoryBus();
  return {
    post(message) {
      local.post(message);
      const ch = new BroadcastChannel(BUS_NAME);
      ch.postMessage(message);
      ch.close();
    },
    subscribe(listener) {
      const ch = new BroadcastChannel(BUS_NAME);
      ch.onmessage = (e: MessageEvent) => listener(e.data as CacheMessage);
      const off = local.subscribe(listener);
      return () => {
        off();
        ch.close();
      };
    },
  };
}

let processLocks: LockManagerLike | null = null;
let processBus: CacheBus | null = null;

/** navigator.locks where there is one, else one lock manager for the whole process. */
export function defaultLocks(): LockManagerLike {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  if (nav?.locks) return nav.locks;
  return (processLocks ??= memoryLocks());
}

/** BroadcastChannel in pages and workers; under Node (no other tabs) one bus for the process. */
export function defaultBus(): CacheBus {
  const g = globalThis as { document?: unknown; WorkerGlobalScope?: unknown };
  const browser = g.document !== undefined || g.WorkerGlobalScope !== undefined;
  return (processBus ??= browser && typeof BroadcastChannel !== 'undefined' ? broadcastBus() : memoryBus());
}
