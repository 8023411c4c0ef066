// The fast CPU matmul for Q4/Q8 weights: WebAssembly SIMD kernels (wasm/quant-matmul.wat) over the
// engine's packed layout, optionally split across threads (threads.ts). Layers the planner puts on the
// CPU call it through CpuOps; matmulQuant (quant-matmul.ts) stays the reference twin and the fallback
// where WebAssembly SIMD is missing.
//
// Memory model
// - Wasm code can only read its own linear memory, so each weight tensor is copied once, byte for byte
//   (no repacking), into wasm memory the first time it is used (or by upload()); a WeakMap from the
//   tensor object to its placement makes later calls free. Tensors must not change after that.
//   The copy is extra host memory while the caller keeps its own arrays; a caller that only uses this
//   path may drop them, but must keep the tensor object (the cache key).
// - Memory comes in arenas: one WebAssembly.Memory each (shared when threaded), at most 4 GiB (the
//   wasm32 limit; `arenaBytes` lowers it). Layout: [f16 -> f32 table, 256 KiB]
//   [scratch][weights...].
//   The scratch region (16 MiB by default) holds one call's activations (raw and prepared), outputs
//   and per-thread accumulators; a call with more activation rows than fit is processed in slices of rows.
// - Weights are appended (bump allocation, never freed before dispose()). A tensor that does not fit
//   in the current arena opens a new one; a tensor larger than a whole arena is split by rows into
//   chunks over several arenas, each chunk computed separately. So the CPU share may exceed 4 GiB,
//   and one tensor may too. The memories grow page by page as weights arrive.
// - Threads: the calling thread and the workers each instantiate the kernels over every arena; a new
//   arena is handed to the workers as it is created (MatmulThreadPool.addMemory).
// - Failures to grow a memory (the browser's or the OS's limit) throw CpuOutOfMemoryError, so the
//   planner can re-plan with a smaller CPU share instead of crashing.
import { GlmError, InvalidArgumentError } from '../errors';
import { validateQuantTensor, type QuantizedTensor } from '../quant/types';
import { matmulQuant } from './quant-matmul';
import { KERNEL_NAMES, MatmulThreadPool, hardwareThreads, threadSupport, type KernelExports } from './threads';
import { QUANT_MATMUL_WASM_SHARED, QUANT_MATMUL_WASM_UNSHARED } from './wasm/quant-matmul.wasm';

/** Growing a wasm memory failed, or a single weight row is larger than an arena can hold. */
export class CpuOutOfMemoryError extends GlmError {
  override name = 'CpuOutOfMemoryError';
}

/** `backend: 'wasm-simd'` was requested where WebAssembly SIMD is not available. */
export class WasmSimdUnavailableError extends GlmError {
  override name = 'WasmSimdUnavailableError';
}

export interface FastMatmulOptions {
  /** 'auto' (default): WASM SIMD when supported, else the plain TS path. 'ts' forces the TS path. */
  backend?: 'auto' | 'wasm-simd' | 'ts';
  /**
   * Threads including the calling one. Default: the machine's hardware threads, at most 8 (the
   * kernels are bound by memory bandwidth, which a few cores saturate). Falls back to 1 where
   * threads are unsupported (see threadSupport()).
   */
  threads?: number;
  /** Largest size of one wasm memory, bytes (default and maximum 4 GiB). Lower it to test chunking. */
  arenaBytes?: number;
  /** Scratch bytes per arena (default 16 MiB, at most an eighth of arenaBytes). */
  scratchBytes?: number;
  /** Calls with fewer (activation rows x weight groups) than this run on the calling thread alone. */
  minParallelGroups?: number;
  /** How long the caller waits for workers before declaring the pool broken (default 120 s). */
  threadTimeoutMs?: number;
  /** Tests only: false leaves every block of a threaded call to the workers (see ThreadPoolOptions). */
  callerTakesBlocks?: boolean;
}

