// A warm-up at load (issue #16): a backend compiles each compute pipeline the first time a kernel runs,
// and on a software adapter (SwiftShader in Chromium) that takes seconds per pipeline. Without a warm-up
// the first reply pays for the decode step's GEMVs, attention, sampler and pipelined-embed pipelines, so
// the first reply's decode speed (what the page shows, and what the calibration's prediction is checked
// against) is compilation time. A short prefill and a few decode steps at load compile them there instead;
// the session is left empty, as a fresh load leaves it.
import { decodeSteps } from './decode-steps';
import type { ModelSession } from './session';

/** Decode steps of the warm-up: the first step, the pipelined step after it, and one more. */
const WARM_UP_STEPS = 3;
/** Prompt of the warm-up: a few rows, so the prefill's batched kernels run too. */
const WARM_UP_PROMPT = 4;

/** Runs a short prefill and WARM_UP_STEPS greedy decode steps through the engine's decode loop, then empties the session. */
export async function warmUpDecode(session: ModelSession<unknown, unknown, unknown>, pipeline: boolean): Promise<void> {
  const vocab = session.config.vocabSize;
  const prompt = Array.from({ length: WARM_UP_PROMPT }, (_, i) => 1 + (i % (vocab - 1)));
  // The session's counters (KV reuse tests read them) count the requests' tokens only.
  const counters = { ...session.counters };
  try {
    const logits = await session.append(prompt, 'last');
    const steps = await decodeSteps(
      {
        session, params: { temperature: 0 }, seed: 0, maxTokens: WARM_UP_STEPS, topLogprobs: null,
        adjustments: () => null, cpuPerToken: false, pipeline,
      },
      logits,
    );
    try {
      let draw = await steps.first();
      for (let i = 1; i < WARM_UP_STEPS; i++) draw = await steps.next(draw.id);
    } finally {
      await steps.end();
    }
  } finally {
    session.reset();
    Object.assign(session.counters, counters);
  }
}
