/** CPU twin of shaders/smoke_axpy.wgsl: out[i] = alpha * x[i] + y[i], rounded to float32 like the GPU. */
export function axpy(alpha: number, x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const a = Math.fround(alpha);
  for (let i = 0; i < x.length; i++) out[i] = Math.fround(a * x[i]!) + y[i]!;
  return out;
}