export interface FastMatmul {
  readonly backend: 'wasm-simd' | 'ts';
  /** Threads a call may use, the calling one included. */
  readonly threads: number;
  /** For logs: backend, threads and, when threads were wanted but are off, why. */
  readonly description: string;
  /**
   * Calls with fewer (activation rows x weight groups) than this run on the calling thread alone;
   * Infinity: every call does. Writable: the calibration (runtime/calibration.ts) measures where the
   * workers start to pay on this machine and the runtime sets it from that.
   */
  minParallelGroups: number;
  /** y = x · Wᵀ (+ bias): x is [n, cols] row-major, W is [rows, cols] quantized; y is [n, rows]. */
  matmul(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float32Array<ArrayBuffer>;
  /** Copies a tensor into wasm memory now instead of at its first matmul (no-op on the TS path). */
  upload(w: QuantizedTensor): void;
  /** Bytes of wasm memory held (all arenas), 0 on the TS path. */
  memoryBytes(): number;
  /** Stops the workers and drops the memories; the object is unusable afterwards. */
  dispose(): void;
}

const PAGE = 65536;
/** 65536 pages: the wasm32 limit, and the maximum the module's memory import declares. */
export const WASM32_MAX_BYTES = 65536 * PAGE;
/** The module's own region: the f16 -> f32 table (256 KiB, quant-matmul.wat). */
const RESERVED_BYTES = 262144;
const MiB = 1024 * 1024;
const DEFAULT_SCRATCH_BYTES = 16 * MiB;
const DEFAULT_MAX_THREADS = 8;
/**
 * Calls below 64K groups (2M weights, about 1.1 MiB of Q4) run on the calling thread: waking a
 * worker costs 10-30 us (more on a loaded machine), and measured at 16K groups (512x1024, about
 * 110 us with the float kernels that preceded the integer ones, which are about twice as fast) two
 * threads were no faster than one. Every GLM projection is far above this.
 */
const DEFAULT_MIN_PARALLEL_GROUPS = 65536;
/**
 * Prefill (n > 1): activation rows that share one pass over the weights, so each group is decoded
 * once per tile rather than once per row. Measured on 4096- and 13696-column weights: 8 rows per pass
 * beat 2, 4 and 16, even when the 8 prepared rows (then 490 KiB, now up to 330 KiB) exceed L2, since
 * the weights stream anyway; fewer only for much wider rows. (Measured with the float kernels that
 * preceded the integer ones.)
 */
const TILE_X_BYTES = 512 * 1024;
const MAX_TILE = 8;
/**
 * A prepared activation group (quant-matmul.wat): 32 int16 values, four i32 offset corrections, its
 * scale and its sum.
 */
const PREP_GROUP_BYTES = 96;
/** Bytes of one accumulator slot in the *_mat kernels: an f32x4 and an f32. */
const ACC_SLOT_BYTES = 20;
/** The *_vec kernels' accumulators: four rows' f32x4, then four f32 min sums (quant-matmul.wat). */
const VEC_ACC_BYTES = 80;

const align16 = (v: number) => Math.ceil(v / 16) * 16;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let unsharedBytes: Uint8Array<ArrayBuffer> | undefined;
let sharedBytes: Uint8Array<ArrayBuffer> | undefined;
function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  if (shared) return (sharedBytes ??= decodeBase64(QUANT_MATMUL_WASM_SHARED));
  return (unsharedBytes ??= decodeBase64(QUANT_MATMUL_WASM_UNSHARED));
}

/** Whether this runtime compiles our SIMD module (validate() answers without compiling code). */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function' && WebAssembly.validate(moduleBytes(false));
}

/** One wasm memory and the calling thread's kernels over it. */
class Arena {
  readonly memory: WebAssembly.Memory;
  readonly exports: KernelExports;
  readonly maxBytes: number;
  readonly scratch: number;
  readonly scratchBytes: number;
  private top: number;

