// The planner's verdict for one model in this browser, before any download: "fits on the GPU",
// "fits with N layers on the CPU", "runs on the CPU only" or "does not fit", with the numbers behind it.
import type { GlmConfig } from '../../index';
import { explainPlan, planPlacement, PlanInfeasibleError, type Plan } from '../../index';
import { tensorSizes, type WeightQuant } from '../../index';
import { formatBytes } from '../../index';
import type { BrowserGpu } from './browser-gpu';
import { bandwidthOf, describeCalibration, type Calibration } from '../../index';

export const QUANT_LABELS: Record<WeightQuant, string> = { q4: 'INT4 (q4)', q8: 'INT8 (q8)', none: 'float32' };

export type VerdictKind = 'gpu' | 'split' | 'cpu' | 'none';

export interface Verdict {
  kind: VerdictKind;
  /** Predicted decode tok/s early in a chat (plan.estimate.startContextLength), and prefill tok/s (null when not measured). */
  decodeTokPerSec: number | null;
  prefillTokPerSec: number | null;
  /** Whether the speeds come from this machine's calibration. */
  measured: boolean;
  /** One line: what will happen. */
  headline: string;
  /** The numbers: sizes, budgets, context, estimated speed. */
  details: string[];
  /** Weights to download/hold in this format. */
  weightBytes: number;
  plan: Plan | null;
  /** explainPlan(plan), or the planner's message when nothing fits. */
  explanation: string;
}

/** The engine's default context cap (runtime/engine.ts); the planner may trade it down to this floor. */
export const VERDICT_CONTEXT = 4096;
export const VERDICT_MIN_CONTEXT = 1024;

export interface VerdictOptions {
  modelName?: string;
  /** Measured speeds (runtime/calibration.ts); without them the planner's assumptions. */
  calibration?: Calibration | null;
  /** The page's "Run on" choice: 'gpu' and 'cpu' put everything on that device. */
  backend?: 'auto' | 'gpu' | 'cpu';
  /** The user's GPU budget in bytes (default: gpu.gpuBudget). */
  gpuBudget?: number;
}

