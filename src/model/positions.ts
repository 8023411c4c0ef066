// Position ids and attention prefix per family, from the whole token sequence so far.
import { GlmError } from '../errors';
import type { GlmConfig } from './config';
import type { ForwardBatch } from './ops';

export class InvalidPromptError extends GlmError {
  override name = 'InvalidPromptError';
}

/**
 * Builds the ForwardBatch for tokens sequence[start..] given everything before them.
 *
 * ChatGLM-6B (modeling_chatglm.py get_position_ids / get_masks): with `ctx` the index of the first
 * bos ("sop") and `mask` the index of [gMASK] (or [MASK]), token t gets position t and block position 0
 * while t < ctx, then position `mask` and block position t - ctx + 1. Keys before ctx are seen by
 * every query (bidirectional context); the rest is causal.
 * Every other family: position t, causal.
 */
export function makeBatch(config: GlmConfig, sequence: ArrayLike<number>, start: number): ForwardBatch {
  const n = sequence.length - start;
  if (n <= 0) throw new InvalidPromptError(`nothing to run: the sequence has ${sequence.length} tokens and ${start} are cached`);
  const ids = Int32Array.from({ length: n }, (_, i) => sequence[start + i]!);
  const positions = new Int32Array(n);
  if (config.family !== 'chatglm1') {
    for (let i = 0; i < n; i++) positions[i] = start + i;
    return { ids, positions, start, bidirectionalPrefix: 0 };
  }
  const { ctx, mask } = chatglm1Anchors(config, sequence);
  const blockPositions = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = start + i;
    positions[i] = t < ctx ? t : mask;
    blockPositions[i] = t < ctx ? 0 : t - ctx + 1;
  }
  return { ids, positions, blockPositions, start, bidirectionalPrefix: ctx };
}

function chatglm1Anchors(config: GlmConfig, sequence: ArrayLike<number>): { ctx: number; mask: number } {
  const { bos, gmask, mask } = config.tokens;
  const seq = Array.from(sequence);
  const ctx = bos === undefined ? -1 : seq.indexOf(bos);
  if (ctx < 0) {
    throw new InvalidPromptError(`a ChatGLM-6B prompt must contain the bos token "sop" (id ${bos}); its prompt format is text + [gMASK] + sop`);
  }
  const useGmask = gmask !== undefined && seq.indexOf(gmask) >= 0;
  const maskPos = seq.indexOf((useGmask ? gmask : mask) ?? -1);
  if (maskPos < 0) {
    throw new InvalidPromptError(`a ChatGLM-6B prompt must contain [gMASK] (id ${gmask}) or [MASK] (id ${mask}) before sop`);
  }
  return { ctx, mask: maskPos };
}
