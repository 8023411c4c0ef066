// Prefill GEMM benchmark: shaders/matmul_gemm.wgsl at GLM-4-9B's matrix shapes (Q4 weights, f32
// activations) against the FMA rate the same device reaches in a plain WGSL FMA loop.
//
//   npx vite build --mode cli --ssr bench/gpu-gemm.ts --outDir dist/bench && \
//     node dist/bench/main.js [--tokens 512] [--baseline old_gemm.wgsl] [--variant label=file.wgsl] [--quick] [--smoke]
//
// Per matrix and tile shape: time per GEMM (best of 3 timed batches, each one submit of many
// dispatches), TFLOP/s (2·n·rows·cols per GEMM) and the ratio to the measured FMA peak. `*` marks the
// shape src/gpu/gemm-tiling.ts picks. --baseline times another kernel file with the same bindings
// (e.g. the previous matmul_gemm.wgsl, 2 tokens x 4 rows per invocation) for comparison.
import { readFileSync } from 'node:fs';
import { createNodeGpu } from '../src/gpu/node-gpu';
import { requestGpu } from '../src/gpu/device';
import { gemmTiling, gemmTilingOf, type GemmShape } from '../src/gpu/gemm-tiling';
import { GpuOps } from '../src/gpu/ops';
import type { Q4Tensor } from '../src/quant/types';
import { f32ToF16 } from '../src/formats/dtype';
import { GemmRunner } from '../tests/helpers/gemm-dispatch';
import { measureFmaRate } from './fma-rate';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
/** Tiny sizes, to check that the bench runs (SwiftShader). */
const smoke = args.includes('--smoke');
const N = Number(arg('--tokens') ?? 512);
const baseline = arg('--baseline');
/** --variant label=path (repeatable): another version of matmul_gemm.wgsl with the same overrides, timed at every shape. */
const variants = args.flatMap((a, i) => (a === '--variant' && args[i + 1] ? [args[i + 1]!.split('=') as [string, string]] : []));

// GLM-4-9B: hidden 4096, 32 heads + 2 KV heads of 128, MLP 13696 (gate and up fused).
const MATRICES = smoke
  ? [{ name: 'smoke', rows: 300, cols: 256 }]
  : [
      { name: 'qkv', rows: 4608, cols: 4096 },
      { name: 'o', rows: 4096, cols: 4096 },
      { name: 'gate_up', rows: 27392, cols: 4096 },
      { name: 'down', rows: 4096, cols: 13696 },
    ];

const SHAPES: Record<string, GemmShape> = {
  '64tok x 128rows': { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 1, bk: 16 },
  '64tok x 128rows bk32': { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 1, bk: 32 },
  '64x64': { threadsX: 16, threadsY: 16, rowVecs: 1, tokenVecs: 1, bk: 16 },
  '64x64 bk32': { threadsX: 16, threadsY: 16, rowVecs: 1, tokenVecs: 1, bk: 32 },
  '128x128': { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 2, bk: 16 },
  '128x128 bk32': { threadsX: 16, threadsY: 16, rowVecs: 2, tokenVecs: 2, bk: 32 },
};

function randomQ4(rows: number, cols: number, seed: number): Q4Tensor {
  const groupsPerRow = Math.ceil(cols / 32);
  const groups = rows * groupsPerRow;
  const packed = new Uint32Array(groups * 4);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < packed.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    packed[i] = s >>> 0;
  }
  const scales = new Uint32Array(Math.ceil(groups / 2));
  const a = f32ToF16(0.004);
  const b = f32ToF16(0.006);
  scales.fill(a | (b << 16));
  return { dtype: 'q4', rows, cols, groupsPerRow, packed, scales };
}

