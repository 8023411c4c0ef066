// The fast CPU matmul (src/cpu/fast-matmul.ts) against its reference twin matmulQuant, over odd
// shapes, both Q4 forms and Q8; the forced TS path; threads vs one thread; weights split over several
// wasm memories; and the committed wasm bytes against the .wat source.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileQuantMatmul, OUT_PATH, renderQuantMatmulTs, WAT_PATH } from '../../scripts/build-wasm.mjs';
import { createFastMatmul, wasmSimdSupported, type FastMatmul } from '../../src/cpu/fast-matmul';
import { matmulQuant } from '../../src/cpu/quant-matmul';
import { MatmulThreadError, MatmulThreadPool, type KernelExports } from '../../src/cpu/threads';
import { QUANT_MATMUL_WASM_SHARED, QUANT_MATMUL_WASM_UNSHARED } from '../../src/cpu/wasm/quant-matmul.wasm';
import { InvalidArgumentError } from '../../src/errors';
import { f16ToF32 } from '../../src/formats/dtype';
import { dequantize, getHalf, quantizeQ4, quantizeQ8, type Q4Tensor, type Q8Tensor } from '../../src/quant';

type QuantizedTensor = Q4Tensor | Q8Tensor; // the kinds the WASM kernels run (QX runs through matmulQuant)
import { randomArray } from '../helpers/random';

/**
 * Float rounding. The WASM kernels sum each group in integers (exact), then convert, multiply by the
 * group's scale and add to a float32 accumulator in four lanes, in another order than the reference;
 * asymmetric Q4 adds min * sum(x) separately (partial sums up to sum_k |x_k| * (|w_rk| + |min|)). Each
 * add rounds by at most 2^-24 of its partial sum and a row has at most a few hundred adds in these
 * shapes: 2^-16 of the partial-sum bound leaves a wide margin.
 */
const ROUNDING_REL_TOL = 2 ** -16;

/**
 * Activation quantization, the one numerical difference from matmulQuant beyond rounding: the kernels
 * quantize each group of 32 activations to int16 with the scale sx = absmax / 32767, so every
 * activation moves by at most sx / 2, plus the float32 roundings of x * (32767 / absmax) and of sx
 * (each at most 2^-24 * 32767 * sx): |x - x'| <= 0.51 * absmax / 32767 < 2^-15.9 * absmax. The error
 * of one output is then at most sum over groups of 2^-15.9 * absmax_g * sum_k |weight multiplying x_k|
 * (for asymmetric Q4 the codes times the scale, |w - min|: the mins multiply the unquantized sum of
 * x). 2^-15 below: a margin of almost 2.
 * For scale: a relative error of 1.5e-5 of the group's largest activation, against Q4's weight step
 * of 1/15 of the group's range (and Q8's 1/254).
 */
const ACT_QUANT_REL_TOL = 2 ** -15;

type Kind = 'q4' | 'q4-asym' | 'q8';
const KINDS: Kind[] = ['q4', 'q4-asym', 'q8'];

function makeWeight(kind: Kind, rows: number, cols: number, seed: number): QuantizedTensor {
  const data = randomArray(rows * cols, seed, 0.5);
  if (kind === 'q8') return quantizeQ8(data, rows, cols);
  return quantizeQ4(data, rows, cols, { asymmetric: kind === 'q4-asym' });
}

/** Group g's min (asymmetric Q4), else 0. */
function minOf(w: QuantizedTensor, gi: number): number {
  return w.dtype === 'q4' && w.mins ? f16ToF32(getHalf(w.mins, gi)) : 0;
}

/**
 * Per output element, the error allowed against matmulQuant (see the two tolerances above):
 *   rounding:      2^-16 * (sum_k |x_k| * (|w_rk| + offset * scale_rk + |min_rg|) + |bias_r|)
 *   quantization:  2^-15 * sum_g absmax_g(x) * sum_{k in g} |w_rk - min_rg|
 * The offset term (8 for symmetric Q4) keeps the previous kernels' margin; the WASM kernels add the
 * Q4 offset correction in integers, so it is not needed, only kept.
 */
