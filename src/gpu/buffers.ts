// GPU memory for GpuOps: checked allocation (out-of-memory scopes, byte accounting), the size-keyed
// pool that step temporaries come from and go back to, and the per-step uniform slots.
import { GpuOutOfMemoryError } from '../errors';

/**
 * Usage of activation, KV-cache and step-input buffers. A function, not a constant: under Node the
 * GPUBufferUsage global only exists once node-gpu.ts has loaded Dawn.
 */
export function storageUsage(): GPUBufferUsageFlags {
  return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

/**
 * Creates buffers under `pushErrorScope('out-of-memory')` and counts the bytes it holds. Asynchronous
 * callers (weight upload) get the GpuOutOfMemoryError at once; synchronous ones (ops inside a step)
 * leave the check pending and GpuOps collects it when the step is submitted.
 */
export class GpuAllocator {
  bytes = 0;
  private live = new Set<GPUBuffer>();
  private pending: Promise<GpuOutOfMemoryError | null>[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  private begin(size: number, what: string): void {
    if (size > this.maxBufferSize) {
      throw new GpuOutOfMemoryError(
        `${what} needs a buffer of ${formatBytes(size)}, over this device's maxBufferSize of ${formatBytes(this.maxBufferSize)}; ` +
          'use a shorter context, a smaller batch or a smaller model',
      );
    }
    this.device.pushErrorScope('out-of-memory');
  }

  private oomError(size: number, what: string): GpuOutOfMemoryError {
    return new GpuOutOfMemoryError(
      `the GPU refused ${formatBytes(size)} for ${what} (${formatBytes(this.bytes)} already allocated by this engine); ` +
        'free other GPU memory or place more layers on the CPU',
    );
  }

  /** Allocation whose failure surfaces at the next `takeErrors()`. */
  create(size: number, usage: GPUBufferUsageFlags, what: string): GPUBuffer {
    this.begin(size, what);
    const buffer = this.device.createBuffer({ size, usage, label: what });
    this.bytes += size;
    this.live.add(buffer);
    this.pending.push(
      this.device.popErrorScope().then((err) => {
        if (!err) return null;
        // A refused buffer is unusable: forget it so its bytes are not counted and nothing reuses it.
        if (this.live.delete(buffer)) this.bytes -= size;
        buffer.destroy();
        return this.oomError(size, what);
      }),
    );
    return buffer;
  }

  /** Allocation that throws GpuOutOfMemoryError (naming `what` and the size) when refused. */
  async createChecked(size: number, usage: GPUBufferUsageFlags, what: string): Promise<GPUBuffer> {
    this.begin(size, what);
    const buffer = this.device.createBuffer({ size, usage, label: what });
    const err = await this.device.popErrorScope();
    if (err) {
      buffer.destroy();
      throw this.oomError(size, what);
    }
    this.bytes += size;
    this.live.add(buffer);
    return buffer;
  }

  destroy(buffer: GPUBuffer): void {
    if (this.live.delete(buffer)) this.bytes -= buffer.size;
    buffer.destroy();
  }

  /** Destroys every buffer this allocator made. */
  destroyAll(): void {
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.bytes = 0;
  }

  /** Throws the first out-of-memory error of the allocations made with create() since the last call. */
  async takeErrors(): Promise<void> {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    const errors = (await Promise.all(pending)).filter((e): e is GpuOutOfMemoryError => e !== null);
    if (errors.length > 0) throw errors[0];
  }
}

/**
 * Pool buffers come in size classes so prompts of different lengths share buffers: exact multiples of
 * 256 bytes up to 64 KiB, then four classes per power of two (at most 25% slack).
 */
export function poolSizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(b)) - 2);
  return Math.ceil(b / step) * step;
}

/**
 * Reusable buffers keyed by (usage, size class). A buffer handed out belongs to its taker until it is
 * released; GpuOps releases a step's buffers only after the step is submitted, and the queue runs
 * submissions in order, so the next step's writes cannot overtake the previous step's reads. Free
 * buffers are taken last-released first: GpuOps releases a step's buffers in reverse, so a decode step
 * gets the same buffers in the same places as the one before (and finds its bind groups cached).
 */
