// CPU matvec benchmark: the machine's memcpy bandwidth and the fast CPU matmul's effective bandwidth
// (bytes of packed weights + scales read per second) at GLM-4-9B MLP shapes, measured in the same
// process, single- and multi-threaded, printed as GB/s and as a ratio to memcpy.
//
//   npx vite build --mode cli --ssr bench/cpu-matvec.ts --outDir dist/bench && node dist/bench/main.js [--threads N] [--quick]
//
// Why a weight set much larger than the caches: decode reads every layer's weights once per token,
// so they always come from DRAM. Each measurement cycles through enough distinct tensors (>= 256 MiB)
// that nothing survives in L2/L3 between two uses of one tensor. Best of several passes: the machine
// may be shared, and the best pass is the closest to what the hardware can do.
import { createFastMatmul, type FastMatmul } from '../src/cpu/fast-matmul';
import { matmulQuant } from '../src/cpu/quant-matmul';
import { groupsPerRowOf, halfPairWords, quantizedBytes, type QuantizedTensor } from '../src/quant/types';

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.indexOf('--threads');
const SET_BYTES = (quick ? 128 : 320) * MiB;
const PASSES = quick ? 3 : 6;

/** xorshift32: fast deterministic fill; the kernels' speed does not depend on the values. */
function fillRandom(words: Uint32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s >>> 0;
  }
}

function randomTensor(kind: 'q4' | 'q8', rows: number, cols: number, seed: number): QuantizedTensor {
  const gpr = groupsPerRowOf(cols);
  const groups = rows * gpr;
  const packed = new Uint32Array(groups * (kind === 'q4' ? 4 : 8));
  fillRandom(packed, seed);
  // f16 scales around 2^-7 (0x2000..0x23ff): realistic magnitudes, no subnormals.
  const scales = new Uint32Array(halfPairWords(groups));
  fillRandom(scales, seed + 1);
  for (let i = 0; i < scales.length; i++) scales[i] = (scales[i]! & 0x03ff03ff) | 0x20002000;
  return kind === 'q4' ? { dtype: 'q4', rows, cols, groupsPerRow: gpr, packed, scales } : { dtype: 'q8', rows, cols, groupsPerRow: gpr, packed, scales };
}

/** Best GB/s of TypedArray.set over `bytes` (bytes copied per second). */
function memcpyGBs(bytes: number, reps: number): number {
  const src = new Uint8Array(bytes);
  const dst = new Uint8Array(bytes);
  src.fill(1);
  dst.fill(2); // touch every page first so the timing excludes page faults
  let best = 0;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    dst.set(src);
    const s = (performance.now() - t) / 1000;
    best = Math.max(best, bytes / s / 1e9);
  }
  return best;
}

interface Result {
  gbs: number;
  msPerCall: number;
}

/** Runs matmul over every tensor of the set, PASSES times; best pass. */
function measure(fm: FastMatmul, set: QuantizedTensor[], n: number): Result {
  const cols = set[0]!.cols;
  const x = new Float32Array(n * cols);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i) * 0.5;
  for (const w of set) fm.upload(w);
  fm.matmul(x, n, set[0]!); // warm-up: tier-up of the kernels
  let sink = 0;
  const bytes = set.reduce((sum, w) => sum + quantizedBytes(w), 0);
  let best = Infinity;
  for (let p = 0; p < PASSES; p++) {
    const t = performance.now();
    for (const w of set) sink += fm.matmul(x, n, w)[0]!;
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  if (Number.isNaN(sink)) console.log('(NaN sink)');
  return { gbs: bytes / best / 1e9, msPerCall: (best * 1000) / set.length };
}

function makeSet(kind: 'q4' | 'q8', rows: number, cols: number): QuantizedTensor[] {
  const one = randomTensor(kind, rows, cols, 1);
  const count = Math.max(2, Math.ceil(SET_BYTES / quantizedBytes(one)));
  return [one, ...Array.from({ length: count - 1 }, (_, i) => randomTensor(kind, rows, cols, 2 + 2 * i))];
}

const fmt = (v: number, d = 2) => v.toFixed(d);

async function main(): Promise<void> {
  const { availableParallelism } = await import('node:os');
  const multi = threadsArg >= 0 ? Number(args[threadsArg + 1]) : Math.min(8, availableParallelism());
  console.log(`cpu-matvec: node ${process.version}, ${availableParallelism()} hardware threads, weight set ${SET_BYTES / MiB} MiB per shape, best of ${PASSES} passes`);

  const memcpy = memcpyGBs(512 * MiB, 6);
  console.log(`memcpy (TypedArray.set, 512 MiB, best of 6): ${fmt(memcpy)} GB/s (bytes copied per second)\n`);

  const shapes: { name: string; kind: 'q4' | 'q8'; rows: number; cols: number; n: number }[] = [
    { name: 'q4 up   13696x4096  n=1', kind: 'q4', rows: 13696, cols: 4096, n: 1 },
    { name: 'q4 down 4096x13696  n=1', kind: 'q4', rows: 4096, cols: 13696, n: 1 },
    { name: 'q8 up   13696x4096  n=1', kind: 'q8', rows: 13696, cols: 4096, n: 1 },
    { name: 'q4 up   13696x4096  n=16', kind: 'q4', rows: 13696, cols: 4096, n: 16 },
  ];
  const configs = [1, ...(multi > 1 ? [multi] : [])];
  console.log('shape                      threads   ms/call   GB/s   / memcpy   GFLOP/s');
  const lines: string[] = [];
  for (const shape of shapes) {
    const set = makeSet(shape.kind, shape.rows, shape.cols);
    for (const threads of configs) {
      const fm = await createFastMatmul({ threads });
      if (fm.threads !== threads) console.log(`  (asked for ${threads} threads, got ${fm.description})`);
      try {
        const r = measure(fm, set, shape.n);
        const gflops = (2 * shape.n * shape.rows * shape.cols) / (r.msPerCall / 1000) / 1e9;
        const line = `${shape.name.padEnd(26)} ${String(fm.threads).padStart(7)} ${fmt(r.msPerCall).padStart(9)} ${fmt(r.gbs).padStart(6)} ${fmt(r.gbs / memcpy).padStart(10)} ${fmt(gflops, 1).padStart(9)}`;
        console.log(line);
        lines.push(line);
      } finally {
        fm.dispose();
      }
    }
  }

  // The plain-TS reference on one tensor, for scale (it is the fallback without WASM SIMD).
  const w = randomTensor('q4', 13696, 4096, 99);
  const x = new Float32Array(4096).fill(0.25);
  matmulQuant(x, 1, w);
  const t = performance.now();
  const reps = quick ? 1 : 3;
  for (let i = 0; i < reps; i++) matmulQuant(x, 1, w);
  const ms = (performance.now() - t) / reps;
  const gbs = quantizedBytes(w) / (ms / 1000) / 1e9;
  console.log(`${'q4 up (TS matmulQuant)'.padEnd(26)} ${'1'.padStart(7)} ${fmt(ms).padStart(9)} ${fmt(gbs).padStart(6)} ${fmt(gbs / memcpy).padStart(10)}`);
}

await main();
