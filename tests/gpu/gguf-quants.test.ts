// GGUF block types on the GPU (issue #14): QX weights (K-quants, Q5_0/Q5_1; shaders/lib/weights_qx.wgsl)
// through every matmul path and the embedding gather against the CPU twin over odd shapes, and every
// llama.cpp-quantized peer fixture's logits and greedy ids on the GPU backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { CpuOps, cpuTensor } from '../../src/cpu/ops';
import { GpuOps, type GemvArithmetic } from '../../src/gpu/ops';
import { GEMV_MODES, gemvTwin } from '../helpers/gemv-modes';
import { hostTensor } from '../../src/model/tensor';
import { dequantizeRows } from '../../src/quant/rows';
import { ModelSession } from '../../src/runtime/session';
import { expectAllClose } from '../helpers/compare';
import { randomArray } from '../helpers/random';
import { GGUF_BLOCKS } from '../../src/quant/gguf-blocks';
import { GGUF_QUANTS_LOGITS_ATOL, QX_TYPES, ggufQuantCases, ggufQuantsExpected, loadGgufQuant, randomGgufWeight } from '../helpers/gguf-quants';

/** f32 sums in another order than the CPU twin's (see matmul-gemv-q4.test.ts). */
const ATOL_PER_SQRT_K = 2e-6;
const RTOL = 2e-5;

let ops: GpuOps;
/** The twin of the GEMV arithmetic under test (gemvTwin). */
let cpu = new CpuOps();
let mode: GemvArithmetic = 'float';

beforeAll(async () => {
  ops = new GpuOps(await testGpu());
});
afterAll(() => ops?.dispose());