export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  bytes = 0;

  constructor(private readonly alloc: GpuAllocator) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, what: string): GPUBuffer {
    const size = poolSizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) return reused;
    this.bytes += size;
    return this.alloc.create(size, usage, what);
  }

  release(buffer: GPUBuffer): void {
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    list.push(buffer);
  }

  /** Destroys every free buffer (e.g. after a long prefill left large ones behind). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.bytes -= b.size;
        this.alloc.destroy(b);
      }
    }
    this.free.clear();
  }
}

/** Bytes of one uniform slot: WebGPU's minUniformBufferOffsetAlignment (256) on every adapter. */
export const UNIFORM_SLOT_BYTES = 256;
const SLOTS_PER_CHUNK = 256;
const CHUNK_BYTES = UNIFORM_SLOT_BYTES * SLOTS_PER_CHUNK;

/** A bind group remembered by the slot it was made for (see GpuOps.dispatch). */
export interface SlotBindGroup {
  layout: GPUBindGroupLayout;
  buffers: GPUBuffer[];
  group: GPUBindGroup;
}

interface UniformChunk {
  buffer: GPUBuffer;
  data: ArrayBuffer;
  used: number;
  /** Per slot: the last bind group made with it. */
  groups: (SlotBindGroup | undefined)[];
}

export interface UniformSlot {
  buffer: GPUBuffer;
  offset: number;
  view: DataView;
  /** The bind group the slot's previous dispatch used; GpuOps reuses it when the bindings are the same. */
  cached: SlotBindGroup | undefined;
  remember(group: SlotBindGroup): void;
}

/**
 * The step's dispatch parameters: every dispatch gets its own 256-byte slot (bound at its offset in a
 * bind group of its own), filled on the CPU while encoding and written to the GPU once, just before the submit, so
 * no dispatch ever sees a later dispatch's parameters. Chunks of 64 KiB are recycled across steps.
 */
export class UniformSlots {
  private chunks: UniformChunk[] = [];
  private spare: UniformChunk[] = [];
  bytes = 0;

  constructor(private readonly alloc: GpuAllocator) {}

  take(): UniformSlot {
    let chunk = this.chunks.at(-1);
    if (!chunk || chunk.used === SLOTS_PER_CHUNK) {
      chunk = this.spare.pop();
      if (!chunk) {
        const buffer = this.alloc.create(CHUNK_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'step parameters');
        this.bytes += CHUNK_BYTES;
        chunk = { buffer, data: new ArrayBuffer(CHUNK_BYTES), used: 0, groups: [] };
      }
      chunk.used = 0;
      this.chunks.push(chunk);
    }
    const index = chunk.used++;
    const offset = index * UNIFORM_SLOT_BYTES;
    const groups = chunk.groups;
    return {
      buffer: chunk.buffer,
      offset,
      view: new DataView(chunk.data, offset, UNIFORM_SLOT_BYTES),
      cached: groups[index],
      remember: (group) => (groups[index] = group),
    };
  }

  /** Writes the used part of every chunk; call right before submitting the step. */
  upload(queue: GPUQueue): void {
    for (const c of this.chunks) queue.writeBuffer(c.buffer, 0, c.data, 0, c.used * UNIFORM_SLOT_BYTES);
  }

  /** Drops every chunk (after an out-of-memory step, a chunk's buffer may be one the GPU refused). */
  reset(): void {
    for (const c of [...this.chunks, ...this.spare]) this.alloc.destroy(c.buffer);
    this.chunks = [];
    this.spare = [];
    this.bytes = 0;
  }

  /**
   * After the submit: the chunks can be refilled by the next step (queue order protects them). They come
   * back in the order this step took them, so the next step's n-th dispatch gets this step's n-th slot
   * (and, usually, its bind group).
   */
  recycle(): void {
    for (let i = this.chunks.length - 1; i >= 0; i--) this.spare.push(this.chunks[i]!);
    this.chunks = [];
  }
}

/** Fills a uniform slot field by field (u32 / i32 / f32, 4 bytes each, in struct order). */
export class ParamWriter {
  private at = 0;
  constructor(private readonly view: DataView) {}
  u32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.at, v, true);
    this.at += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.at, v, true);
    this.at += 4;
    return this;
  }
}
