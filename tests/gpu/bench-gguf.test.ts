// `glm-webgpu bench --gguf-type` (issue #14) on the gpu tier's adapter: a 1-layer GLM-Edge model in
// llama-quantize's Q4_K_M mix decodes through the QX kernels, and the report gives the mix and the
// bytes a step reads against the file's. The suite runs in-process without its per-kernel section
// (bench-cli.test.ts covers that), which SwiftShader makes slow.
import { describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { createNodeGpu } from '../../src/gpu/node-gpu';
import { runBenchSuite } from '../../src/ui/bench/suite';
import { runCli } from '../helpers/cli';

describe('bench --gguf-type (smoke)', () => {
  it('Q4_K_M builds the type mix, decodes, and reports bytes against the file', async () => {
    await testGpu();
    const report = await runBenchSuite(await createNodeGpu([]), {
      preset: 'glm-edge-1.5b',
      layers: 1,
      promptTokens: 4,
      decodeTokens: 2,
      vocab: 1024,
      readBytes: 4 * 2 ** 20,
      dispatches: 20,
      ggufType: 'Q4_K_M',
      skip: { kernels: true },
    });
    expect(report.errors).toEqual([]);
    const m = report.model!;
    // 1 layer, tied embedding: attn_output and ffn_up Q4_K; attn_qkv Q5_K; token_embd (output's rule) and
    // (use_more_bits) ffn_down Q6_K.
    expect(m.gguf!.typeCounts).toEqual({ Q4_K: 2, Q5_K: 1, Q6_K: 2 });
    expect(m.gguf!.gpuOverFile).toBeGreaterThan(1);
    expect(m.gguf!.gpuOverFile).toBeLessThan(1.15);
    expect(m.decode.tokensPerSec).toBeGreaterThan(0);
    expect(m.decode.percentOfRead).toBeGreaterThan(0);
    if (m.decodeProfile) expect(m.decodeProfile.kernels.some((k) => k.kernel.startsWith('matmulQx.gemv4'))).toBe(true);
  }, 900_000);

  it('an unknown --gguf-type is a usage error (exit 2)', async () => {
    expect((await runCli(['bench', '--preset', 'glm-edge-1.5b', '--gguf-type', 'Q9_X'])).code).toBe(2);
  });
});