// Both decode GEMV arithmetics (issue #17: QX takes the int8 group dot too, lib/weights_qx_int8.wgsl).
describe.each(GEMV_MODES)('gemv %s', (m) => {
  let own: GpuOps;
  beforeAll(async () => {
    mode = m;
    cpu = gemvTwin(m);
    own = new GpuOps(await testGpu(), { gemv: m, gemvQx: m });
  });
  afterAll(() => own?.dispose());

  describe('QX matmul (every GGUF type that imports as QX) vs the CPU twin', () => {
    for (const type of QX_TYPES) {
      it(`${type}: decode GEMV with epilogues, fused RMSNorm + SwiGLU, prefill GEMM, embedding rows`, async () => {
        const [size] = GGUF_BLOCKS[type];
        let seed = 40 + type.length;
        for (const [rows, blocksPerRow] of [[7, 3], [66, 1]] as const) {
          const cols = size * blocksPerRow;
          const w = randomGgufWeight(type, rows, blocksPerRow, seed++);
          expect(w.dtype).toBe('qx');
          const gw = await own.uploadWeight(w, `${type} w`);
          const bias = randomArray(rows, seed++);
          const gBias = await own.uploadWeight(hostTensor(bias, [rows]), 'bias');
          const atol = ATOL_PER_SQRT_K * Math.sqrt(cols);
          for (const n of [1, 3]) {
            const x = cpuTensor(n, cols, randomArray(n * cols, seed++));
            const residual = cpuTensor(n, rows, randomArray(n * rows, seed++));
            const epilogue = { bias: gBias, residual: own.upload(residual.data, n, rows), residualScale: 0.5 };
            const got = await own.read(own.matmul(own.upload(x.data, n, cols), gw, epilogue));
            const want = cpu.matmul(x, w, { bias: hostTensor(bias, [rows]), residual, residualScale: 0.5 });
            expectAllClose(got, want.data, { atol, rtol: RTOL, label: `${type} matmul n=${n} [${rows}x${cols}]` });
          }
          // The MLP's fused path: RMSNorm prologue + SwiGLU epilogue in one GEMV (an even row count).
          if (rows % 2 === 0) {
            const norm = randomArray(cols, seed++).map((v) => 1 + 0.1 * v);
            const gNorm = await own.uploadWeight(hostTensor(norm, [cols]), 'norm');
            const x1 = cpuTensor(1, cols, randomArray(cols, seed++));
            const fused = await own.read(own.matmul(own.upload(x1.data, 1, cols), gw, { rmsNorm: { weight: gNorm, eps: 1e-5 }, activation: 'swiglu' }));
            const want = cpu.matmul(x1, w, { rmsNorm: { weight: hostTensor(norm, [cols]), eps: 1e-5 }, activation: 'swiglu' });
            expectAllClose(fused, want.data, { atol, rtol: 5e-5, label: `${type} rmsNorm + swiglu [${rows}x${cols}]` });
          }
          // Embedding gather decodes rows on the GPU through weight_value.
          const ids = Int32Array.from([rows - 1, 0, Math.floor(rows / 2)]);
          const emb = await own.read(own.embed(gw, ids));
          expectAllClose(emb, dequantizeRows(w, ids), { atol: 0, label: `${type} embed rows` });
        }
      });
    }
  });

  describe('QX weights split by rows (maxBindingBytes)', () => {
    it('slices codes, high bits and sub-scales per part; the general GEMV (SwiGLU over parts) and GEMM agree with the CPU twin', async () => {
      let seed = 300;
      for (const type of ['Q5_0', 'Q2_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const) {
        const [size] = GGUF_BLOCKS[type];
        const cols = size === 32 ? 96 : 256;
        const rows = 14;
        const w = randomGgufWeight(type, rows, cols / size, seed++);
        // 16 bytes of low codes per group is every QX form's largest buffer per row: 5 rows a part.
        const split = new GpuOps(await testGpu(), { gemv: mode, gemvQx: mode, maxBindingBytes: 5 * (cols / 32) * 16 + 4 });
        try {
          const gw = await split.uploadWeight(w, `${type} split`);
          expect(gw.parts.length).toBe(3);
          const atol = ATOL_PER_SQRT_K * Math.sqrt(cols);
          for (const n of [1, 2]) {
            const x = cpuTensor(n, cols, randomArray(n * cols, seed++));
            const got = await split.read(split.matmul(split.upload(x.data, n, cols), gw));
            expectAllClose(got, cpu.matmul(x, w).data, { atol, rtol: RTOL, label: `${type} split matmul n=${n}` });
          }
          const x1 = cpuTensor(1, cols, randomArray(cols, seed++));
          const got = await split.read(split.matmul(split.upload(x1.data, 1, cols), gw, { activation: 'swiglu' }));
          expectAllClose(got, cpu.matmul(x1, w, { activation: 'swiglu' }).data, { atol, rtol: 5e-5, label: `${type} split swiglu (general GEMV)` });
          const ids = Int32Array.from([13, 0, 5, 9]);
          expectAllClose(await split.read(split.embed(gw, ids)), dequantizeRows(w, ids), { atol: 0, label: `${type} split embed` });
        } finally {
          split.dispose();
        }
      }
    });
  });
});

describe('llama.cpp-quantized GGUF fixtures on the GPU backend', () => {
  for (const { model, type } of ggufQuantCases()) {
    it(`${model} ${type}: logits within ${GGUF_QUANTS_LOGITS_ATOL} of logits_deq, greedy ids = greedy_deq`, async () => {
      const exp = ggufQuantsExpected(model);
      const want = exp.files[type]!;
      const m = await loadGgufQuant(model, type);
      const weights = await ops.uploadWeights(m.weights);
      const ids = exp.prompt_ids;
      const s = new ModelSession(ops, m.config, weights, ids.length + exp.n_new);
      const logits = await s.ops.read(await s.append(ids, 'all'));
      expectAllClose(logits, want.logits_deq.flat(), { atol: GGUF_QUANTS_LOGITS_ATOL, label: `${model}/${type} prompt logits (GPU)` });
      const out: number[] = [];
      let last = logits.subarray(logits.length - m.config.vocabSize);
      while (out.length < exp.n_new) {
        let best = 0;
        for (let i = 1; i < last.length; i++) if (last[i]! > last[best]!) best = i;
        out.push(best);
        if (out.length === exp.n_new) break;
        last = await s.ops.read(await s.append([best], 'last'));
      }
      expect(out).toEqual(want.greedy_deq);
      ops.releaseWeights(weights);
    });
  }
});