  constructor(
    readonly index: number,
    module: WebAssembly.Module,
    shared: boolean,
    maxBytes: number,
    scratchBytes: number,
  ) {
    const initialPages = Math.ceil((RESERVED_BYTES + scratchBytes) / PAGE);
    let maxPages = Math.floor(maxBytes / PAGE);
    // A shared memory reserves its maximum up front; where the address space refuses 4 GiB (32-bit
    // browsers), settle for less rather than losing the fast path.
    let memory: WebAssembly.Memory | undefined;
    for (;;) {
      try {
        memory = new WebAssembly.Memory({ initial: initialPages, maximum: maxPages, shared } as WebAssembly.MemoryDescriptor);
        break;
      } catch (err) {
        if (!(err instanceof RangeError) || maxPages <= initialPages * 2) {
          throw new CpuOutOfMemoryError(`could not create a ${(initialPages * PAGE) / MiB} MiB wasm memory for the CPU matmul: ${String(err)}`, { cause: err });
        }
        maxPages = Math.floor(maxPages / 2);
      }
    }
    this.memory = memory;
    this.maxBytes = maxPages * PAGE;
    this.exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
    this.exports.init();
    this.scratch = RESERVED_BYTES;
    this.scratchBytes = scratchBytes;
    this.top = RESERVED_BYTES + scratchBytes;
  }

  /** Bytes still free for weights. */
  get room(): number {
    return this.maxBytes - this.top;
  }

  /** A 16-byte-aligned region of `bytes`, growing the memory; undefined when the arena is full. */
  alloc(bytes: number): number | undefined {
    const ptr = align16(this.top);
    const end = ptr + bytes;
    if (end > this.maxBytes) return undefined;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (err) {
        throw new CpuOutOfMemoryError(
          `growing the CPU matmul's wasm memory from ${(have / MiB).toFixed(0)} MiB to ${(end / MiB).toFixed(0)} MiB failed ` +
            `(the browser or the OS refused the memory): put fewer layers on the CPU`,
          { cause: err },
        );
      }
    }
    this.top = end;
    return ptr;
  }

  copyIn(ptr: number, src: ArrayBufferView, byteOffset: number, byteLength: number): void {
    new Uint8Array(this.memory.buffer, ptr, byteLength).set(new Uint8Array(src.buffer, src.byteOffset + byteOffset, byteLength));
  }
}

/** Rows [row0, row0 + rows) of a tensor, resident in one arena. */
interface Chunk {
  arena: Arena;
  row0: number;
  rows: number;
  /** Addresses of the chunk's codes, scales and mins (0 when symmetric). */
  w: number;
  s: number;
  m: number;
}

interface Placement {
  q8: boolean;
  rows: number;
  cols: number;
  gpr: number;
  chunks: Chunk[];
}

function checkCall(x: Float32Array, n: number, w: QuantizedTensor, bias: Float32Array | undefined): void {
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`matmul: n must be a non-negative integer, got ${n}`);
  if (x.length !== n * w.cols) {
    throw new InvalidArgumentError(`matmul: x must be [n=${n}, cols=${w.cols}], expected length ${n * w.cols}, got ${x.length}`);
  }
  if (bias !== undefined && bias.length !== w.rows) {
    throw new InvalidArgumentError(`matmul: bias must have rows=${w.rows} elements, got ${bias.length}`);
  }
}

class TsFastMatmul implements FastMatmul {
  readonly backend = 'ts' as const;
  readonly threads = 1;
  minParallelGroups = Infinity;
  constructor(readonly description: string) {}
  matmul(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float32Array<ArrayBuffer> {
    return matmulQuant(x, n, w, bias);
  }
  upload(w: QuantizedTensor): void {
    validateQuantTensor(w);
  }
  memoryBytes(): number {
    return 0;
  }
  dispose(): void {}
}

class WasmFastMatmul implements FastMatmul {
  readonly backend = 'wasm-simd' as const;
  private readonly arenas: Arena[] = [];
  private readonly placements = new WeakMap<QuantizedTensor, Placement>();
  private disposed = false;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly shared: boolean,
    private readonly arenaBytes: number,
    private readonly scratchBytes: number,
    public minParallelGroups: number,
    private pool: MatmulThreadPool | undefined,
    first: Arena,
    private readonly threadNote: string,
  ) {
    this.arenas.push(first);
  }

  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  get description(): string {
    const t = this.threads;
    // Workers held but never woken (the calibration found one thread faster here): say so.
    const note = this.threadNote || (t > 1 && !Number.isFinite(this.minParallelGroups) ? 'each call on one: the workers did not pay here' : '');
    return `wasm-simd, ${t} thread${t === 1 ? '' : 's'}${note ? ` (${note})` : ''}`;
  }

