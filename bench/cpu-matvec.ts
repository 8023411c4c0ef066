// CPU matvec benchmark: the machine's memcpy bandwidth and the fast CPU matmul's effective bandwidth
// (bytes of packed weights + scales read per second) at GLM-4-9B MLP shapes, measured in the same
// process, single- and multi-threaded, printed as GB/s and as a ratio to memcpy.
//
//   npx vite build --mode cli --ssr bench/cpu-matvec.ts --outDir dist/bench && node dist/bench/main.js [--threads N] [--quick]
//
// Why a weight set much larger than the caches: decode reads every layer's weights once per token,
// so they always come from DRAM. Each measurement cycles through enough distinct tensors (>= 256 MiB)
// that nothing survives in L2/L3 between two uses of one tensor.
//
// Best of several passes, for memcpy and for every kernel configuration alike, and interleaved: each
// pass of a shape takes one memcpy sample and one pass of every thread count, so a slow period of a
// shared machine (the 2-core development VM's timings vary by 20-40% from one second to the next)
// weighs on all of them. A shape's ratios divide by the best of its own memcpy samples: as many
// samples as kernel passes, taken in the same stretch of time.
import { createFastMatmul, type FastMatmul } from '../src/cpu/fast-matmul';
import { matmulQuant } from '../src/cpu/quant-matmul';
import { groupsPerRowOf, halfPairWords, quantizedBytes, type QuantizedTensor } from '../src/quant/types';

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.indexOf('--threads');
const SET_BYTES = (quick ? 128 : 320) * MiB;
const PASSES = quick ? 3 : 20;

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

/** memcpy probe: TypedArray.set over `bytes`, GB/s = bytes copied per second. */
class MemcpyProbe {
  private readonly src: Uint8Array;
  private readonly dst: Uint8Array;
  constructor(private readonly bytes: number) {
    this.src = new Uint8Array(bytes);
    this.dst = new Uint8Array(bytes);
    this.src.fill(1);
    this.dst.fill(2); // touch every page first so the timing excludes page faults
  }
  sample(): number {
    const t = performance.now();
    this.dst.set(this.src);
    return this.bytes / ((performance.now() - t) / 1000) / 1e9;
  }
}

/** One configuration of one shape: a FastMatmul with the set uploaded, and its best pass so far. */
class Subject {
  private readonly x: Float32Array;
  private readonly bytes: number;
  private best = Infinity;
  sink = 0;
  constructor(
    readonly fm: FastMatmul,
    private readonly set: QuantizedTensor[],
    private readonly n: number,
  ) {
    const cols = set[0]!.cols;
    this.x = new Float32Array(n * cols);
    for (let i = 0; i < this.x.length; i++) this.x[i] = Math.sin(i) * 0.5;
    for (const w of set) fm.upload(w);
    fm.matmul(this.x, n, set[0]!); // warm-up: tier-up of the kernels
    this.bytes = set.reduce((sum, w) => sum + quantizedBytes(w), 0);
  }
  /** One pass: matmul over every tensor of the set. */
  pass(): void {
    const t = performance.now();
    for (const w of this.set) this.sink += this.fm.matmul(this.x, this.n, w)[0]!;
    this.best = Math.min(this.best, (performance.now() - t) / 1000);
  }
  result(): Result {
    return { gbs: this.bytes / this.best / 1e9, msPerCall: (this.best * 1000) / this.set.length };
  }
}

interface Result {
  gbs: number;
  msPerCall: number;
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

  const memcpy = new MemcpyProbe(512 * MiB);
  memcpy.sample(); // first touch of the copy loop

  const shapes: { name: string; kind: 'q4' | 'q8'; rows: number; cols: number; n: number }[] = [
    { name: 'q4 up   13696x4096  n=1', kind: 'q4', rows: 13696, cols: 4096, n: 1 },
    { name: 'q4 down 4096x13696  n=1', kind: 'q4', rows: 4096, cols: 13696, n: 1 },
    { name: 'q8 up   13696x4096  n=1', kind: 'q8', rows: 13696, cols: 4096, n: 1 },
    { name: 'q4 up   13696x4096  n=16', kind: 'q4', rows: 13696, cols: 4096, n: 16 },
  ];
  const configs = [1, ...(multi > 1 ? [multi] : [])];
  const rows: { shape: (typeof shapes)[number]; threads: number; r: Result; memcpy: number }[] = [];
  for (const shape of shapes) {
    const set = makeSet(shape.kind, shape.rows, shape.cols);
    const subjects: Subject[] = [];
    try {
      for (const threads of configs) {
        const fm = await createFastMatmul({ threads });
        if (fm.threads !== threads) console.log(`  (asked for ${threads} threads, got ${fm.description})`);
        subjects.push(new Subject(fm, set, shape.n));
      }
      // Interleaved: each pass samples memcpy and every configuration, so that a slow period of a
      // shared machine weighs on all the figures compared, not on whichever happened to run then.
      let shapeMemcpy = 0;
      for (let p = 0; p < PASSES; p++) {
        shapeMemcpy = Math.max(shapeMemcpy, memcpy.sample());
        for (const subject of subjects) subject.pass();
      }
      for (const subject of subjects) {
        if (Number.isNaN(subject.sink)) console.log('(NaN sink)');
        rows.push({ shape, threads: subject.fm.threads, r: subject.result(), memcpy: shapeMemcpy });
      }
    } finally {
      for (const subject of subjects) subject.fm.dispose();
    }
  }

  const best = Math.max(...rows.map((row) => row.memcpy));
  console.log(
    `memcpy (TypedArray.set, 512 MiB, bytes copied per second): best of each shape's ${PASSES} samples, taken between its passes; ` +
      `best of the run ${fmt(best)} GB/s\n`,
  );
  console.log('shape                      threads   ms/call   GB/s   memcpy   / memcpy   GFLOP/s');
  for (const { shape, threads, r, memcpy: m } of rows) {
    const gflops = (2 * shape.n * shape.rows * shape.cols) / (r.msPerCall / 1000) / 1e9;
    console.log(
      `${shape.name.padEnd(26)} ${String(threads).padStart(7)} ${fmt(r.msPerCall).padStart(9)} ${fmt(r.gbs).padStart(6)} ${fmt(m).padStart(8)} ${fmt(r.gbs / m).padStart(10)} ${fmt(gflops, 1).padStart(9)}`,
    );
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
  console.log(`${'q4 up (TS matmulQuant)'.padEnd(26)} ${'1'.padStart(7)} ${fmt(ms).padStart(9)} ${fmt(gbs).padStart(6)} ${fmt(best).padStart(8)} ${fmt(gbs / best).padStart(10)}`);
}

await main();
