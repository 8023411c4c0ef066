// `glm-webgpu plan`: where each layer of a model would run for given budgets, before anything is
// downloaded. Needs no GPU: the device limits and budgets come from the flags.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { normalizeConfig, type GlmConfig } from '../model/config';
import { isPresetName, presetNames, PRESETS } from '../model/presets';
import { nodeModelFiles } from '../formats/node-files';
import { UsageError } from './args';
import { explainPlan, GPU_BUDGET_BY_CLASS, planPlacement } from '../planner/planner';
import { tensorSizes, WEIGHT_QUANTS, type WeightQuant } from '../planner/sizes';
import { formatBytes, GiB, MiB, parseBytes } from '../planner/units';

/** Without --cpu-budget: what a desktop browser tab can usually hold in typed arrays next to the page. */
const DEFAULT_CPU_BUDGET = 8 * GiB;
/** Without --max-binding: the WebGPU default limit, which every adapter supports. */
const DEFAULT_MAX_BINDING = 128 * MiB;
/** Without --max-buffer: the WebGPU default (or the binding limit, when that was set higher). */
const DEFAULT_MAX_BUFFER = 256 * MiB;
/** Without --context: a chat-sized context, clamped to the model's maximum. */
const DEFAULT_CONTEXT = 4096;

interface PlanOptions {
  model?: string;
  preset?: string;
  quant: WeightQuant;
  gpuBudget?: number;
  cpuBudget: number;
  maxBinding: number;
  maxBuffer?: number;
  context?: number;
  minContext?: number;
  shaderF16?: boolean;
  json?: boolean;
}

// Commander reports an InvalidArgumentError thrown by an argument parser as a usage error: message,
// help hint and exit code 2 (see run() in main.ts and args.ts).
function byteSize(value: string): number {
  try {
    return parseBytes(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function tokenCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`"${value}" is not a positive whole number of tokens`);
  }
  return n;
}

async function loadConfig(opts: PlanOptions): Promise<{ name: string; config: GlmConfig }> {
  // Checked after parsing because it concerns two options; run() reports a UsageError like a parser error.
  if ((opts.model === undefined) === (opts.preset === undefined)) {
    throw new UsageError(`plan: give exactly one of --model DIR or --preset NAME (presets: ${presetNames.join(', ')})`);
  }
  if (opts.preset !== undefined) {
    // .choices() has already refused other names; this narrows the type.
    if (!isPresetName(opts.preset)) throw new UsageError(`plan: unknown preset "${opts.preset}" (presets: ${presetNames.join(', ')})`);
    return { name: opts.preset, config: PRESETS[opts.preset] };
  }
  const files = nodeModelFiles(opts.model!);
  return { name: files.location, config: normalizeConfig(await files.readText('config.json')) };
}

/** Registers `glm-webgpu plan`. */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('show which layers of a model would run on the GPU and which on the CPU for the given budgets')
    .option('--model <dir>', 'a model folder with config.json (HF or THUDM layout)')
    .addOption(new Option('--preset <name>', 'a known model instead of a folder').choices(presetNames))
    .addOption(new Option('--quant <format>', 'weight format of the matrices').choices(WEIGHT_QUANTS).default('q4'))
    .option('--gpu-budget <size>', 'GPU memory the plan may use, e.g. 4GiB (default: the planner\'s 1.5GiB guess for an unknown adapter)', byteSize)
    // Defaults shown in units, not raw bytes (issue #16).
    .addOption(new Option('--cpu-budget <size>', 'CPU memory the plan may use, e.g. 16GiB').argParser(byteSize).default(DEFAULT_CPU_BUDGET, formatBytes(DEFAULT_CPU_BUDGET)))
    .addOption(new Option('--max-binding <size>', 'the adapter\'s maxStorageBufferBindingSize, e.g. 1GiB').argParser(byteSize).default(DEFAULT_MAX_BINDING, formatBytes(DEFAULT_MAX_BINDING)))
    .option('--max-buffer <size>', 'the adapter\'s maxBufferSize (default: the larger of 256MiB and --max-binding)', byteSize)
    .option('--context <tokens>', `context length to plan for (default ${DEFAULT_CONTEXT}, at most the model's maximum)`, tokenCount)
    .option('--min-context <tokens>', 'shortest context you accept: lets the planner trade context for GPU layers', tokenCount)
    .option('--shader-f16', 'the adapter has shader-f16: keep the GPU KV cache in f16')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: PlanOptions) => {
      const { name, config } = await loadConfig(opts);
      const sizes = tensorSizes(config, opts.quant);
      // No adapter is opened here, so without --gpu-budget the plan uses the guess for an unknown adapter.
      const gpuBytes = opts.gpuBudget ?? GPU_BUDGET_BY_CLASS.unknown;
      const plan = planPlacement({
        config,
        sizes,
        device: {
          maxStorageBufferBindingSize: opts.maxBinding,
          maxBufferSize: opts.maxBuffer ?? Math.max(DEFAULT_MAX_BUFFER, opts.maxBinding),
          features: opts.shaderF16 ? ['shader-f16'] : [],
        },
        budgets: { gpuBytes, cpuBytes: opts.cpuBudget },
        contextLength: opts.context ?? DEFAULT_CONTEXT,
        ...(opts.minContext !== undefined ? { minContextLength: opts.minContext } : {}),
        modelName: name,
      });
      console.log(opts.json ? JSON.stringify(plan, null, 2) : explainPlan(plan));
    });
}
