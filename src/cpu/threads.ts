// Threads for the CPU matmul: the output rows of one call are shared between the calling thread and
// N-1 workers over the same wasm memories (WebAssembly.Memory({ shared: true })).
//
// Why synchronous: `FastMatmul.matmul` is synchronous like the rest of CpuOps, so the calling thread
// publishes a job in a small control SharedArrayBuffer, wakes the workers with Atomics.notify, works on
// the job itself, then blocks in Atomics.wait until the job is complete. That needs a thread that may
// block: Node's main thread or a dedicated worker (the engine's worker in browsers), never a page's
// main thread. Workers idle in Atomics.wait too, so a job starts without an event-loop round trip.
//
// Rows are handed out in blocks (about 16 per thread) that each thread claims with a compare-exchange
// on one counter, rather than one fixed slice per thread: when a worker is descheduled (a browser tab
// or a laptop is never idle; this machine is shared) the other threads take its blocks, and the caller
// waits only for blocks someone actually claimed, never for a worker that did not get to run. The
// counter carries the job's sequence tag, so a worker that wakes after its job was finished (and
// maybe replaced by the next one) fails its claim instead of working on a job it read halfway.
//
// A worker only receives WebAssembly.Memory objects by postMessage, which it reads from its event loop.
// When the caller adds an arena (fast-matmul.ts grows past one 4 GiB memory) it posts the memory, then
// issues the YIELD command: each worker leaves its wait loop, its event loop delivers the message, it
// instantiates the kernels over the new memory, counts itself done and goes back to waiting. That one
// waits for every worker, since a worker without the new arena's kernels could not take its blocks.
//
// The workers are started from source text (`matmulThreadRuntime.toString()`): worker_threads under
// Node, module workers from a Blob URL in browsers (nested workers are allowed in dedicated workers).
// So there is no worker file to locate: it works the same from vitest, the bundled CLI, an app's
// bundler, a CDN folder and the one-file widget (code coverage instrumentation would break it: it
// injects counters the worker does not have). See src/platform/ for the two ways to start one.
import { GlmError } from '../errors';
import { platform } from '#platform';
import type { MatmulThreadHandle } from '../platform/types';

/** A matmul worker failed, stopped answering, or could not start. */
export class MatmulThreadError extends GlmError {
  override name = 'MatmulThreadError';
}

/** Kernel export names, indexed by MatmulJob.fn. */
export const KERNEL_NAMES = ['q4_vec', 'q4_mat', 'q8_vec', 'q8_mat', 'q4m_vec', 'q4m_mat'] as const;

/** One call of a kernel over rows [0, rows) of a weight chunk, shared out in blocks of rows. */
export interface MatmulJob {
  /** Index into KERNEL_NAMES. */
  fn: number;
  /** Index of the memory (arena) the pointers refer to. */
  arena: number;
  rows: number;
  /** gpr w s m x out outStride n nb accBase accStride: the kernel's arguments, with the acc region given per thread. */
  args: readonly number[];
}

type Kernel = (...args: number[]) => void;
export type KernelExports = Record<(typeof KERNEL_NAMES)[number], Kernel> & {
  init(): void;
  prep_x(src: number, n: number, cols: number, gpr: number, q8: number, dst: number): void;
};

