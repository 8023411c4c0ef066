// CPU matmul on QX weights (src/quant/qx.ts: GGUF K-quants and Q5 codes), the runtime CPU fallback for
// such layers and the twin of shaders/lib/weights_qx.wgsl. Same order as the GPU: per subgroup (16 or
// 32 elements) the dot of (code - zero) with the activations, times the subgroup's scale d * sc once,
// plus dm * mi * sum(x) when the tensor has mins; subgroup terms accumulate in float32.
import { GROUP_SIZE } from '../quant/types';
import { qxCode, qxSub, qxSubsPerGroup, qxSupers, qxZero, validateQx, type QxTensor } from '../quant/qx';

export function matmulQx(x: Float32Array, n: number, w: QxTensor, bias?: Float32Array): Float32Array<ArrayBuffer> {
  validateQx(w);
  const { rows, cols, groupsPerRow, subgroup, hasMins } = w;
  const zero = qxZero(w);
  const perGroup = qxSubsPerGroup(subgroup);
  const codes = new Float64Array(GROUP_SIZE);
  const out = new Float32Array(n * rows);
  const acc = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    acc.fill(0);
    for (let g = 0; g < groupsPerRow; g++) {
      const gi = r * groupsPerRow + g;
      const len = Math.min(GROUP_SIZE, cols - g * GROUP_SIZE);
      for (let e = 0; e < GROUP_SIZE; e++) codes[e] = qxCode(w, gi, e) - zero;
      const [d, dm] = qxSupers(w, gi);
      for (let j = 0; j < perGroup; j++) {
        const [sc, mi] = qxSub(w, gi * perGroup + j);
        const scale = Math.fround(d * sc);
        const min = Math.fround(dm * mi);
        const from = j * subgroup;
        const to = Math.min(from + subgroup, len);
        for (let i = 0; i < n; i++) {
          const xo = i * cols + g * GROUP_SIZE;
          let dot = 0;
          let xsum = 0;
          for (let e = from; e < to; e++) {
            dot += codes[e]! * x[xo + e]!;
            xsum += x[xo + e]!;
          }
          let term = Math.fround(scale * Math.fround(dot));
          if (hasMins) term = Math.fround(term + Math.fround(min * Math.fround(xsum)));
          acc[i] = Math.fround(acc[i]! + term);
        }
      }
    }
    for (let i = 0; i < n; i++) out[i * rows + r] = bias === undefined ? acc[i]! : acc[i]! + bias[r]!;
  }
  return out;
}
