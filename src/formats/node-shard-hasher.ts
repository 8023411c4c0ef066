// Node-only: SHA-256 of local shard files on worker threads (issue #18), so that a package load reads
// its parts on the main thread while other cores hash the same files. Why not WebCrypto's digest() (what
// the generic path in package.ts uses): it copies its input into fresh memory first, and on this
// project's machines fresh memory is the expensive part (page faults cost more than hashing the page);
// why not node:crypto on the main thread: it would stop the reads while it runs. A worker reads the file
// itself in 4 MiB chunks into one reused buffer: no copy of the shard is ever held for the hash.
//
// The worker hashes a file by path, so it must be the file the loader opened: it compares the file's
// identity (device, inode, size, mtime, ctime; see shard-stamps.ts) before and after hashing with the
// identity the loader saw when it opened its handle, and reports a change instead of a hash.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { openSync, fstatSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const chunk = Buffer.allocUnsafe(4 << 20);
const identity = (s) => s.dev + ':' + s.ino + ':' + s.size + ':' + s.mtimeNs + ':' + s.ctimeNs;
parentPort.on('message', ({ id, file, expected }) => {
  let fd = -1;
  try {
    fd = openSync(file, 'r');
    if (identity(fstatSync(fd, { bigint: true })) !== expected) return parentPort.postMessage({ id, changed: true });
    const hash = createHash('sha256');
    for (let position = 0; ; ) {
      const n = readSync(fd, chunk, 0, chunk.length, position);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      position += n;
    }
    const same = identity(fstatSync(fd, { bigint: true })) === expected;
    parentPort.postMessage(same ? { id, sha256: hash.digest('hex') } : { id, changed: true });
  } catch (err) {
    // Gone from its path since the loader opened it (deleted, renamed away): that is a change too.
    if (err && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return parentPort.postMessage({ id, changed: true });
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
});
`;

/** What a worker found: the file's SHA-256, or that its identity was not (or did not stay) the expected one. */
export type HashResult = { sha256: string } | { changed: true };

interface Job {
  resolve(result: HashResult): void;
  reject(err: Error): void;
}

interface HashThread {
  worker: Worker;
  jobs: Map<number, Job>;
}

/** Workers beside the main thread, which reads the parts; more would only queue behind the disk. */
const MAX_THREADS = 4;
/** Idle workers are stopped after this long, so that a process that loaded once does not keep them. */
const IDLE_MS = 2000;

let threads: HashThread[] = [];
let nextId = 0;
let idleTimer: ReturnType<typeof setTimeout> | null = null;

function threadCount(): number {
  return Math.max(1, Math.min(MAX_THREADS, availableParallelism() - 1));
}

function spawn(): HashThread {
  const thread: HashThread = { worker: new Worker(WORKER_SOURCE, { eval: true, name: 'glm-shard-hash' }), jobs: new Map() };
  const fail = (err: Error) => {
    threads = threads.filter((t) => t !== thread);
    for (const job of thread.jobs.values()) job.reject(err);
    thread.jobs.clear();
  };
  thread.worker.on('message', (m: { id: number; sha256?: string; changed?: true; error?: string }) => {
    const job = thread.jobs.get(m.id);
    if (!job) return;
    thread.jobs.delete(m.id);
    if (m.error !== undefined) job.reject(new Error(`hashing a shard failed: ${m.error}`));
    else job.resolve(m.sha256 !== undefined ? { sha256: m.sha256 } : { changed: true });
    settle(thread);
  });
  thread.worker.on('error', (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
  thread.worker.on('exit', (code) => fail(new Error(`the shard hashing thread stopped (exit code ${code})`)));
  return thread;
}

/** A worker with work keeps the process alive (a load awaits it); an idle one does not, and is stopped soon. */
function settle(thread: HashThread): void {
  if (thread.jobs.size > 0) return;
  thread.worker.unref();
  if (threads.every((t) => t.jobs.size === 0)) {
    idleTimer ??= setTimeout(() => {
      idleTimer = null;
      if (threads.some((t) => t.jobs.size > 0)) return;
      const idle = threads;
      threads = [];
      for (const t of idle) void t.worker.terminate();
    }, IDLE_MS);
    idleTimer.unref();
  }
}

/** SHA-256 of the file at `file` on a worker thread, if its identity is `expected` from before the hash to after it. */
export function hashFileOnThread(file: string, expected: string): Promise<HashResult> {
  if (idleTimer) {
    clearTimeout(idleTimer);
    idleTimer = null;
  }
  // A new thread only when every running one is busy: one shard at a time per core.
  if (threads.length < threadCount() && threads.every((t) => t.jobs.size > 0)) threads.push(spawn());
  const thread = threads.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  const id = nextId++;
  thread.worker.ref();
  return new Promise<HashResult>((resolve, reject) => {
    thread.jobs.set(id, { resolve, reject });
    thread.worker.postMessage({ id, file, expected });
  });
}