/** The message side of a worker, the same shape for worker_threads and Web Workers. */
export interface ThreadPort {
  post(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
}

/**
 * Everything a matmul thread runs, and the job runner the calling thread shares with it.
 * Self-contained on purpose (no imports, no outer variables): under Node it is shipped to the worker
 * as source text. Type annotations are erased by every TS transform, so the text stays plain JS.
 */
export function matmulThreadRuntime() {
  // Control block layout (Int32Array over a SharedArrayBuffer).
  const WORD = 0; // (command sequence << 2) | command: one word, so a worker reads both consistently
  const NEXT = 1; // (job tag << 12) | next unclaimed block
  const DONE = 2; // RUN: finished blocks; YIELD: workers that took the new memory
  const ERR = 3; // 0, or 1 + index of the first thread that failed
  const FN = 4;
  const ARENA = 5;
  const ROWS = 6;
  const BLOCK_ROWS = 7;
  const BLOCKS = 8;
  const ARGS = 9; // 11 arguments, through 19
  const MSG_LEN = 24;
  const MSG = 32; // error text, one UTF-16 unit per slot
  const MSG_MAX = 224;
  const SIZE = MSG + MSG_MAX;
  const RUN = 1;
  const YIELD = 2;
  const EXIT = 3;
  const MAX_BLOCKS = 4095; // 12 bits of NEXT; the tag keeps the other 19
  const TAG_MASK = 0x7ffff;
  const NAMES = ['q4_vec', 'q4_mat', 'q8_vec', 'q8_mat', 'q4m_vec', 'q4m_mat']; // = KERNEL_NAMES

  /**
   * Claims and computes blocks of the job tagged `tag` until none is left. Thread t uses its own
   * accumulator region (accBase + t * accStride). Parameters are read before the first claim; a
   * successful claim proves they were the job's (the caller rewrites them only after closing the
   * counter to the old tag, and only once every block of the old job has finished).
   */
  function runBlocks(ctrl: Int32Array, arenas: readonly Record<string, unknown>[], t: number, tag: number): void {
    const L = (i: number) => Atomics.load(ctrl, i);
    const rows = L(ROWS);
    const blockRows = L(BLOCK_ROWS);
    const blocks = L(BLOCKS);
    const exports = arenas[L(ARENA)];
    const kernel = exports?.[NAMES[L(FN)]!] as ((...a: number[]) => void) | undefined;
    const a = ARGS;
    const args = [L(a), L(a + 1), L(a + 2), L(a + 3), L(a + 4), L(a + 5), L(a + 6), L(a + 7), L(a + 8), (L(a + 9) + t * L(a + 10)) | 0];
    for (;;) {
      const cur = Atomics.load(ctrl, NEXT);
      if (cur >>> 12 !== tag) return;
      const block = cur & 0xfff;
      if (block >= blocks) return;
      if (Atomics.compareExchange(ctrl, NEXT, cur, cur + 1) !== cur) continue;
      try {
        if (kernel === undefined) throw new Error(`matmul thread ${t}: no kernel ${L(FN)} for arena ${L(ARENA)}`);
        const r0 = block * blockRows;
        kernel(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5]!, args[6]!, args[7]!, args[8]!, args[9]!, r0, Math.min(rows, r0 + blockRows));
      } catch (err) {
        recordError(ctrl, t, err);
      }
      Atomics.add(ctrl, DONE, 1);
      Atomics.notify(ctrl, DONE);
    }
  }

  /** Records the first failure's text in the control block (the caller is blocked and cannot read messages). */
  function recordError(ctrl: Int32Array, t: number, err: unknown): void {
    if (Atomics.compareExchange(ctrl, ERR, 0, t + 1) !== 0) return;
    const text = String(err instanceof Error ? `${err.name}: ${err.message}` : err).slice(0, MSG_MAX);
    for (let i = 0; i < text.length; i++) ctrl[MSG + i] = text.charCodeAt(i);
    Atomics.store(ctrl, MSG_LEN, text.length);
  }

  function errorText(ctrl: Int32Array): string {
    let text = '';
    for (let i = 0; i < Atomics.load(ctrl, MSG_LEN); i++) text += String.fromCharCode(ctrl[MSG + i]!);
    return text;
  }

  /** The worker side: instantiate the kernels for each memory, then serve commands until EXIT. */
  function serve(port: { post(message: unknown): void; onMessage(handler: (message: unknown) => void): void }): void {
    let ctrl: Int32Array = new Int32Array(new SharedArrayBuffer(0));
    let index = 0;
    let seen = 0;
    let module: WebAssembly.Module | undefined;
    const arenas: Record<string, unknown>[] = [];
    const instantiate = (memory: WebAssembly.Memory) => {
      arenas.push(new WebAssembly.Instance(module!, { env: { memory } }).exports as Record<string, unknown>);
    };
    // Blocks this worker until a command arrives; returns to the event loop only for YIELD and EXIT.
    const loop = () => {
      for (;;) {
        Atomics.wait(ctrl, WORD, seen);
        const word = Atomics.load(ctrl, WORD);
        if (word === seen) continue;
        seen = word;
        const cmd = word & 3;
        if (cmd === RUN) runBlocks(ctrl, arenas, index, (word >>> 2) & TAG_MASK);
        else if (cmd === YIELD) return; // the queued 'arena' message is handled next; its handler counts done
        else if (cmd === EXIT) return;
      }
    };
    port.onMessage((raw) => {
      const msg = raw as {
        type: string; module?: WebAssembly.Module; ctrl?: SharedArrayBuffer; index?: number; memories?: WebAssembly.Memory[]; memory?: WebAssembly.Memory;
      };
      if (msg.type === 'init') {
        try {
          module = msg.module;
          ctrl = new Int32Array(msg.ctrl!);
          index = msg.index!;
          for (const memory of msg.memories!) instantiate(memory);
          seen = Atomics.load(ctrl, WORD);
        } catch (err) {
          port.post({ type: 'error', message: String(err instanceof Error ? err.message : err) });
          return;
        }
        port.post({ type: 'ready' });
        loop();
      } else if (msg.type === 'arena') {
        try {
          instantiate(msg.memory!);
        } catch (err) {
          recordError(ctrl, index, err);
        }
        Atomics.add(ctrl, DONE, 1);
        Atomics.notify(ctrl, DONE);
        loop();
      }
    });
  }

