// Float32 reference ops of the GLM-4V vision tower (src/model/vision.ts): the CPU twins of its WGSL kernels
// and the CPU path for an image when the planner keeps the tower on the CPU.
import { cpuTensor, type CpuTensor } from './ops';

/** Rows of each part in order: [Σ rows, cols]. */
export function concatRows(parts: CpuTensor[]): CpuTensor {
  if (parts.length === 0) throw new RangeError('concatRows: no parts');
  const cols = parts[0]!.cols;
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const out = cpuTensor(rows, cols);
  let o = 0;
  for (const p of parts) {
    if (p.cols !== cols) throw new RangeError(`concatRows: a part has ${p.cols} columns, the first has ${cols}`);
    out.data.set(p.data, o);
    o += p.data.length;
  }
  return out;
}

/** erf in double precision (series below 2.5, continued fraction above): the reference the f32 kernel is held to. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    // Maclaurin series: converges fast for |x| < 2.5 in double precision.
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz), accurate for larger |x|.
    const x2 = ax * ax;
    let f = ax;
    let c = ax;
    let d = 0;
    for (let n = 1; n < 200; n++) {
      const an = n / 2;
      d = ax + an * d;
      d = d === 0 ? 1e-300 : 1 / d;
      c = ax + an / c;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-x2) / (f * Math.sqrt(Math.PI));
  }
  return x < 0 ? -r : r;
}

/** GELU, exact form: x/2 · (1 + erf(x/√2)). */
export function geluErf(x: CpuTensor): CpuTensor {
  const out = cpuTensor(x.rows, x.cols);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i]!;
    out.data[i] = 0.5 * v * (1 + erf(v * Math.SQRT1_2));
  }
  return out;
}

/** Bidirectional attention within one image. qkv rows: [q heads | k heads | v heads], each H·D wide. */
export function attentionFull(qkv: CpuTensor, numHeads: number): CpuTensor {
  if (qkv.cols % (3 * numHeads) !== 0) throw new RangeError(`attentionFull: width ${qkv.cols} is not 3 x ${numHeads} heads x headDim`);
  const n = qkv.rows;
  const width = qkv.cols / 3;
  const D = width / numHeads;
  const scale = 1 / Math.sqrt(D);
  const out = cpuTensor(n, width);
  const scores = new Float64Array(n);
  const x = qkv.data;
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < n; i++) {
      const qo = i * qkv.cols + h * D;
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        const ko = j * qkv.cols + width + h * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += x[qo + d]! * x[ko + d]!;
        scores[j] = dot * scale;
        if (scores[j]! > max) max = scores[j]!;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        scores[j] = Math.exp(scores[j]! - max);
        sum += scores[j]!;
      }
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += scores[j]! * x[j * qkv.cols + 2 * width + h * D + d]!;
        out.data[i * width + h * D + d] = acc / sum;
      }
    }
  }
  return out;
}

/** [g·g, C] grid (row y·g + x) -> [(g/2)², 4C]: row i·(g/2) + j holds blocks (2i+dy, 2j+dx) at column c·4 + dy·2 + dx. */
export function blocks2x2(x: CpuTensor, grid: number): CpuTensor {
  if (x.rows !== grid * grid) throw new RangeError(`blocks2x2: ${x.rows} rows is not a ${grid}x${grid} grid`);
  const h = Math.floor(grid / 2);
  const C = x.cols;
  const out = cpuTensor(h * h, 4 * C);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < h; j++) {
      const o = (i * h + j) * 4 * C;
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const src = ((2 * i + dy) * grid + 2 * j + dx) * C;
          for (let c = 0; c < C; c++) out.data[o + c * 4 + dy * 2 + dx] = x.data[src + c]!;
        }
      }
    }
  }
  return out;
}