function tolerance(x: Float32Array, n: number, w: QuantizedTensor, bias?: Float32Array): Float64Array {
  const dense = dequantize(w);
  const offset = w.dtype === 'q4' && !w.mins ? 8 : 0;
  const out = new Float64Array(n * w.rows);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < w.rows; r++) {
      let rounding = bias ? Math.abs(bias[r]!) : 0;
      let quant = 0;
      for (let g = 0; g < w.groupsPerRow; g++) {
        const gi = r * w.groupsPerRow + g;
        const min = minOf(w, gi);
        const shift = offset * Math.abs(f16ToF32(getHalf(w.scales, gi))) + Math.abs(min);
        let absmax = 0;
        let weights = 0;
        for (let k = g * 32; k < Math.min(w.cols, g * 32 + 32); k++) {
          const xk = x[i * w.cols + k]!;
          const wk = dense[r * w.cols + k]!;
          rounding += Math.abs(xk) * (Math.abs(wk) + shift);
          absmax = Math.max(absmax, Math.abs(xk));
          weights += Math.abs(wk - min);
        }
        quant += absmax * weights;
      }
      out[i * w.rows + r] = ROUNDING_REL_TOL * rounding + ACT_QUANT_REL_TOL * quant;
    }
  }
  return out;
}

function expectWithin(got: Float32Array, want: Float32Array, tol: Float64Array, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tol[i]!)) expect.fail(`${label}: failed at index ${i}: got ${got[i]}, expected ${want[i]} (|err| ${err} > tol ${tol[i]})`);
  }
}

