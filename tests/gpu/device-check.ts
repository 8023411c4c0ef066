// GpuOps on a real GPU, outside vitest: the device machine has Node and Dawn but no node_modules, so
// this file is bundled into one script (webgpu stays external) and run there:
//   node tests/gpu/build-device-check.mjs     (here: writes dist/gpu-check/device-check.mjs)
//   source .device/setup.sh && GLM_WEBGPU_DAWN_FLAGS=enable-dawn-features=vulkan_enable_f16_on_nvidia node dist/gpu-check/device-check.mjs
// It repeats the core of tests/gpu/ops.test.ts and forward-gpu.test.ts for the float32 path and, when the
// device offers shader-f16, the f16 path (which SwiftShader cannot run), and times a decode-sized GEMV.
// Exit code 1 when any comparison fails.
import { MODEL_FIXTURES } from '../helpers/fixtures';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CpuOps, attention, cpuTensor, matmulF32, ropeKvAppend, type CpuTensor } from '../../src/cpu/ops';
import { matmulQuant } from '../../src/cpu/quant-matmul';
import { nodeModelFiles } from '../../src/formats/node-files';
import { roundToF16 } from '../../src/formats/dtype';
import { requestGpu, type GpuContext } from '../../src/gpu/device';
import { createNodeGpu } from '../../src/gpu/node-gpu';
import { GpuOps, type GemvArithmetic } from '../../src/gpu/ops';
import { int8GemvTwin } from '../../src/cpu/gemv-int8';
import type { GlmConfig } from '../../src/model/config';
import { loadModelFolder } from '../../src/model/load';
import type { ForwardBatch } from '../../src/model/ops';
import { hostTensor } from '../../src/model/tensor';
import type { HostWeight } from '../../src/model/weights';
import { dequantize, quantizeQ4, quantizeQ8 } from '../../src/quant/index';
import { ModelSession, greedyGenerate } from '../../src/runtime/session';
import { randomArray } from '../helpers/random';