  memoryBytes(): number {
    return this.arenas.reduce((sum, a) => sum + a.memory.buffer.byteLength, 0);
  }

  dispose(): void {
    this.disposed = true;
    this.pool?.dispose();
    this.pool = undefined;
    this.arenas.length = 0;
  }

  upload(w: QuantizedTensor): void {
    // QX (GGUF K-quants) has no WASM kernel yet: it runs through the TypeScript loop (matmulQuant).
    if (w.dtype === 'qx') validateQuantTensor(w);
    else this.placementOf(w);
  }

  matmul(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float32Array<ArrayBuffer> {
    if (this.disposed) throw new InvalidArgumentError('matmul: this FastMatmul was disposed');
    if (w.dtype === 'qx') return matmulQuant(x, n, w, bias);
    checkCall(x, n, w, bias);
    const p = this.placementOf(w);
    const y = new Float32Array(n * p.rows);
    if (n > 0) for (const chunk of p.chunks) this.runChunk(x, n, p, chunk, y);
    if (bias !== undefined) {
      for (let i = 0; i < n; i++) {
        const o = i * p.rows;
        for (let r = 0; r < p.rows; r++) y[o + r] = y[o + r]! + bias[r]!;
      }
    }
    return y;
  }

  private placementOf(w: QuantizedTensor): Placement {
    if (this.disposed) throw new InvalidArgumentError('upload: this FastMatmul was disposed');
    let p = this.placements.get(w);
    if (p === undefined) {
      p = this.place(w);
      this.placements.set(w, p);
    }
    return p;
  }

  private newArena(): Arena {
    const arena = new Arena(this.arenas.length, this.module, this.shared, this.arenaBytes, this.scratchBytes);
    if (this.pool !== undefined) {
      try {
        this.pool.addMemory(arena.memory);
      } catch {
        // The workers are gone (pool.failure says why); keep going on this thread alone.
        this.pool.dispose();
        this.pool = undefined;
      }
    }
    this.arenas.push(arena);
    return arena;
  }

  private place(t: QuantizedTensor): Placement {
    validateQuantTensor(t);
    if (t.dtype === 'qx') throw new InvalidArgumentError('the WASM matmul has no QX kernel; QX runs through matmulQuant');
    const q8 = t.dtype === 'q8';
    const gpr = t.groupsPerRow;
    const mins = t.dtype === 'q4' ? t.mins : undefined;
    const codeRowBytes = gpr * (q8 ? 32 : 16);
    const halfRowBytes = gpr * 2; // one f16 per group
    const rowBytes = codeRowBytes + halfRowBytes * (mins ? 2 : 1);
    const fits = (a: Arena) => Math.max(0, Math.floor((a.room - 48) / rowBytes)); // 48: alignment of 3 regions

    let arena = this.arenas[this.arenas.length - 1]!;
    // Prefer a tensor whole in one arena: start a new one unless the current one holds it.
    if (fits(arena) < t.rows && arena.room < arena.maxBytes - RESERVED_BYTES - arena.scratchBytes) arena = this.newArena();
    const chunks: Chunk[] = [];
    for (let row0 = 0; row0 < t.rows; ) {
      let count = Math.min(t.rows - row0, fits(arena));
      if (count === 0) {
        arena = this.newArena();
        count = Math.min(t.rows - row0, fits(arena));
        if (count === 0) {
          throw new CpuOutOfMemoryError(
            `one row of a ${t.dtype} [${t.rows}, ${t.cols}] tensor needs ${rowBytes} bytes, more than a wasm memory of ${arena.maxBytes} bytes holds`,
          );
        }
      }
      const w = arena.alloc(count * codeRowBytes)!;
      arena.copyIn(w, t.packed, row0 * codeRowBytes, count * codeRowBytes);
      // Scales (and mins) are u16 per group in order, so a row range is a byte range even when it
      // starts in the high half of a word.
      const s = arena.alloc(count * halfRowBytes)!;
      arena.copyIn(s, t.scales, row0 * halfRowBytes, count * halfRowBytes);
      let m = 0;
      if (mins) {
        m = arena.alloc(count * halfRowBytes)!;
        arena.copyIn(m, mins, row0 * halfRowBytes, count * halfRowBytes);
      }
      chunks.push({ arena, row0, rows: count, w, s, m });
      row0 += count;
    }
    return { q8, rows: t.rows, cols: t.cols, gpr, chunks };
  }

  private runChunk(x: Float32Array, n: number, p: Placement, c: Chunk, y: Float32Array): void {
    const { gpr, cols } = p;
    const arena = c.arena;
    const maxThreads = this.pool?.threads ?? 1;
    const tile = Math.max(1, Math.min(MAX_TILE, Math.floor(TILE_X_BYTES / (gpr * PREP_GROUP_BYTES))));
    // Each thread's accumulators on their own cache lines (128 B: x86 fetches lines in pairs): the
    // kernels update them for every group, and sharing a line between threads serialises them.
    const accStride = Math.ceil(Math.max(tile * ACC_SLOT_BYTES, VEC_ACC_BYTES) / 128) * 128;
    const accBytes = accStride * maxThreads;
    // Per activation row: raw x, prepared x, outputs (+16 alignment slack each).
    const perRow = cols * 4 + gpr * PREP_GROUP_BYTES + c.rows * 4;
    const slice = Math.floor((arena.scratchBytes - accBytes - 192) / (perRow + 64));
    if (slice < 1) {
      throw new CpuOutOfMemoryError(
        `one activation row of a [${p.rows}, ${cols}] matmul needs ${perRow + accBytes} bytes of scratch, more than the ${arena.scratchBytes} configured`,
      );
    }
    const ex = arena.exports;
    for (let i0 = 0; i0 < n; i0 += slice) {
      const cnt = Math.min(slice, n - i0);
      const xRaw = arena.scratch;
      const xPrep = align16(xRaw + cnt * cols * 4);
      const out = align16(xPrep + cnt * gpr * PREP_GROUP_BYTES);
      const acc = Math.ceil((out + cnt * c.rows * 4) / 128) * 128;
      const buffer = arena.memory.buffer;
      new Float32Array(buffer, xRaw, cnt * cols).set(x.subarray(i0 * cols, (i0 + cnt) * cols));
      ex.prep_x(xRaw, cnt, cols, gpr, p.q8 ? 1 : 0, xPrep);

      // *_vec for decode, *_mat (one weight pass per tile of rows) for prefill. Both give the same bits
      // for a row (see the .wat), so slicing the rows here changes nothing in the results.
      const fn = (p.q8 ? 2 : c.m !== 0 ? 4 : 0) + (n > 1 ? 1 : 0);
      const nb = Math.min(tile, cnt);
      const pool = this.pool;
      if (pool !== undefined && cnt * c.rows * gpr >= this.minParallelGroups) {
        pool.run({ fn, arena: arena.index, rows: c.rows, args: [gpr, c.w, c.s, c.m, xPrep, out, c.rows, cnt, nb, acc, accStride] }, this.kernelsByArena());
      } else {
        ex[KERNEL_NAMES[fn]!](gpr, c.w, c.s, c.m, xPrep, out, c.rows, cnt, nb, acc, 0, c.rows);
      }
      const result = new Float32Array(buffer, out, cnt * c.rows);
      if (c.rows === p.rows) y.set(result, i0 * p.rows);
      else for (let k = 0; k < cnt; k++) y.set(result.subarray(k * c.rows, (k + 1) * c.rows), (i0 + k) * p.rows + c.row0);
    }
  }

  private kernelsByArena(): KernelExports[] {
    return this.arenas.map((a) => a.exports);
  }
}

function isWasmRefused(err: unknown): boolean {
  return (typeof WebAssembly === 'object' && err instanceof WebAssembly.CompileError) || (err instanceof Error && (err.name === 'CompileError' || err.name === 'EvalError'));
}

function wasmRefusedReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /Content[ -]Security[ -]Policy|unsafe-eval|wasm-eval/i.test(message)
    ? "WebAssembly refused by the page's Content-Security-Policy; add 'wasm-unsafe-eval' to script-src for the faster kernels"
    : `WebAssembly compilation failed: ${message}`;
}

