// The canonical per-layer weight set every family maps into (see weights.ts for the mapping).
// W is the backend's weight handle: HostTensor/QuantizedTensor on the CPU, GPU buffers on the GPU.

export interface NormWeights<W> {
  weight: W; // (hidden)
  bias?: W; // (hidden), LayerNorm only
}

export interface LinearWeights<W> {
  weight: W; // (out, in)
  bias?: W; // (out)
}

export interface LayerWeights<W> {
  attnNorm: NormWeights<W>;
  /** Fused q, k, v rows in that order: (numHeads·headDim + 2·numKvHeads·headDim, hidden). */
  qkv: LinearWeights<W>;
  attnOut: LinearWeights<W>; // (hidden, numHeads·headDim)
  /** GLM-4-0414's post_self_attn_layernorm (applied to the attention output before the residual add). */
  postAttnNorm?: NormWeights<W>;
  mlpNorm: NormWeights<W>;
  /** SwiGLU: gate rows then up rows (2·ffn, hidden). GELU: (ffn, hidden). */
  mlpUp: LinearWeights<W>;
  mlpDown: LinearWeights<W>; // (hidden, ffn)
  /** GLM-4-0414's post_mlp_layernorm. */
  postMlpNorm?: NormWeights<W>;
}

export interface ModelWeights<W> {
  embedding: W; // (vocab, hidden)
  layers: LayerWeights<W>[];
  finalNorm: NormWeights<W>;
  lmHead: W; // (vocab, hidden); the embedding itself when tied
}

/** Applies `fn` to every weight, keeping the structure (upload to a GPU, quantize, ...). */
export function mapWeights<A, B>(w: ModelWeights<A>, fn: (weight: A, path: string) => B): ModelWeights<B> {
  const norm = (n: NormWeights<A>, p: string): NormWeights<B> => ({
    weight: fn(n.weight, `${p}.weight`),
    ...(n.bias !== undefined ? { bias: fn(n.bias, `${p}.bias`) } : {}),
  });
  const linear = (l: LinearWeights<A>, p: string): LinearWeights<B> => ({
    weight: fn(l.weight, `${p}.weight`),
    ...(l.bias !== undefined ? { bias: fn(l.bias, `${p}.bias`) } : {}),
  });
  const embedding = fn(w.embedding, 'embedding');
  return {
    embedding,
    layers: w.layers.map((L, i) => {
      const p = `layers.${i}`;
      return {
        attnNorm: norm(L.attnNorm, `${p}.attnNorm`),
        qkv: linear(L.qkv, `${p}.qkv`),
        attnOut: linear(L.attnOut, `${p}.attnOut`),
        ...(L.postAttnNorm ? { postAttnNorm: norm(L.postAttnNorm, `${p}.postAttnNorm`) } : {}),
        mlpNorm: norm(L.mlpNorm, `${p}.mlpNorm`),
        mlpUp: linear(L.mlpUp, `${p}.mlpUp`),
        mlpDown: linear(L.mlpDown, `${p}.mlpDown`),
        ...(L.postMlpNorm ? { postMlpNorm: norm(L.postMlpNorm, `${p}.postMlpNorm`) } : {}),
      };
    }),
    finalNorm: norm(w.finalNorm, 'finalNorm'),
    // A tied head maps to the same handle as the embedding instead of a second copy.
    lmHead: w.lmHead === w.embedding ? embedding : fn(w.lmHead, 'lmHead'),
  };
}