  return {
    runBlocks,
    serve,
    errorText,
    layout: { WORD, NEXT, DONE, ERR, FN, ARENA, ROWS, BLOCK_ROWS, BLOCKS, ARGS, SIZE, RUN, YIELD, EXIT, MAX_BLOCKS, TAG_MASK },
  };
}

type Runtime = ReturnType<typeof matmulThreadRuntime>;

/** Whether this thread can run the threaded path, and why not when it cannot. */
export function threadSupport(): { supported: boolean; reason?: string } {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') {
    return { supported: false, reason: 'SharedArrayBuffer is unavailable (the page is not cross-origin isolated: serve it with COOP/COEP headers)' };
  }
  if (platform.name === 'node') return { supported: true };
  const g = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown; document?: unknown };
  if (g.crossOriginIsolated !== true) return { supported: false, reason: 'the page is not cross-origin isolated (COOP/COEP headers missing)' };
  // Atomics.wait throws on a page's main thread; the engine runs in a dedicated worker, where it works.
  if (g.WorkerGlobalScope === undefined || g.document !== undefined) {
    return { supported: false, reason: 'blocking waits are not allowed on a page main thread (run the engine in its worker)' };
  }
  if (typeof Worker === 'undefined') return { supported: false, reason: 'this worker cannot start nested workers' };
  return { supported: true };
}

/** Hardware threads of this machine (0 when unknown). */
export function hardwareThreads(): Promise<number> {
  return platform.hardwareThreads();
}

type ThreadHandle = MatmulThreadHandle;

/** One worker running matmulThreadRuntime, started from its source text by the platform. */
function spawnThread(): Promise<ThreadHandle> {
  return platform.spawnMatmulThread(matmulThreadRuntime.toString());
}

export interface ThreadPoolOptions {
  /** Threads including the calling one (>= 2). */
  threads: number;
  module: WebAssembly.Module;
  /** The arenas' memories so far (shared). */
  memories: readonly WebAssembly.Memory[];
  /** How long the caller waits for the workers after finishing its own share (default 120 s). */
  timeoutMs?: number;
  /** How long worker start-up may take (default 30 s). */
  startTimeoutMs?: number;
  /**
   * false: the calling thread only waits and the workers take every block. For tests, which
   * otherwise cannot be sure a worker computed anything (the caller may finish a small job first).
   */
  callerTakesBlocks?: boolean;
}

/** N-1 workers plus the calling thread over shared wasm memories. */
export class MatmulThreadPool {
  readonly threads: number;
  private readonly runtime: Runtime = matmulThreadRuntime();
  private readonly ctrl: Int32Array;
  private readonly timeoutMs: number;
  private seq = 0;
  private broken: string | undefined;

  private constructor(
    private readonly workers: ThreadHandle[],
    ctrl: SharedArrayBuffer,
    timeoutMs: number,
    private readonly callerTakesBlocks: boolean,
  ) {
    this.threads = workers.length + 1;
    this.ctrl = new Int32Array(ctrl);
    this.timeoutMs = timeoutMs;
  }

