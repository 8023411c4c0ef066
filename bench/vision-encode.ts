// GLM-4V image encode benchmark: the vision tower (src/model/vision.ts encodeImage) at GLM-4V-9B's real
// shapes with random weights, timed on this device against the FMA rate the same process measures in a plain
// WGSL FMA loop, for float32 weights + activations and, where the adapter has shader-f16, f16 ones.
//
//   npx vite build --mode cli --ssr bench/vision-encode.ts --outDir dist/bench-vision && \
//     GLM_WEBGPU_DAWN_FLAGS=enable-dawn-features=vulkan_enable_f16_on_nvidia node dist/bench-vision/main.js [--preset glm-4v-9b|tiny] [--quant q4]
//
// Prints per path: ms per image (best of 3), TFLOP/s over the tower's arithmetic (GEMMs + attention) and that
// rate as a share of the FMA loop's. `--preset tiny` (the test fixture's shapes) only checks that it runs.
import { createNodeGpu } from '../src/gpu/node-gpu';
import { requestGpu } from '../src/gpu/device';
import { GpuOps } from '../src/gpu/ops';
import type { GpuWeight } from '../src/gpu/tensor';
import { normalizeConfig } from '../src/model/config';
import { PRESETS } from '../src/model/presets';
import { quantizeWeightAt } from '../src/model/quantize-weights';
import { measureFmaRate } from './fma-rate';
import { assembleVisionWeights, encodeImage, imagePixelCount, imageTokenCount, visionGrid, type VisionConfig } from '../src/model/vision';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const presetName = arg('--preset') ?? 'glm-4v-9b';
const quant = arg('--quant') === 'q4' ? 'q4' : 'none';

/** The tiny fixture's tower (tests/fixtures/thudm-glm4v-tiny), for a smoke run on SwiftShader. */
const TINY = normalizeConfig({
  model_type: 'chatglm', num_layers: 1, padded_vocab_size: 3013, hidden_size: 64, ffn_hidden_size: 160, kv_channels: 16, num_attention_heads: 4,
  multi_query_attention: true, multi_query_group_num: 2, boi_token_id: 3010, eoi_token_id: 3011,
  vision_config: { hidden_act: 'gelu', in_channels: 3, num_hidden_layers: 2, hidden_size: 48, patch_size: 14, num_heads: 3, intermediate_size: 88, num_positions: 17, image_size: 56 },
});

function visionOf(name: string): VisionConfig {
  if (name === 'tiny') return TINY.vision!;
  if (name !== 'glm-4v-9b') throw new Error(`--preset must be glm-4v-9b or tiny, got ${name}`);
  return PRESETS['glm-4v-9b'].vision!;
}

/** FLOPs of one image (2 per multiply-add): the GEMMs and the attention's two products. */
function towerFlops(v: VisionConfig): number {
  const n = visionGrid(v) ** 2 + 1;
  const m = imageTokenCount(v) - 2;
  const { hiddenSize: Dv, intermediateSize: I, lmHiddenSize: D, glmFfnSize: F } = v;
  const perLayer = 2 * n * (4 * Dv * Dv + 2 * Dv * I) + 4 * n * n * Dv;
  return 2 * (n - 1) * Dv * v.inChannels * v.patchSize ** 2 + v.numLayers * perLayer + 2 * m * (4 * Dv * D + D * D + 3 * F * D);
}

/** Seeded values in ±scale (xorshift32): weights only need a realistic magnitude. */
function randomFill(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

/**
 * GLM-4V-9B's tower is 4.4B weights: drawing each one (about 20 s in JavaScript) would take most of a device
 * call, so every matrix is cut from one pool of 16M random values, starting at a seed-dependent offset.
 */
const POOL = randomFill(1 << 24, 12345, 0.02);
function randomWeights(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let offset = Math.imul(seed, 2654435761) >>> 8;
  for (let i = 0; i < n; ) {
    const start = offset % POOL.length;
    const take = Math.min(n - i, POOL.length - start);
    out.set(POOL.subarray(start, start + take), i);
    i += take;
    offset += take + 7;
  }
  return out;
}

async function main(): Promise<void> {
  const v = visionOf(presetName);
  const gpu = await createNodeGpu(process.env.GLM_WEBGPU_DAWN_FLAGS ? process.env.GLM_WEBGPU_DAWN_FLAGS.split(',') : []);
  const ctx = await requestGpu(gpu, { powerPreference: 'high-performance' });
  const a = ctx.adapter;
  console.log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description || a.device}; shader-f16: ${ctx.features.has('shader-f16')}`);
  const peak = await measureFmaRate(ctx.device, presetName === 'tiny' ? 4 : 4096);
  const flops = towerFlops(v);
  const g = visionGrid(v);
  console.log(`FMA loop: ${(peak / 1e12).toFixed(2)} TFLOP/s (f32). Tower: ${v.numLayers} layers, ${g * g + 1} tokens of ${v.hiddenSize}, ` +
    `${(flops / 1e12).toFixed(2)} TFLOP per image; weights ${quant === 'q4' ? 'q4 matrices' : 'dense'}`);
  const pixels = randomFill(imagePixelCount(v), 7, 1);
  const paths: { label: string; f16: boolean }[] = [{ label: 'f32', f16: false }];
  if (ctx.features.has('shader-f16')) paths.push({ label: 'f16', f16: true });
  else console.log('f16 path: skipped (no shader-f16 on this adapter; on NVIDIA pass GLM_WEBGPU_DAWN_FLAGS=enable-dawn-features=vulkan_enable_f16_on_nvidia)');
  for (const path of paths) {
    const ops = new GpuOps(ctx, { f16: path.f16 });
    let seed = 1;
    const weights = await assembleVisionWeights<GpuWeight>(v, async (name, shape) => {
      const n = shape.reduce((x, y) => x * y, 1);
      const isNorm = /Norm\.weight$|norm\.weight$/.test(name);
      const host = { dtype: 'f32' as const, shape, data: isNorm ? new Float32Array(n).fill(1) : randomWeights(n, seed++) };
      return ops.uploadWeight(quantizeWeightAt(host, name, quant), name, { denseMatrices: path.f16 ? 'f16' : 'f32' });
    });
    const once = async (): Promise<number> => {
      const t = performance.now();
      await ops.read(await encodeImage(ops, v, weights, pixels));
      return (performance.now() - t) / 1000;
    };
    await once(); // pipelines, first touch
    let best = Infinity;
    for (let i = 0; i < 3; i++) best = Math.min(best, await once());
    const rate = flops / best;
    console.log(`${path.label}: ${(best * 1000).toFixed(1)} ms per image, ${(rate / 1e12).toFixed(2)} TFLOP/s = ${(rate / peak).toFixed(3)} of the FMA loop`);
    ops.dispose();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
