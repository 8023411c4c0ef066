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
    // The two ratios of the issue, and the step's shape: embed, the layer's 5 fused dispatches (issue #17:
    // qkv+RoPE+KV append, attention tiles, merge+o-proj, norm+gate_up+SwiGLU, down), final norm, lm_head.
    expect(report.fmaRate.flopsPerSec).toBeGreaterThan(0);
    expect(report.model.prefill.percentOfFma).toBeGreaterThan(0);
    expect(report.model.decode.percentOfRead).toBeGreaterThan(0);
    expect(report.model.decode.dispatchesPerStep).toBe(1 + 5 + 2);
    // Pipelined decode steps by default (issue #17); --no-pipeline is the simple step, measured the same way.
    expect(report.model.decode.pipelined).toBe(true);
    expect(report.model.decode.waitMsPerToken).toBeGreaterThanOrEqual(0);
    expect(report.model.gpuBytes.allocated).toBeGreaterThan(report.model.weightBytes);
    expect(report.activations).toBe('f32');
    if (report.timestampQuery) {
      const kernels = report.model.decodeProfile.kernels.map((k: { kernel: string }) => k.kernel);
      expect(kernels).toEqual(expect.arrayContaining(['matmulQ4.gemv4 12288x2048', 'matmulQ4.gemv4rope 3072x2048', 'attentionSplit', 'matmulQ4.gemv4merge 2048x2048']));
      expect(kernels).not.toContain('ropeKvAppend');
    }
    console.log(`[bench] ${report.adapter.description}: read ${(report.readBandwidth.bytesPerSec / 1e9).toFixed(2)} GB/s, decode ${report.model.decode.tokensPerSec.toFixed(1)} tok/s`);
  });

  it('an unknown preset is a usage error (exit 2)', async () => {
    expect((await runCli(['bench', '--preset', 'llama-7b'])).code).toBe(2);
  });
});