  static async create(opts: ThreadPoolOptions): Promise<MatmulThreadPool> {
    const { threads, module, memories, timeoutMs = 120_000, startTimeoutMs = 30_000, callerTakesBlocks = true } = opts;
    if (!Number.isInteger(threads) || threads < 2) throw new MatmulThreadError(`a thread pool needs at least 2 threads, got ${threads}`);
    const runtime = matmulThreadRuntime();
    const ctrlBuffer = new SharedArrayBuffer(runtime.layout.SIZE * 4);
    const workers: ThreadHandle[] = [];
    try {
      for (let i = 1; i < threads; i++) workers.push(await spawnThread());
      await Promise.all(
        workers.map(
          (worker, i) =>
            new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new MatmulThreadError(`matmul worker ${i + 1} did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
              worker.onMessage((m) => {
                const msg = m as { type: string; message?: string };
                if (msg.type === 'ready') {
                  clearTimeout(timer);
                  resolve();
                } else if (msg.type === 'error') {
                  clearTimeout(timer);
                  reject(new MatmulThreadError(`matmul worker ${i + 1} failed to start: ${msg.message}`));
                }
              });
              worker.onError((message) => {
                clearTimeout(timer);
                reject(new MatmulThreadError(`matmul worker ${i + 1} failed: ${message}`));
              });
              worker.post({ type: 'init', module, ctrl: ctrlBuffer, index: i + 1, memories: [...memories] });
            }),
        ),
      );
    } catch (err) {
      for (const w of workers) w.terminate();
      throw err;
    }
    // Only now: an unref'd worker would not keep the process alive while we await its 'ready'.
    for (const w of workers) w.unref();
    return new MatmulThreadPool(workers, ctrlBuffer, timeoutMs, callerTakesBlocks);
  }

  /** Why the pool stopped working (a worker failed or timed out), or undefined while healthy. */
  get failure(): string | undefined {
    return this.broken;
  }

  /** Hands a new arena's memory to every worker; returns when all of them can use it. */
  addMemory(memory: WebAssembly.Memory): void {
    this.ensureHealthy();
    const { layout } = this.runtime;
    for (const w of this.workers) w.post({ type: 'arena', memory });
    Atomics.store(this.ctrl, layout.DONE, 0);
    Atomics.store(this.ctrl, layout.ERR, 0);
    this.publish(layout.YIELD);
    this.waitDone(this.workers.length, 'instantiating the kernels over a new memory');
    this.throwIfFailed();
  }

  /** Runs a job on all threads; the calling thread takes blocks too, with `arenas` (its own instances). */
  run(job: MatmulJob, arenas: readonly KernelExports[]): void {
    this.ensureHealthy();
    const { layout } = this.runtime;
    const ctrl = this.ctrl;
    // About 16 blocks per thread: fine enough that a late thread's blocks are taken by the others,
    // coarse enough that claiming (one compare-exchange) costs nothing next to a block.
    const blockRows = Math.max(1, Math.ceil(job.rows / (this.threads * 16)), Math.ceil(job.rows / layout.MAX_BLOCKS));
    const blocks = Math.ceil(job.rows / blockRows);
    const tag = (this.seq + 1) & layout.TAG_MASK;
    // Close the counter to the previous job's stragglers before touching the parameters they may read.
    Atomics.store(ctrl, layout.NEXT, tag << 12);
    Atomics.store(ctrl, layout.FN, job.fn);
    Atomics.store(ctrl, layout.ARENA, job.arena);
    Atomics.store(ctrl, layout.ROWS, job.rows);
    Atomics.store(ctrl, layout.BLOCK_ROWS, blockRows);
    Atomics.store(ctrl, layout.BLOCKS, blocks);
    for (let i = 0; i < 11; i++) Atomics.store(ctrl, layout.ARGS + i, job.args[i]! | 0);
    Atomics.store(ctrl, layout.DONE, 0);
    Atomics.store(ctrl, layout.ERR, 0);
    this.publish(layout.RUN);
    if (this.callerTakesBlocks) this.runtime.runBlocks(ctrl, arenas as unknown as Record<string, unknown>[], 0, tag);
    this.waitDone(blocks, `running ${KERNEL_NAMES[job.fn]} over ${job.rows} rows`);
    this.throwIfFailed();
  }

  dispose(): void {
    if (this.broken === undefined) {
      this.broken = 'disposed';
      this.publish(this.runtime.layout.EXIT);
    }
    for (const w of this.workers) w.terminate();
  }

  private publish(cmd: number): void {
    this.seq = (this.seq + 1) & 0x1fffffff;
    Atomics.store(this.ctrl, this.runtime.layout.WORD, (this.seq << 2) | cmd);
    Atomics.notify(this.ctrl, this.runtime.layout.WORD);
  }

  private waitDone(expected: number, what: string): void {
    const { DONE } = this.runtime.layout;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      const done = Atomics.load(this.ctrl, DONE);
      if (done >= expected) return;
      const left = deadline - performance.now();
      if (left <= 0) {
        this.broken = `matmul workers did not finish ${what} within ${this.timeoutMs} ms (${done} of ${expected} done)`;
        for (const w of this.workers) w.terminate();
        throw new MatmulThreadError(this.broken);
      }
      Atomics.wait(this.ctrl, DONE, done, Math.min(left, 1000));
    }
  }

  private throwIfFailed(): void {
    const err = Atomics.load(this.ctrl, this.runtime.layout.ERR);
    if (err !== 0) throw new MatmulThreadError(`matmul thread ${err - 1} failed: ${this.runtime.errorText(this.ctrl)}`);
  }

  private ensureHealthy(): void {
    if (this.broken !== undefined) throw new MatmulThreadError(`the matmul thread pool is unusable: ${this.broken}`);
  }
}