/**
 * The fast CPU matmul for this runtime: WASM SIMD (threaded where possible) or the plain TS path
 * (also where WebAssembly may not be compiled: a strict Content-Security-Policy).
 * Async because the worker threads start asynchronously; every call after that is synchronous.
 */
export async function createFastMatmul(opts: FastMatmulOptions = {}): Promise<FastMatmul> {
  const backend = opts.backend ?? 'auto';
  if (backend === 'ts') return new TsFastMatmul('ts (forced)');
  if (!wasmSimdSupported()) {
    if (backend === 'wasm-simd') throw new WasmSimdUnavailableError('this runtime has no WebAssembly SIMD (update the browser or Node)');
    return new TsFastMatmul('ts (no WebAssembly SIMD here)');
  }

  const arenaBytes = Math.min(opts.arenaBytes ?? WASM32_MAX_BYTES, WASM32_MAX_BYTES);
  const scratchBytes = align16(opts.scratchBytes ?? Math.min(DEFAULT_SCRATCH_BYTES, Math.floor(arenaBytes / 8)));
  if (!(arenaBytes >= RESERVED_BYTES + scratchBytes + PAGE)) {
    throw new InvalidArgumentError(`arenaBytes ${arenaBytes} is too small: the table and scratch alone take ${RESERVED_BYTES + scratchBytes} bytes`);
  }
  let threads = opts.threads ?? Math.min(DEFAULT_MAX_THREADS, Math.max(1, await hardwareThreads()));
  if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer, got ${threads}`);
  let threadNote = '';
  if (threads > 1) {
    const support = threadSupport();
    if (!support.supported) {
      threadNote = `threads off: ${support.reason}`;
      threads = 1;
    } else if (!WebAssembly.validate(moduleBytes(true))) {
      threadNote = 'threads off: this runtime has no shared wasm memory';
      threads = 1;
    }
  }
  const shared = threads > 1;
  let module: WebAssembly.Module;
  let first: Arena;
  try {
    module = await WebAssembly.compile(moduleBytes(shared));
    first = new Arena(0, module, shared, arenaBytes, scratchBytes);
  } catch (err) {
    // A page whose Content-Security-Policy lacks 'wasm-unsafe-eval' refuses to compile any module
    // (CompileError, or EvalError in some engines): run the plain TS kernels and say why.
    if (!isWasmRefused(err) || backend === 'wasm-simd') throw err;
    return new TsFastMatmul(`ts (${wasmRefusedReason(err)})`);
  }
  let pool: MatmulThreadPool | undefined;
  if (shared) {
    try {
      pool = await MatmulThreadPool.create({
        threads,
        module,
        memories: [first.memory],
        timeoutMs: opts.threadTimeoutMs,
        callerTakesBlocks: opts.callerTakesBlocks,
      });
    } catch (err) {
      // A shared memory works on one thread too; lose the speed-up, not the fast path.
      threadNote = `threads off: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return new WasmFastMatmul(module, shared, arenaBytes, scratchBytes, opts.minParallelGroups ?? DEFAULT_MIN_PARALLEL_GROUPS, pool, first, threadNote);
}
