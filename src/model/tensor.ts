// Host-side (JS memory) tensors: what loaders produce and what backends upload or use directly.

/** A dense float32 tensor, row-major. Weights are [out_features, in_features] like PyTorch's Linear. */
export interface HostTensor {
  dtype: 'f32';
  shape: number[];
  data: Float32Array;
}

export function hostTensor(data: Float32Array, shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new RangeError(`tensor of shape [${shape}] needs ${n} values, got ${data.length}`);
  return { dtype: 'f32', shape, data };
}
