// Smoke test of `glm-webgpu bench` on whatever adapter runs the gpu tier (SwiftShader in CI): a 1-layer
// GLM-Edge model with a small vocabulary, every section of the report filled with real measurements.
import { describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { runCli } from '../helpers/cli';

describe('glm-webgpu bench (smoke)', () => {
  it('--preset glm-edge-1.5b --layers 1 reports bandwidth, kernels and tok/s as JSON', async () => {
    await testGpu();
    const r = await runCli(['bench', '--preset', 'glm-edge-1.5b', '--layers', '1', '--prompt', '4', '--decode', '2', '--vocab', '1024', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.errors).toEqual([]);
    expect(report.readBandwidth.bytesPerSec).toBeGreaterThan(0);
    expect(report.dispatchOverhead.microsPerDispatch).toBeGreaterThan(0);
    expect(report.kernels.length).toBeGreaterThan(0);
    for (const k of report.kernels) expect(k.percentOfRead).toBeGreaterThan(0);
    expect(report.model.layers).toBe(1);
    expect(report.model.prefill.tokensPerSec).toBeGreaterThan(0);
    expect(report.model.decode.tokensPerSec).toBeGreaterThan(0);
    // The two ratios of the issue, and the step's shape: 8 dispatches since decode fusion (issue #17: the layer's
    // budget is tests/gpu/decode-dispatches.test.ts's; this figure was 10 before it).
    expect(report.fmaRate.flopsPerSec).toBeGreaterThan(0);
    expect(report.model.prefill.percentOfFma).toBeGreaterThan(0);
    expect(report.model.decode.percentOfRead).toBeGreaterThan(0);
    expect(report.model.decode.dispatchesPerStep).toBe(8);
    // Pipelined decode steps by default (issue #17); --no-pipeline is the simple step, measured the same way.
    expect(report.model.decode.pipelined).toBe(true);
    expect(report.model.decode.waitMsPerToken).toBeGreaterThanOrEqual(0);
    expect(report.model.gpuBytes.allocated).toBeGreaterThan(report.model.weightBytes);
    expect(report.activations).toBe('f32');
    // Issue #17: the model ran the int8 decode GEMV (SwiftShader's WGSL has dot4I8Packed), and the kernel
    // table times both arithmetics at every matrix, one row of each chosen by GpuOps.
    expect(report.model.decode.gemv).toBe('int8');
    const names = [...new Set(report.kernels.map((k: { name: string }) => k.name))];
    for (const name of names) {
      const rows = report.kernels.filter((k: { name: string }) => k.name === name);
      expect(rows.map((k: { gemv: string }) => k.gemv).sort()).toEqual(['float', 'int8']);
      expect(rows.filter((k: { chosen: boolean }) => k.chosen).map((k: { gemv: string }) => k.gemv)).toEqual(['int8']);
    }
    if (report.timestampQuery) {
      const kernels = report.model.decodeProfile.kernels.map((k: { kernel: string }) => k.kernel);
      // Decode fusion (issue #17): RoPE + KV append in the qkv GEMV, the attention merge in the output projection's.
      expect(kernels).toEqual(expect.arrayContaining(['matmulQ4.gemv4i8 12288x2048', 'attentionSplit']));
      expect(kernels.some((k: string) => k.startsWith('matmulQ4.gemv4i8rope '))).toBe(true);
      expect(kernels.some((k: string) => k.startsWith('matmulQ4.gemv4i8merge '))).toBe(true);
    }
    console.log(`[bench] ${report.adapter.description}: read ${(report.readBandwidth.bytesPerSec / 1e9).toFixed(2)} GB/s, decode ${report.model.decode.tokensPerSec.toFixed(1)} tok/s`);
  });

  it('an unknown preset is a usage error (exit 2)', async () => {
    expect((await runCli(['bench', '--preset', 'llama-7b'])).code).toBe(2);
    expect((await runCli(['bench', '--preset', 'glm-edge-1.5b', '--gemv', 'int4'])).code).toBe(2);
  });
});