function expectBitEqual(got: Float32Array, want: Float32Array, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${label}: failed at index ${i}: got ${got[i]}, expected ${want[i]}`);
  }
}

const COLS = [1, 31, 33, 100, 257];
const ROWS = [1, 3, 65];
const NS = [1, 3];

describe('fast CPU matmul', () => {
  let single: FastMatmul;
  let threaded: FastMatmul;

  beforeAll(async () => {
    single = await createFastMatmul({ backend: 'wasm-simd', threads: 1 });
    // minParallelGroups 0: even the tiny shapes go through the pool; callerTakesBlocks false: the
    // worker computes every row, so these tests compare what a worker thread computed.
    threaded = await createFastMatmul({ backend: 'wasm-simd', threads: 2, minParallelGroups: 0, callerTakesBlocks: false });
  });
  afterAll(() => {
    single?.dispose();
    threaded?.dispose();
  });

  it('has WebAssembly SIMD and threads under Node', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(single.backend).toBe('wasm-simd');
    expect(single.threads).toBe(1);
    expect(threaded.threads, threaded.description).toBe(2);
  });

  it('committed wasm bytes match quant-matmul.wat (run `npm run build:wasm` after editing it)', async () => {
    const bins = await compileQuantMatmul(await readFile(WAT_PATH, 'utf8'));
    const committed = await readFile(OUT_PATH, 'utf8');
    expect(committed === renderQuantMatmulTs(bins), `${OUT_PATH} is out of date: run npm run build:wasm`).toBe(true);
    expect(WebAssembly.validate(bins.shared)).toBe(true);
    expect(WebAssembly.validate(bins.unshared)).toBe(true);
  });

  it('decodes every f16 bit pattern like f16ToF32 (scale table)', () => {
    const bytes = Uint8Array.from(atob(QUANT_MATMUL_WASM_UNSHARED), (c) => c.charCodeAt(0));
    const memory = new WebAssembly.Memory({ initial: 5, maximum: 65536 });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    (exports.init as () => void)();
    const table = new Float32Array(memory.buffer, 0, 65536);
    for (let h = 0; h < 65536; h++) {
      const want = f16ToF32(h);
      if (!Object.is(table[h], want) && !(Number.isNaN(want) && Number.isNaN(table[h]!))) {
        expect.fail(`f16 0x${h.toString(16)}: got ${table[h]}, expected ${want}`);
      }
    }
  });

  for (const kind of KINDS) {
    it(`${kind}: WASM SIMD matches matmulQuant over odd shapes, with and without bias`, () => {
      let seed = 1;
      let cases = 0;
      for (const cols of COLS) {
        for (const rows of ROWS) {
          const w = makeWeight(kind, rows, cols, seed++);
          for (const n of NS) {
            const x = randomArray(n * cols, seed++, 2);
            for (const bias of [undefined, randomArray(rows, seed++, 1)]) {
              const label = `${kind} rows=${rows} cols=${cols} n=${n}${bias ? ' +bias' : ''}`;
              const want = matmulQuant(x, n, w, bias);
              const got = single.matmul(x, n, w, bias);
              expectWithin(got, want, tolerance(x, n, w, bias), label);
              cases++;
            }
          }
        }
      }
      expect(cases).toBe(COLS.length * ROWS.length * NS.length * 2);
    });
  }

  it('decode (n = 1) and prefill (n > 1) kernels give the same bits for a row', () => {
    // The *_vec kernels add the Q4 offset as an integer correction, the *_mat kernels subtract it from
    // the codes: the same integers, then the same float steps (quant-matmul.wat).
    let seed = 700;
    for (const kind of KINDS) {
      for (const [rows, cols] of [[37, 100], [6, 257], [9, 4096]] as const) {
        const w = makeWeight(kind, rows, cols, seed++);
        const n = 5;
        const x = randomArray(n * cols, seed++, 2);
        const all = single.matmul(x, n, w);
        for (let i = 0; i < n; i++) {
          const one = single.matmul(x.subarray(i * cols, (i + 1) * cols), 1, w);
          expectBitEqual(one, all.subarray(i * rows, (i + 1) * rows), `${kind} ${rows}x${cols} row ${i}`);
        }
      }
    }
  });

  it('activations with outliers, zero groups and tiny values stay within the quantization bound', () => {
    let seed = 800;
    for (const kind of KINDS) {
      const [rows, cols, n] = [19, 200, 2];
      const w = makeWeight(kind, rows, cols, seed++);
      const x = randomArray(n * cols, seed++, 1);
      x[3] = 900; // one outlier: its group's other activations lose precision, the rest do not
      x[cols + 70] = -2500;
      x.fill(0, 32, 64); // an all-zero group
      for (let k = 96; k < 128; k++) x[k] = x[k]! * 1e-30; // a group of tiny values
      expectWithin(single.matmul(x, n, w), matmulQuant(x, n, w), tolerance(x, n, w), `${kind} outliers`);
    }
  });

  it('non-finite activations give non-finite outputs, like matmulQuant', () => {
    let seed = 900;
    for (const kind of KINDS) {
      const [rows, cols] = [5, 70];
      const w = makeWeight(kind, rows, cols, seed++);
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const x = randomArray(cols, seed++, 1);
        x[40] = bad;
        const want = matmulQuant(x, 1, w);
        const got = single.matmul(x, 1, w);
        for (let r = 0; r < rows; r++) {
          // The reference may give +-inf where the kernels give NaN (sx is inf, its xq are 0).
          expect(Number.isFinite(want[r]!), `${kind} ${bad} reference row ${r}`).toBe(false);
          expect(Number.isFinite(got[r]!), `${kind} ${bad} row ${r}: ${got[r]}`).toBe(false);
        }
      }
    }
  });

  it('the forced TS path is matmulQuant', async () => {
    const ts = await createFastMatmul({ backend: 'ts' });
    expect(ts.backend).toBe('ts');
    let seed = 100;
    for (const kind of KINDS) {
      for (const [rows, cols, n] of [[3, 33, 1], [65, 257, 3]] as const) {
        const w = makeWeight(kind, rows, cols, seed++);
        const x = randomArray(n * cols, seed++, 2);
        const bias = randomArray(rows, seed++, 1);
        const got = ts.matmul(x, n, w, bias);
        expectBitEqual(got, matmulQuant(x, n, w, bias), `ts ${kind} ${rows}x${cols} n=${n}`);
        // and it agrees with the WASM path like the reference does
        expectWithin(single.matmul(x, n, w, bias), got, tolerance(x, n, w, bias), `wasm vs ts ${kind}`);
      }
    }
  });

  it('threaded results equal single-threaded ones bit for bit', () => {
    let seed = 200;
    for (const kind of KINDS) {
      for (const [rows, cols, n] of [[1, 31, 1], [3, 33, 3], [65, 257, 1], [65, 257, 3], [301, 512, 1], [301, 512, 7]] as const) {
        const w = makeWeight(kind, rows, cols, seed++);
        const x = randomArray(n * cols, seed++, 2);
        const bias = randomArray(rows, seed++, 1);
        expectBitEqual(threaded.matmul(x, n, w, bias), single.matmul(x, n, w, bias), `threaded ${kind} ${rows}x${cols} n=${n}`);
      }
    }
  });

  it('prefill with more activation rows than one tile or one scratch slice', () => {
    let seed = 300;
    for (const kind of KINDS) {
      const [rows, cols, n] = [40, 4096, 70];
      const w = makeWeight(kind, rows, cols, seed++);
      const x = randomArray(n * cols, seed++, 2);
      const want = matmulQuant(x, n, w);
      expectWithin(single.matmul(x, n, w), want, tolerance(x, n, w), `${kind} n=${n}`);
      expectBitEqual(threaded.matmul(x, n, w), single.matmul(x, n, w), `threaded ${kind} n=${n}`);
    }
  });

  it('splits weights over several small wasm memories (chunks by rows) with the same results', async () => {
    // 512 KiB arenas: 256 KiB table + 64 KiB scratch leave about 190 KiB for weights, so the
    // 1000-row tensors below (about 260 KiB of Q8, 144 KiB of Q4 each) need several arenas, and the
    // small scratch forces several activation slices per call.
    for (const threads of [1, 2]) {
      const small = await createFastMatmul({
        backend: 'wasm-simd',
        threads,
        arenaBytes: 512 * 1024,
        scratchBytes: 64 * 1024,
        minParallelGroups: 0,
        callerTakesBlocks: false,
      });
      try {
        let seed = 400;
        const before = small.memoryBytes();
        for (const kind of KINDS) {
          const [rows, cols, n] = [1000, 250, 13];
          const w = makeWeight(kind, rows, cols, seed++);
          const x = randomArray(n * cols, seed++, 2);
          const bias = randomArray(rows, seed++, 1);
          expectBitEqual(small.matmul(x, n, w, bias), single.matmul(x, n, w, bias), `${threads} thread(s), small arenas, ${kind}`);
          const x1 = x.subarray(0, cols);
          expectBitEqual(small.matmul(x1, 1, w), single.matmul(x1, 1, w), `${threads} thread(s), small arenas, ${kind} n=1`);
        }
        expect(small.memoryBytes()).toBeGreaterThan(before + 3 * 512 * 1024);
      } finally {
        small.dispose();
      }
    }
  });

  it('copies a tensor once and reuses it; n = 0 and bad shapes', () => {
    const w = makeWeight('q4', 65, 257, 500);
    const x = randomArray(257, 501, 1);
    single.upload(w);
    const held = single.memoryBytes();
    const a = single.matmul(x, 1, w);
    const b = single.matmul(x, 1, w);
    expectBitEqual(a, b, 'repeat');
    expect(single.memoryBytes()).toBe(held);
    expect(single.matmul(new Float32Array(0), 0, w).length).toBe(0);
    expect(() => single.matmul(x, 2, w)).toThrow(InvalidArgumentError);
    expect(() => single.matmul(x, 1, w, new Float32Array(3))).toThrow(InvalidArgumentError);
    expect(() => single.matmul(x, 1.5, w)).toThrow(InvalidArgumentError);
  });

  it('a kernel that traps in a worker is reported by the caller, and the pool keeps working', async () => {
    const bytes = Uint8Array.from(atob(QUANT_MATMUL_WASM_SHARED), (c) => c.charCodeAt(0));
    const module = await WebAssembly.compile(bytes);
    const memory = new WebAssembly.Memory({ initial: 8, maximum: 64, shared: true } as WebAssembly.MemoryDescriptor);
    const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
    kernels.init();
    const pool = await MatmulThreadPool.create({ threads: 2, module, memories: [memory], callerTakesBlocks: false });
    try {
      // One weight row whose codes lie past the memory: the worker traps.
      const zeros = 300_000; // a zeroed region above the f16 table, inside the 8 pages
      // gpr w s m x out outStride n nb acc accStride (see quant-matmul.wat and MatmulJob)
      const out = zeros + 8192;
      const args = (w: number) => [1, w, zeros, 0, zeros + 4096, out, 1, 1, 1, zeros + 16384, 128];
      expect(() => pool.run({ fn: 0, arena: 0, rows: 1, args: args(0x7ff00000) }, [kernels])).toThrow(MatmulThreadError);
      expect(() => pool.run({ fn: 0, arena: 0, rows: 1, args: args(0x7ff00000) }, [kernels])).toThrow(/thread 1 failed: RuntimeError/);
      new Float32Array(memory.buffer, out, 1)[0] = 1;
      pool.run({ fn: 0, arena: 0, rows: 1, args: args(zeros) }, [kernels]);
      expect(pool.failure).toBeUndefined();
      expect(new Float32Array(memory.buffer, out, 1)[0]).toBe(0); // zero codes and activations: the worker wrote 0
    } finally {
      pool.dispose();
    }
  });

  it('the caller and the workers share one job (both take blocks) with the same results', async () => {
    const both = await createFastMatmul({ backend: 'wasm-simd', threads: 2, minParallelGroups: 0 });
    try {
      let seed = 600;
      for (const kind of KINDS) {
        const [rows, cols, n] = [2000, 1024, 1];
        const w = makeWeight(kind, rows, cols, seed++);
        const x = randomArray(n * cols, seed++, 2);
        for (let rep = 0; rep < 3; rep++) expectBitEqual(both.matmul(x, n, w), single.matmul(x, n, w), `caller + worker ${kind}`);
      }
    } finally {
      both.dispose();
    }
  });
});