let failures = 0;
function report(label: string, err: number, tol: number): void {
  const ok = err <= tol && !Number.isNaN(err);
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}: max error ${err.toExponential(2)} (tolerance ${tol.toExponential(1)})`);
}

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return NaN;
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!));
  return m;
}

type Format = 'f32' | 'f16' | 'q4' | 'q4-mins' | 'q8';

function makeWeight(format: Format, rows: number, cols: number, seed: number): { host: HostWeight; values: Float32Array; f16: boolean } {
  const data = randomArray(rows * cols, seed);
  if (format === 'f32') return { host: hostTensor(data, [rows, cols]), values: data, f16: false };
  if (format === 'f16') return { host: hostTensor(data, [rows, cols]), values: data.map(roundToF16), f16: true };
  const q = format === 'q8' ? quantizeQ8(data, rows, cols) : quantizeQ4(data, rows, cols, { asymmetric: format === 'q4-mins' });
  return { host: q, values: dequantize(q), f16: false };
}

function cpuMatmul(
  x: CpuTensor, w: { host: HostWeight; values: Float32Array }, rows: number, bias: Float32Array, residual: CpuTensor, scale: number,
  gemv: GemvArithmetic,
): Float32Array {
  if (w.host.dtype === 'f32') return matmulF32(x, w.values, rows, bias, residual, scale).data;
  // The int8 decode GEMV (issue #17, GpuOps' default where WGSL has dot4I8Packed) has its own twin.
  const y = (gemv === 'int8' ? int8GemvTwin : { matmul: matmulQuant }).matmul(x.data, x.rows, w.host, bias);
  for (let i = 0; i < y.length; i++) y[i] = Math.fround(y[i]! + scale * residual.data[i]!);
  return y;
}

function attnConfig(H: number, Hkv: number, D: number, rotaryDim: number, style: 'interleaved' | 'chatglm1-2d'): GlmConfig {
  return {
    family: 'chatglm2', vocabSize: 16, hiddenSize: H * D, numLayers: 1, numHeads: H, numKvHeads: Hkv, headDim: D, ffnHiddenSize: 8,
    norm: 'rmsnorm', normEps: 1e-5, mlp: 'swiglu', rope: { style, rotaryDim, base: 10000, f16InvFreq: style === 'chatglm1-2d' },
    qkvBias: false, attnOutBias: false, mlpBias: false, residualAlpha: null, sandwichNorms: false, tieWordEmbeddings: false,
    maxSequenceLength: 4096, storedQuantBits: 0, tokens: { eos: [] },
  };
}

async function checkOps(ctx: GpuContext, f16: boolean): Promise<void> {
  const ops = new GpuOps(ctx, { f16 });
  const tag = f16 ? '[f16]' : '[f32]';
  // f16 storage rounds activations to 11 significant bits; inputs are pre-rounded so only outputs differ.
  const round = (a: Float32Array) => (f16 ? a.map(roundToF16) : a);
  const relTol = f16 ? 4e-4 : 1e-6;
  for (const format of ['f32', 'f16', 'q4', 'q4-mins', 'q8'] as Format[]) {
    for (const [n, rows, cols] of [[1, 65, 130], [1, 4096, 4096], [5, 7, 33], [37, 130, 100], [70, 300, 4200]] as const) {
      const w = makeWeight(format, rows, cols, rows + cols);
      const gw = await ops.uploadWeight(w.host, 'w', w.f16 ? { denseMatrices: 'f16' } : {});
      const bias = round(randomArray(rows, 1));
      const gb = await ops.uploadWeight(hostTensor(bias, [rows]), 'b');
      const x = cpuTensor(n, cols, round(randomArray(n * cols, 2)));
      const res = cpuTensor(n, rows, round(randomArray(n * rows, 3)));
      const got = await ops.read(ops.matmul(ops.upload(x.data, n, cols), gw, { bias: gb, residual: ops.upload(res.data, n, rows), residualScale: 1.5 }));
      const want = cpuMatmul(x, w, rows, bias, res, 1.5, ops.gemv);
      let scale = 0;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      // f32 sums of K terms in another order than the CPU's: rounding grows like sqrt(K) times the result scale.
      report(`${tag} matmul ${format} n=${n} ${rows}x${cols}`, maxErr(got, want), relTol * Math.sqrt(cols) * Math.max(scale, 1));
      ops.releaseWeights({ embedding: gw, layers: [], finalNorm: { weight: gb }, lmHead: gw });
    }
  }
  const cpu = new CpuOps();
  for (const [H, Hkv, D, rd, style] of [[32, 2, 128, 64, 'interleaved'], [4, 4, 16, 8, 'chatglm1-2d'], [8, 1, 128, 128, 'interleaved']] as const) {
    const config = attnConfig(H, Hkv, D, rd, style);
    const cpuCache = cpu.createKvCache(config, 700);
    const gpuCache = ops.createKvCache(config, 700);
    let start = 0;
    for (const n of [600, 1, 1]) {
      const positions = Int32Array.from({ length: n }, (_, i) => start + i + 2000);
      const batch: ForwardBatch = { ids: new Int32Array(n), positions, start, bidirectionalPrefix: style === 'chatglm1-2d' ? 5 : 0 };
      if (style === 'chatglm1-2d') batch.blockPositions = Int32Array.from(positions, (p) => p % 11);
      const qkv = cpuTensor(n, (H + 2 * Hkv) * D, round(randomArray(n * (H + 2 * Hkv) * D, n + start)));
      const roped = ops.ropeKvAppend(ops.upload(qkv.data, qkv.rows, qkv.cols), gpuCache, 0, batch, config);
      const got = await ops.read(ops.attention(roped, gpuCache, 0, batch, config));
      const want = attention(ropeKvAppend(qkv, cpuCache, 0, batch, config), cpuCache, 0, batch, config);
      report(`${tag} rope+attention H=${H} Hkv=${Hkv} D=${D} ${style} n=${n} start=${start}`, maxErr(got, want.data), f16 ? 4e-3 : 2e-5);
      start += n;
    }
  }

  // Greedy draw on the GPU (f16 logits are widened first) = argmax of the logits read back.
  for (const vocab of [1000, 151552]) {
    const values = round(randomArray(vocab, vocab));
    const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, recentIds: new Int32Array(0), seed: 0, step: 0 };
    const drawn = await ops.sampleNext(ops.upload(values, 1, vocab), greedy);
    const read = await ops.read(ops.upload(values, 1, vocab));
    let best = 0;
    for (let i = 1; i < vocab; i++) if (read[i]! > read[best]!) best = i;
    report(`${tag} GPU greedy draw over ${vocab} logits = argmax (drawn ${drawn}, argmax ${best})`, drawn === best ? 0 : 1, 0);
  }

  // Forward passes of the fixtures (float32 path: the reference bound; f16: printed, bounded loosely).
  for (const name of MODEL_FIXTURES) {
    const dir = resolve('tests/fixtures', name);
    const expected = JSON.parse(readFileSync(resolve(dir, 'expected.json'), 'utf8')) as { prompt_ids: number[]; prompt_logits: number[][]; greedy_ids: number[] };
    const host = await loadModelFolder(nodeModelFiles(dir));
    const weights = await ops.uploadWeights(host.weights);
    const logits = await ops.read(await new ModelSession(ops, host.config, weights, 64).append(expected.prompt_ids, 'all'));
    report(`${tag} ${name} prompt logits vs reference`, maxErr(logits, expected.prompt_logits.flat()), f16 ? 5e-2 : 1e-3);
    const ids = await greedyGenerate(new ModelSession(ops, host.config, weights, 64), expected.prompt_ids, expected.greedy_ids.length);
    const same = ids.every((v, i) => v === expected.greedy_ids[i]);
    if (!same && !f16) failures++;
    console.log(`${same ? 'ok  ' : f16 ? 'note' : 'FAIL'} ${tag} ${name} greedy ids ${same ? 'match' : `differ: ${ids.join(',')}`}`);
    ops.releaseWeights(weights);
  }

  // Decode-sized GEMV timing: one step of 100 dispatches, so the submit/map cost is amortized.
  for (const format of ['q4', 'f32'] as Format[]) {
    const rows = 4096;
    const cols = 4096;
    const w = makeWeight(format, rows, cols, 9);
    const gw = await ops.uploadWeight(w.host, 'w');
    const reps = 100;
    let encodeMs = 0;
    const chain = () => {
      const e0 = performance.now();
      let y = ops.upload(randomArray(cols, 4), 1, cols);
      for (let i = 0; i < reps; i++) y = ops.matmul(y, gw);
      encodeMs = performance.now() - e0;
      return ops.read(y);
    };
    await chain(); // first pass: pool buffers and bind groups are created
    const t0 = performance.now();
    await chain();
    console.log(`perf ${tag} GEMV ${format}: encoding ${((encodeMs / reps) * 1000).toFixed(1)} us per dispatch on the CPU`);
    const ms = (performance.now() - t0) / reps;
    console.log(
      `perf ${tag} GEMV ${format} ${rows}x${cols}: ${(ms * 1000).toFixed(1)} us per dispatch (wall clock of a 100-dispatch step / 100, ` +
        `encoding included), ${(gw.bytes / (ms / 1000) / 1e9).toFixed(0)} GB/s of weights`,
    );
  }
  ops.dispose();
}

async function main(): Promise<void> {
  const flags = process.env.GLM_WEBGPU_DAWN_FLAGS ? process.env.GLM_WEBGPU_DAWN_FLAGS.split(',') : [];
  const ctx = await requestGpu(await createNodeGpu(flags));
  const a = ctx.adapter;
  console.log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description}; features: ${[...ctx.features].join(', ')}`);
  console.log(`limits: maxStorageBufferBindingSize ${ctx.limits.maxStorageBufferBindingSize}, maxBufferSize ${ctx.limits.maxBufferSize}`);
  await checkOps(ctx, false);
  if (GpuOps.supportsF16(ctx)) await checkOps(ctx, true);
  else console.log('shader-f16 not offered: f16 path not checked');
  console.log(failures === 0 ? 'ALL OK' : `${failures} FAILURES`);
  process.exit(failures === 0 ? 0 : 1);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
