// A loaded CPU engine whose model answers from a script: each read of the last position's logits is
// one-hot on the script's next id (`next()`), or on the stop id (<|user|>) when it gives none. Lets a test
// say exactly what the model "writes" (a tool call, then an answer) while everything after the logits —
// sampling, masks, stop handling, parsing — runs for real.
import type { GlmEngine } from '../../src/runtime/engine';
import type { GlmTokenizer } from '../../src/tokenizer/types';

export interface ScriptedModel {
  /** Token ids of a text, without special tokens. */
  encode(text: string): number[];
  /** The id that ends a GLM-4 reply. */
  stopId: number;
}

export function scriptReplies(engine: GlmEngine, next: () => number | undefined): ScriptedModel {
  const loaded = (engine as unknown as { loaded: { session: { ops: { read(x: unknown): Promise<Float32Array> } }; tokenizer: GlmTokenizer } }).loaded;
  const stopId = loaded.tokenizer.specialIds['<|user|>']!;
  const vocab = engine.info().vocabSize;
  const realRead = loaded.session.ops.read.bind(loaded.session.ops);
  loaded.session.ops.read = async (x: unknown) => {
    const real = await realRead(x);
    if (real.length !== vocab) return real;
    const oneHot = new Float32Array(vocab).fill(-10);
    oneHot[next() ?? stopId] = 10;
    return oneHot;
  };
  return { encode: (text) => loaded.tokenizer.encode(text, { addSpecialTokens: false }), stopId };
}
