// GpuOps under failure: a lost device, refused allocations, resources over the device's limits.
import { describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { DeviceLostError, GpuOutOfMemoryError } from '../../src/errors';
import { GpuAllocator } from '../../src/gpu/buffers';
import { GpuOps } from '../../src/gpu/ops';
import type { GlmConfig } from '../../src/model/config';
import { hostTensor } from '../../src/model/tensor';
import { randomArray } from '../helpers/random';

describe('device loss', () => {
  it('makes the read in flight and every later call throw DeviceLostError', async () => {
    // A device of its own (an option set no other test asks for), because this test destroys it.
    const ctx = await testGpu({ powerPreference: 'low-power', disableFeatures: ['timestamp-query'] });
    const ops = new GpuOps(ctx);
    const w = await ops.uploadWeight(hostTensor(randomArray(8 * 40, 1), [8, 40]), 'w');
    const x = ops.upload(randomArray(40, 2), 1, 40);
    expect((await ops.read(ops.matmul(x, w))).length).toBe(8);

    const inFlight = ops.read(ops.gelu(ops.matmul(ops.upload(randomArray(40, 3), 1, 40), w)));
    ctx.device.destroy();
    await expect(inFlight).rejects.toBeInstanceOf(DeviceLostError);
    const lost = await ctx.lost;
    expect(lost.name).toBe('DeviceLostError');

    expect(() => ops.upload(new Float32Array(4), 1, 4)).toThrow(DeviceLostError);
    expect(() => ops.embed(w, Int32Array.from([0]))).toThrow(DeviceLostError);
    expect(() => ops.createKvCache({ numKvHeads: 1, headDim: 4, numLayers: 1 } as GlmConfig, 4)).toThrow(DeviceLostError);
    await expect(ops.flush()).rejects.toBeInstanceOf(DeviceLostError);
    await expect(ops.uploadWeight(hostTensor(new Float32Array(4), [4]), 'late')).rejects.toBeInstanceOf(DeviceLostError);
  });
});

describe('allocation limits', () => {
  it('names the tensor and the bytes when an allocation is refused', async () => {
    const { device } = await testGpu();
    // An allocator that believes the device holds at most 1 KiB: the refusal path without exhausting memory.
    const alloc = new GpuAllocator(device, 1024);
    const err = await alloc.createChecked(4096, GPUBufferUsage.STORAGE, 'weight "layers.0.qkv.weight"').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuOutOfMemoryError);
    expect((err as Error).name).toBe('GpuOutOfMemoryError');
    expect((err as Error).message).toMatch(/weight "layers\.0\.qkv\.weight" needs a buffer of 4096 bytes/);
    expect(alloc.bytes).toBe(0);
  });

  it('refuses a KV cache layer over maxStorageBufferBindingSize with the sizes in the message', async () => {
    const ctx = await testGpu();
    const ops = new GpuOps(ctx);
    try {
      const config = { numKvHeads: 32, headDim: 128, numLayers: 1 } as GlmConfig;
      const capacity = Math.ceil(ctx.limits.maxStorageBufferBindingSize / (32 * 128 * 4)) + 1;
      expect(() => ops.createKvCache(config, capacity)).toThrow(/maxStorageBufferBindingSize/);
    } finally {
      ops.dispose();
    }
  });

  it('refuses a weight whose single row is over the binding limit', async () => {
    const ctx = await testGpu();
    const ops = new GpuOps(ctx, { maxBindingBytes: 64 });
    try {
      await expect(ops.uploadWeight(hostTensor(new Float32Array(2 * 40), [2, 40]), 'wide')).rejects.toThrow(/weight "wide": one row takes 160 bytes/);
    } finally {
      ops.dispose();
    }
  });
});
