// GGUF block types (issue #14): every llama.cpp-quantized peer fixture gives llama.cpp's logits and
// greedy ids on the CPU backend, and every block type's repack equals llama.cpp's dequantization
// (gguf-blocks.ts dequantizeGgufReference, a loop-for-loop twin of ggml-quants.c) on the fixtures' real
// blocks and on random blocks of odd shapes, and the CPU matmul on QX weights matches dense float32.
import { describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/cpu/ops';
import { f16ToF32, f32ToF16 } from '../../src/formats/dtype';
import { GGUF_DEFAULT_CONTEXT, openGguf } from '../../src/formats/gguf';
import { memoryByteSource } from '../../src/formats/byte-source';
import { GGUF_BLOCKS, dequantizeGgufReference, importGgufBlocks, type GgufBlockType } from '../../src/quant/gguf-blocks';
import { dequantize } from '../../src/quant/index';
import { qxSuperStride } from '../../src/quant/qx';
import { ModelSession } from '../../src/runtime/session';
import type { HostWeight } from '../../src/model/weights';
import { expectAllClose } from '../helpers/compare';
import { GGUF_QUANTS_LOGITS_ATOL, ggufQuantBytes, ggufQuantCases, ggufQuantsExpected, loadGgufQuant } from '../helpers/gguf-quants';

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

describe('llama.cpp-quantized GGUF fixtures on the CPU backend', () => {
  for (const { model, type } of ggufQuantCases()) {
    it(`${model} ${type}: logits within ${GGUF_QUANTS_LOGITS_ATOL} of logits_deq, greedy ids = greedy_deq`, async () => {
      const exp = ggufQuantsExpected(model);
      const want = exp.files[type]!;
      const m = await loadGgufQuant(model, type);
      const ids = exp.prompt_ids;
      const s = new ModelSession(new CpuOps(), m.config, m.weights as never, ids.length + exp.n_new);
      const logits = await s.ops.read(await s.append(ids, 'all'));
      expectAllClose(logits, want.logits_deq.flat(), { atol: GGUF_QUANTS_LOGITS_ATOL, label: `${model}/${type} prompt logits` });
      const out: number[] = [];
      let last = logits.subarray(logits.length - m.config.vocabSize);
      while (out.length < exp.n_new) {
        out.push(argmax(last));
        if (out.length === exp.n_new) break;
        last = await s.ops.read(await s.append([out.at(-1)!], 'last'));
      }
      expect(out).toEqual(want.greedy_deq);
    });
  }
});

/**
 * The repack equals llama.cpp's float32 dequantization bit for bit (codes, f16 scales and the K-quants'
 * integer sub-scales are copied; d * sc is exact in float32). IQ4_XS is the exception: it runs as Q8
 * with one f16 scale per 32, so it equals the reference with d * (ls - 32) rounded to f16, and stays
 * within that rounding (2^-11 relative) of the float32 reference.
 */
function expectRepackMatches(type: GgufBlockType, raw: Uint8Array, got: Float32Array, what: string): void {
  const roundsScales = type === 'IQ4_XS';
  const ref = dequantizeGgufReference(type, raw, got.length, { f16ScaleProducts: roundsScales });
  for (let i = 0; i < ref.length; i++) {
    if (got[i] !== ref[i]) throw new Error(`${what}: failed at index ${i}: got ${got[i]}, expected ${ref[i]} (llama.cpp)`);
  }
  if (roundsScales) {
    const exact = dequantizeGgufReference(type, raw, got.length);
    for (let i = 0; i < exact.length; i++) {
      if (Math.abs(got[i]! - exact[i]!) > 2 ** -11 * Math.abs(exact[i]!)) throw new Error(`${what}: index ${i}: ${got[i]} vs llama.cpp ${exact[i]}`);
    }
  }
}

describe('GGUF block repacks equal llama.cpp dequantization', () => {
  it('on every quantized tensor of the fixtures (real llama-quantize blocks)', async () => {
    const seen = new Set<string>();
    for (const { model, type } of ggufQuantCases()) {
      const bytes = ggufQuantBytes(model, type);
      const g = await openGguf(memoryByteSource(bytes, `${model}/${type}.gguf`));
      for (const info of g.tensors.values()) {
        const t = info.typeName as GgufBlockType;
        if (!Object.hasOwn(GGUF_BLOCKS, t) || info.shape.length !== 2) continue;
        const raw = bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength);
        const [rows, cols] = info.shape as [number, number];
        expectRepackMatches(t, raw, dequantize(importGgufBlocks(t, raw, rows, cols)), `${model}/${type} ${info.name} (${t})`);
        seen.add(t);
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(GGUF_BLOCKS).sort());
  });

  // Random bytes are valid blocks of every type once the f16 fields hold finite, moderate values.
  function randomBlocks(type: GgufBlockType, blocks: number, seed: number): Uint8Array {
    const [, bb] = GGUF_BLOCKS[type];
    const out = new Uint8Array(blocks * bb);
    let s = seed >>> 0;
    for (let i = 0; i < out.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      out[i] = s >>> 24;
    }
    const halfAt: Record<GgufBlockType, number[]> = {
      Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], IQ4_NL: [0],
      Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208], IQ4_XS: [0],
    };
    for (let b = 0; b < blocks; b++) {
      for (const at of halfAt[type]) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        const bits = f32ToF16(((s >>> 8) / 2 ** 24 - 0.5) * 0.02);
        out[b * bb + at] = bits & 0xff;
        out[b * bb + at + 1] = bits >> 8;
      }
    }
    return out;
  }

  for (const type of Object.keys(GGUF_BLOCKS) as GgufBlockType[]) {
    it(`${type}: random blocks, odd shapes`, () => {
      const [size] = GGUF_BLOCKS[type];
      for (const [rows, blocksPerRow] of [[1, 1], [3, 3], [7, 2], [5, 5]] as const) {
        const cols = size * blocksPerRow;
        const raw = randomBlocks(type, rows * blocksPerRow, rows * 31 + blocksPerRow);
        const q = importGgufBlocks(type, raw, rows, cols);
        expect([q.rows, q.cols]).toEqual([rows, cols]);
        expectRepackMatches(type, raw, dequantize(q), `${type} ${rows}x${cols}`);
      }
    });
  }

  it('the reference decoder follows llama.cpp on hand-made blocks (Q4_0 and Q6_K)', () => {
    // Q4_0: d = 0.5, qs[0] = 0x9F: element 0 = (15 - 8) * 0.5, element 16 = (9 - 8) * 0.5.
    const q40 = new Uint8Array(18);
    const half = f32ToF16(0.5);
    q40[0] = half & 0xff;
    q40[1] = half >> 8;
    q40[2] = 0x9f;
    const y = dequantizeGgufReference('Q4_0', q40, 32);
    expect([y[0], y[16], y[1]]).toEqual([3.5, 0.5, -4]);
    // Q6_K: d = 1, scales[0] = -2, element 0: ql[0] low nibble 5, qh[0] bits 0..1 = 2 -> q = 5 + 32 - 32 = 5, value -10.
    const q6 = new Uint8Array(210);
    const one = f32ToF16(1);
    q6[208] = one & 0xff;
    q6[209] = one >> 8;
    q6[192] = 0xfe;
    q6[0] = 5;
    q6[128] = 2;
    expect(dequantizeGgufReference('Q6_K', q6, 256)[0]).toBe(-10);
    expect(f16ToF32(one)).toBe(1);
  });
});