export function planVerdict(config: GlmConfig, quant: WeightQuant, gpu: BrowserGpu, options: VerdictOptions | string = {}): Verdict {
  const opts: VerdictOptions = typeof options === 'string' ? { modelName: options } : options;
  const modelName = opts.modelName;
  const sizes = tensorSizes(config, quant);
  const hasGpu = gpu.status === 'ok';
  const backend = hasGpu ? (opts.backend ?? 'auto') : 'cpu';
  const calibration = opts.calibration ?? null;
  const bandwidth = calibration ? bandwidthOf(calibration) : undefined;
  const basis = calibration ? describeCalibration(calibration) : 'assumed, not measured yet (calibrating…)';
  const limits = hasGpu
    ? { maxBufferSize: gpu.limits.maxBufferSize!, maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize! }
    : { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 };
  const context = Math.min(VERDICT_CONTEXT, config.maxSequenceLength);
  const budgets = { gpuBytes: hasGpu ? (opts.gpuBudget ?? gpu.gpuBudget) : 0, cpuBytes: gpu.cpuBudget };
  const budgetLine = `budgets: GPU ${hasGpu ? formatBytes(budgets.gpuBytes) : 'none (no WebGPU)'}, CPU ${formatBytes(budgets.cpuBytes)}`;
  // Bounded work on the page's main thread (issue #18): the config's numbers were range-checked by
  // normalizeConfig (src/model/limits.ts), and a model whose weights alone exceed both budgets together
  // is answered here, without the placement search (the slowest case: every placement and context fails).
  if (sizes.totalBytes > budgets.gpuBytes + budgets.cpuBytes) {
    return {
      kind: 'none',
      headline: `Does not fit: the weights alone are ${formatBytes(sizes.totalBytes)}, this browser gives ${formatBytes(budgets.gpuBytes + budgets.cpuBytes)}`,
      details: [`${QUANT_LABELS[quant]} weights ${formatBytes(sizes.totalBytes)}`, budgetLine],
      weightBytes: sizes.totalBytes,
      plan: null,
      explanation: `The ${QUANT_LABELS[quant]} weights (${formatBytes(sizes.totalBytes)}) exceed the GPU and CPU budgets together (${formatBytes(budgets.gpuBytes + budgets.cpuBytes)}).`,
      decodeTokPerSec: null,
      prefillTokPerSec: null,
      measured: calibration !== null,
    };
  }
  const plan1 = (only?: 'gpu' | 'cpu') =>
    planPlacement({
      config,
      sizes,
      device: { ...limits, features: gpu.features },
      budgets,
      contextLength: context,
      minContextLength: Math.min(VERDICT_MIN_CONTEXT, context),
      ...(modelName ? { modelName } : {}),
      ...(bandwidth ? { bandwidth, speedBasis: basis } : {}),
      ...(only ? { only } : {}),
    });
  let plan: Plan;
  try {
    plan = plan1(backend === 'auto' ? undefined : backend);
  } catch (err) {
    if (!(err instanceof PlanInfeasibleError)) throw err;
    return {
      kind: 'none',
      headline: `Does not fit: needs about ${formatBytes(err.needed.gpuBytes + err.needed.cpuBytes)}, this browser gives ${formatBytes(budgets.gpuBytes + budgets.cpuBytes)}`,
      details: [`${QUANT_LABELS[quant]} weights ${formatBytes(sizes.totalBytes)}`, budgetLine],
      weightBytes: sizes.totalBytes,
      plan: null,
      explanation: err.message,
      decodeTokPerSec: null,
      prefillTokPerSec: null,
      measured: calibration !== null,
    };
  }
  const L = plan.numLayers;
  const cpuLayers = plan.cpuBlock.count;
  const tps = plan.estimate.tokensPerSecondAtStart;
  const prefill = plan.estimate.prefillTokensPerSecond;
  const atContext = plan.estimate.startContextLength;
  const speed =
    `about ${formatTps(tps)} tok/s at ${atContext} tokens of context ${calibration ? 'predicted' : 'estimated'}` +
    `${prefill !== null ? ` (prefill ${formatTps(prefill)} tok/s)` : ''}`;
  let kind: VerdictKind;
  let headline: string;
  if (cpuLayers === L && plan.lmHead === 'cpu') {
    kind = 'cpu';
    let why = 'no WebGPU';
    if (hasGpu && backend === 'cpu') why = 'as chosen';
    else if (hasGpu) {
      // Auto chose the CPU: say whether the GPU was too slow or too small.
      let gpuAlone: Plan | null;
      try {
        gpuAlone = plan1('gpu');
      } catch {
        gpuAlone = null;
      }
      why = gpuAlone
        ? `faster here than the ${gpu.adapterClass === 'software' ? 'software ' : ''}GPU, which would give about ${formatTps(gpuAlone.estimate.tokensPerSecondAtStart)} tok/s`
        : 'the GPU budget is too small';
    }
    headline = `Runs on the CPU only (${why}), ${speed}`;
  } else if (cpuLayers === 0 && plan.lmHead === 'gpu') {
    kind = 'gpu';
    headline = `Fits on the GPU, ${speed}`;
  } else {
    kind = 'split';
    const head = plan.lmHead === 'cpu' ? ' and lm_head' : '';
    headline = `Fits with ${cpuLayers} of ${L} layers${head} on the CPU, ${speed}`;
  }
  const t = plan.totals;
  const details = [
    `${QUANT_LABELS[quant]} weights ${formatBytes(sizes.totalBytes)}`,
    hasGpu ? `GPU ${formatBytes(t.gpu.totalBytes)} of ${formatBytes(t.gpu.budgetBytes)} (${plan.gpuLayerCount} layers)` : 'GPU: none (no WebGPU)',
    `CPU ${formatBytes(t.cpu.totalBytes)} of ${formatBytes(t.cpu.budgetBytes)} (${cpuLayers} layers)`,
    `context ${plan.contextLength}${plan.contextTraded ? ` (of ${plan.requestedContextLength} requested)` : ''}`,
    `speeds: ${basis}`,
  ];
  return {
    kind,
    headline,
    details,
    weightBytes: sizes.totalBytes,
    plan,
    explanation: explainPlan(plan),
    decodeTokPerSec: tps,
    prefillTokPerSec: prefill,
    measured: calibration !== null,
  };
}

function formatTps(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}