async function main(): Promise<void> {
  const gpu = await createNodeGpu(process.env.GLM_WEBGPU_DAWN_FLAGS ? process.env.GLM_WEBGPU_DAWN_FLAGS.split(',') : []);
  const ctx = await requestGpu(gpu, { powerPreference: 'high-performance' });
  const a = ctx.adapter;
  console.log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description || a.device}; workgroup storage ${ctx.limits.maxComputeWorkgroupStorageSize}`);
  const device = ctx.device;
  const ops = new GpuOps(ctx);
  const runner = new GemmRunner(device, 'f32');

  /** Seconds per call of `encode`, best of 3 batches of `reps` calls in one submit. */
  async function time(encode: (pass: GPUComputePassEncoder) => void, flops: number): Promise<number> {
    const batch = async (reps: number): Promise<number> => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < reps; i++) encode(pass);
      pass.end();
      const t = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t) / 1000 / reps;
    };
    await batch(1); // warm-up: pipeline, clocks, first touch of the output
    const first = await batch(1);
    const reps = Math.max(2, Math.min(200, Math.ceil((quick ? 0.05 : 0.2) / Math.max(first, flops / 100e12))));
    let best = Infinity;
    for (let i = 0; i < 3; i++) best = Math.min(best, await batch(reps));
    return best;
  }

  const peak = await measureFmaRate(device, smoke ? 4 : 4096);
  console.log(`FMA loop: ${(peak / 1e12).toFixed(2)} TFLOP/s (f32, 2 FLOP per FMA)`);
  console.log(`n = ${N} tokens, Q4 weights (symmetric), f32 activations`);
  console.log(`${'matrix'.padEnd(8)} ${'shape'.padEnd(26)} ${'ms'.padStart(8)} ${'TFLOP/s'.padStart(8)} ${'/ peak'.padStart(7)}`);

  const oldSource = baseline ? readFileSync(baseline, 'utf8') : undefined;
  const x = ops.upload(new Float32Array(N * 13696).map((_, i) => Math.sin(i) * 0.5), N, 13696);
  const out = ops.upload(new Float32Array(N * 27392), N, 27392);
  let totalChosen = 0;
  let totalFlops = 0;
  for (const m of MATRICES) {
    const weight = await ops.uploadWeight(randomQ4(m.rows, m.cols, m.rows + m.cols), m.name);
    const xm = m.cols === 13696 ? x : ops.upload(new Float32Array(N * m.cols).map((_, i) => Math.cos(i) * 0.5), N, m.cols);
    const flops = 2 * N * m.rows * m.cols;
    const chosen = gemmTiling(N, m.rows, ctx.limits.maxComputeWorkgroupsPerDimension, ctx.limits.maxComputeWorkgroupStorageSize);
    const runs: { label: string; constants: Record<string, number>; grid: (rows: number) => [number, number, number]; source?: string }[] = [];
    for (const [label, shape] of Object.entries(SHAPES)) {
      const t = gemmTilingOf(shape, N, ctx.limits.maxComputeWorkgroupsPerDimension);
      if (t.workgroupStorage > ctx.limits.maxComputeWorkgroupStorageSize) continue;
      const mark = JSON.stringify(t.constants) === JSON.stringify(chosen.constants) ? '*' : ' ';
      runs.push({ label: `${mark}${label}`, constants: t.constants, grid: t.grid });
      for (const [name, path] of variants) {
        // Only the overrides the variant declares (older kernels have no BK), at that kernel's own BK.
        const source = readFileSync(path, 'utf8');
        if (!/override BK\b/.test(source) && t.constants.BK !== 16) continue;
        const constants = Object.fromEntries(Object.entries(t.constants).filter(([k]) => new RegExp(`override ${k}\\b`).test(source)));
        runs.push({ label: ` ${label} ${name}`, constants, grid: t.grid, source });
      }
    }
    if (oldSource) {
      runs.push({
        label: ' baseline 32x64',
        constants: { THREADS_X: 16, THREADS_Y: 16 },
        grid: (rows) => [Math.ceil(rows / 64), Math.ceil(N / 32), 1],
        source: oldSource,
      });
    }
    for (const r of runs) {
      const encode = runner.prepare({ constants: r.constants, grid: r.grid, n: N, weight, x: xm.buffer, out: out.buffer, source: r.source });
      const s = await time(encode, flops);
      if (r.label.startsWith('*')) {
        totalChosen += s;
        totalFlops += flops;
      }
      console.log(`${m.name.padEnd(8)} ${r.label.padEnd(26)} ${(s * 1e3).toFixed(3).padStart(8)} ${(flops / s / 1e12).toFixed(2).padStart(8)} ${(flops / s / peak).toFixed(3).padStart(7)}`);
    }
  }
  console.log(
    `one GLM-4-9B layer's matmuls with the chosen shapes: ${(totalChosen * 1e3).toFixed(2)} ms, ` +
      `${(totalFlops / totalChosen / 1e12).toFixed(2)} TFLOP/s = ${(totalFlops / totalChosen / peak).toFixed(3)} of the FMA loop`,
  );
  ops.dispose();
  runner.dispose();
  device.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
