// THE forward pass of every GLM generation, over any Ops backend. It reads top to bottom like the
// reference modeling code it mirrors; family differences are flags of the normalized config:
//   ChatGLM-6B (THUDM chatglm-6b modeling_chatglm.py, GLMBlock.forward):
//       h = LN(x); x = h * alpha + Attn(h); h = LN(x); x = h * alpha + MLP_gelu(h)
//   ChatGLM2/3, GLM-4-9B-chat (THUDM v2 code, GLMBlock.forward) and HF glm (GlmDecoderLayer.forward):
//       x = x + Attn(RMS(x)); x = x + MLP_swiglu(RMS(x))
//   GLM-4-0414 (HF Glm4DecoderLayer.forward): x = x + RMS_post(Attn(RMS(x))); x = x + RMS_post(MLP(RMS(x)))
import type { GlmConfig } from './config';
import type { ForwardBatch, Ops } from './ops';
import type { ModelWeights, NormWeights } from './weights-types';
import { embedWithImages, type ImageRows } from './vision';

export interface ForwardResult<T> {
  /** Hidden states after the final norm: [n, hidden] (or [1, hidden] with logits 'last'). */
  hidden: T;
  /** [n, vocab], [1, vocab] or null, as asked. */
  logits: T | null;
}

export async function forward<T, W, C>(
  ops: Ops<T, W, C>,
  config: GlmConfig,
  weights: ModelWeights<W>,
  cache: C,
  batch: ForwardBatch,
  want: 'all' | 'last' | 'none' = 'last',
  /** Awaited after each layer of a prompt batch (not of a one-token step): where an abort stops a prefill. */
  afterLayer?: (layer: number) => Promise<void>,
  /** GLM-4V: images whose rows lie in this batch (spans in sequence indices; features from vision.ts encodeImage). */
  images?: readonly ImageRows<T>[],
): Promise<ForwardResult<T>> {
  const norm = (x: T, n: NormWeights<W>): T =>
    config.norm === 'rmsnorm' ? ops.rmsNorm(x, n.weight, config.normEps) : ops.layerNorm(x, n.weight, n.bias, config.normEps);
  const alpha = config.residualAlpha;
  // The norm in front of the qkv and up projections is handed to the matmul as a prologue, which backends
  // fuse (one pass over x instead of a norm kernel and a matmul). ChatGLM-6B keeps it a separate op: its
  // LayerNorm output is also its residual.
  const fuseNorm = config.norm === 'rmsnorm' && alpha === null;
  const normFor = (x: T, n: NormWeights<W>) =>
    fuseNorm ? { input: x, prologue: { rmsNorm: { weight: n.weight, eps: config.normEps } } } : { input: norm(x, n), prologue: {} };

  // GLM-4V (ChatGLMModel.forward): an image's rows are its vision-tower features, not table rows.
  let x = images?.length // [n, hidden]
    ? embedWithImages(ops, weights.embedding, batch.ids, batch.start, images)
    : ops.embed(weights.embedding, batch.ids, batch.idsOnDevice);

  for (let l = 0; l < config.numLayers; l++) {
    const layer = weights.layers[l]!;
    // Hybrid plans: bring the hidden state to the device this layer runs on (a no-op inside a block).
    if (ops.moveTo) x = await ops.moveTo(x, l);

    // --- self-attention ---
    const attnIn = normFor(x, layer.attnNorm); // [n, hidden], normalized now or inside the matmul
    // qkv projection [n, (H + 2Hkv)·D], split: RoPE on q and k, k and v appended to the cache (one fused op)
    const ropeKvAppend = { cache, layer: l, batch, config };
    const q = ops.matmul(attnIn.input, layer.qkv.weight, { ...attnIn.prologue, bias: layer.qkv.bias, ropeKvAppend }); // [n, H·D]
    // Attention over the cache [n, H·D] as the output projection's prologue (backends merge its split-K
    // partials inside the projection), then the projection's residual.
    const attnOut = { attention: { cache, layer: l, batch, config }, bias: layer.attnOut.bias };
    if (alpha !== null) {
      // ChatGLM-6B: the residual is the *normalized* input scaled by alpha, fused into the output projection.
      x = ops.matmul(q, layer.attnOut.weight, { ...attnOut, residual: attnIn.input, residualScale: alpha });
    } else if (layer.postAttnNorm) {
      x = ops.add(x, norm(ops.matmul(q, layer.attnOut.weight, attnOut), layer.postAttnNorm));
    } else {
      x = ops.matmul(q, layer.attnOut.weight, { ...attnOut, residual: x });
    }

    // --- MLP ---
    const mlpIn = normFor(x, layer.mlpNorm);
    // up projection and activation in one op (backends fuse them): [n, 2F] -> swiglu -> [n, F], or gelu
    const act = ops.matmul(mlpIn.input, layer.mlpUp.weight, { ...mlpIn.prologue, bias: layer.mlpUp.bias, activation: config.mlp }); // [n, F]
    if (alpha !== null) {
      x = ops.matmul(act, layer.mlpDown.weight, { bias: layer.mlpDown.bias, residual: mlpIn.input, residualScale: alpha });
    } else if (layer.postMlpNorm) {
      x = ops.add(x, norm(ops.matmul(act, layer.mlpDown.weight, { bias: layer.mlpDown.bias }), layer.postMlpNorm));
    } else {
      x = ops.matmul(act, layer.mlpDown.weight, { bias: layer.mlpDown.bias, residual: x });
    }
    if (afterLayer && batch.ids.length > 1) await afterLayer(l);
  }

  if (ops.moveTo) x = await ops.moveTo(x, config.numLayers); // to the head's device
  const n = batch.ids.length;
  const last = want === 'last' && n > 1 ? ops.sliceRows(x, n - 1, 1) : x;
  const hidden = norm(last, weights.finalNorm);
  const logits = want === 'none' ? null : ops.matmul(hidden, weights.lmHead); // [rows, vocab]
  return { hidden, logits };
}