// keep the HostWeight import honest for readers: the loader hands out Q4/Q8/QX tensors.
export type _Weights = HostWeight;

describe('CPU matmul on QX weights (the GPU kernels\' twin)', () => {
  for (const type of ['Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const) {
    it(`${type}: matmulQuant equals x · dequantize(W)ᵀ in float64 up to float32 rounding`, async () => {
      const { matmulQuant } = await import('../../src/cpu/quant-matmul');
      const [size, bb] = GGUF_BLOCKS[type];
      for (const [n, rows, blocksPerRow] of [[1, 5, 3], [3, 7, 1]] as const) {
        const cols = size * blocksPerRow;
        const raw = new Uint8Array(rows * blocksPerRow * bb);
        let s = 12345 + rows;
        for (let i = 0; i < raw.length; i++) raw[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
        const q = importGgufBlocks(type, raw, rows, cols);
        if (q.dtype !== 'qx') throw new Error(`${type} should become qx, got ${q.dtype}`);
        // Random bytes make arbitrary f16 super-scales: set moderate ones (the first word of each super-block).
        for (let i = 0; i < q.supers.length; i += qxSuperStride(q)) {
          q.supers[i] = (f32ToF16(0.01 * ((i % 7) - 3)) | (f32ToF16(0.003 * ((i % 5) - 2)) << 16)) >>> 0;
        }
        const x = Float32Array.from({ length: n * cols }, (_, i) => Math.sin(i * 0.37) * 0.8);
        const bias = Float32Array.from({ length: rows }, (_, i) => 0.1 * i);
        const got = matmulQuant(x, n, q, bias);
        const w = dequantize(q);
        for (let i = 0; i < n; i++) {
          for (let r = 0; r < rows; r++) {
            let want = bias[r]!;
            let mag = Math.abs(bias[r]!);
            for (let c = 0; c < cols; c++) {
              want += x[i * cols + c]! * w[r * cols + c]!;
              mag += Math.abs(x[i * cols + c]! * w[r * cols + c]!);
            }
            const err = Math.abs(got[i * rows + r]! - want);
            if (err > 1e-5 * mag + 1e-7) throw new Error(`${type} [${n}x${cols}]·[${rows}x${cols}]ᵀ: failed at (${i}, ${r}): got ${got[i * rows + r]}, expected ${want}`);
          }
        }
      }
    });
  }
});

describe('GGUF metadata of llama.cpp-converted HF glm checkpoints', () => {
  it('chatglm.context_length = hidden size (the converter\'s fallback) does not cap the context', async () => {
    const m = await loadGgufQuant('glm-kq', 'Q8_0');
    const g = await openGguf(memoryByteSource(ggufQuantBytes('glm-kq', 'Q8_0'), 'glm-kq/Q8_0.gguf'));
    expect(g.metadata.get('chatglm.context_length')).toBe(m.config.hiddenSize); // 256, as the README says
    expect(m.config.maxSequenceLength).toBe(GGUF_DEFAULT_CONTEXT);
    expect(JSON.stringify(m.rawConfig._gguf)).toMatch(/equals the hidden size/);
    // glm4 files carry a real value, which is kept.
    const g4 = await openGguf(memoryByteSource(ggufQuantBytes('glm4-kq', 'Q8_0'), 'glm4-kq/Q8_0.gguf'));
    const m4 = await loadGgufQuant('glm4-kq', 'Q8_0');
    expect(m4.config.maxSequenceLength).toBe(g4.metadata.get('glm4.context_length'));
  });
});

describe('a K-quant GGUF converted into a package (--quant none keeps the QX tensors)', () => {
  it('glm-kq Q4_K_M: the package holds qx tensors and gives the same logits as the .gguf', async () => {
    const { mkdtempSync, rmSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { runCli } = await import('../helpers/cli');
    const { nodeModelFiles } = await import('../../src/formats/node-files');
    const { loadModelFolder } = await import('../../src/model/load');
    const dir = mkdtempSync(join(tmpdir(), 'glm-gguf-pkg-'));
    try {
      const src = join(dir, 'Q4_K_M.gguf');
      writeFileSync(src, ggufQuantBytes('glm-kq', 'Q4_K_M'));
      const out = join(dir, 'pkg');
      const r = await runCli(['convert', '--model', src, '--out', out, '--quant', 'none']);
      expect(r.code, r.stderr).toBe(0);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { tensors: Record<string, { dtype: string; qx?: unknown }> };
      expect(manifest.tensors.lmHead!.dtype).toBe('qx');
      expect(manifest.tensors.lmHead!.qx).toEqual({ bits: 6, subgroup: 16, superGroups: 8, hasMins: false, hasSubs: true });
      const fromPkg = await loadModelFolder(nodeModelFiles(out));
      const fromGguf = await loadGgufQuant('glm-kq', 'Q4_K_M');
      expect(dequantize(fromPkg.weights.lmHead as never)).toEqual(dequantize(fromGguf.weights.lmHead as never));
      const ids = ggufQuantsExpected('glm-kq').prompt_ids;
      const logits = async (w: typeof fromPkg) => new ModelSession(new CpuOps(), w.config, w.weights as never, ids.length).append(ids, 'last').then((t) => new CpuOps().read(t));
      expect(Array.from(await logits(fromPkg))).toEqual(Array.from(await logits(fromGguf)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
