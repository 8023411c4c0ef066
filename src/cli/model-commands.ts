// `glm-webgpu logits` and `glm-webgpu generate`: the model-level contract the tests and later issues rely on.
//   logits   --model DIR --ids 5,7,9 [--backend cpu|gpu] [--quant none|q4|q8]  -> {"logits": [[...], ...]}
//   generate --model DIR --ids 5,7,9 --max-new-tokens N --temperature 0 --json -> {"ids": [...], "stats": {...}}
import type { Command } from 'commander';
import { openModelSource } from './model-source';
import { defaultModelPath } from './default-model';
import { loadBackend, type BackendKind } from '../runtime/backend';
import type { QuantChoice } from '../model/quantize-weights';
import { argmax } from '../runtime/sampler';
import { UsageError, parseBytesOption, parseChoice, parseIdList, parseNonNegativeInt, parseNumber } from './args';
import { addSamplingOptions, generateFromPrompt, type SamplingCliOptions } from './chat-commands';

interface CommonOptions {
  model: string;
  ids: number[];
  backend: BackendKind;
  quant: QuantChoice;
  gpuBudget?: number;
  cpuBudget?: number;
  cacheDir?: string;
  trustShards?: boolean;
}

function addCommonOptions(cmd: Command, idsRequired = true): Command {
  const modelHelp = 'model folder (config.json + safetensors, or a glm-webgpu package), a .gguf file, a package URL, or a Hugging Face repo id / Hub URL / .gguf URL (converted into the cache once; HF_ENDPOINT picks a mirror)';
  // Every command falls back to the embedded demo model (issue #16: tokenize and logits did not).
  cmd.option('--model <path|url>', `${modelHelp} (default: the embedded demo model)`, defaultModelPath());
  cmd[idsRequired ? 'requiredOption' : 'option']('--ids <ids>', 'comma-separated input token ids', parseIdList);
  return cmd
    .option('--backend <cpu|gpu|auto>', 'where to run (auto: the planner places layers on the GPU and the CPU)', parseChoice(['cpu', 'gpu', 'auto'] as const), 'cpu')
    .option('--gpu-budget <bytes>', 'GPU memory the model may use, e.g. 4GiB; forces a planned GPU/CPU split', parseBytesOption)
    .option('--cpu-budget <bytes>', 'memory for CPU-placed layers (default 8GiB)', parseBytesOption)
    .option('--quant <none|q4|q8>', 'quantize the matrices before running (none: run weights as stored)', parseChoice(['none', 'q4', 'q8'] as const), 'none')
    .option('--cache-dir <dir>', 'cache for package URLs and Hub models (default ~/.cache/glm-webgpu)')
    .option('--trust-shards', 'load a local package folder without checking its shards against the manifest SHA-256 (only for folders you trust)');
}

function checkIds(ids: number[], vocab: number): void {
  const bad = ids.find((id) => id >= vocab);
  if (bad !== undefined) throw new UsageError(`token id ${bad} is outside this model's vocabulary (0..${vocab - 1})`);
}

export function registerModelCommands(program: Command): void {
  addCommonOptions(program.command('logits').description('print the logits at every input position as JSON {"logits": [[...], ...]}')).action(
    async (opts: CommonOptions) => {
      const files = await openModelSource(opts.model, {
        cacheDir: opts.cacheDir, trustShards: opts.trustShards, ...(opts.quant !== 'none' ? { hubQuant: opts.quant } : {}),
      });
      const backend = await loadBackend(files, { backend: opts.backend, quant: opts.quant, gpuBudget: opts.gpuBudget, cpuBudget: opts.cpuBudget });
      try {
        const { config } = backend.model;
        checkIds(opts.ids, config.vocabSize);
        const session = backend.newSession(opts.ids.length);
        const flat = await session.ops.read(await session.append(opts.ids, 'all'));
        const V = config.vocabSize;
        const rows = Array.from({ length: opts.ids.length }, (_, i) => Array.from(flat.subarray(i * V, (i + 1) * V)));
        process.stdout.write(`${JSON.stringify({ logits: rows })}\n`);
      } finally {
        backend.dispose();
      }
    },
  );

  addSamplingOptions(addCommonOptions(program.command('generate').description('generate after token ids (--ids) or a text prompt (--prompt, streamed)'), false))
    .option('--prompt <text>', 'text prompt (instead of --ids); the reply is streamed to stdout')
    .option('--chat', "with --prompt: wrap the prompt in the model's chat format")
    .option('--system <text>', 'with --chat: a system prompt')
    .option('--image <file>', 'with --chat: a PNG or JPEG sent with the prompt (GLM-4V models)')
    .option('--max-new-tokens <n>', 'how many tokens to generate at most', parseNonNegativeInt, 32)
    .option('--temperature <t>', '0 = greedy', parseNumber, 0)
    .option('--ignore-eos', "keep going past the model's end-of-sequence ids")
    .option('--json', 'print {"ids": [...], "stats": {...}} (with --prompt also "text")')
    .action(async (
      opts: Partial<CommonOptions> & CommonOptions & SamplingCliOptions & {
        prompt?: string; chat?: boolean; system?: string; ignoreEos?: boolean; json?: boolean; image?: string;
      },
    ) => {
      if (opts.prompt !== undefined) {
        if (opts.ids) throw new UsageError('give either --ids or --prompt, not both');
        return generateFromPrompt({ ...opts, prompt: opts.prompt });
      }
      if (!opts.ids) throw new UsageError('generate needs --ids (token ids) or --prompt (text)');
      if (opts.image !== undefined) throw new UsageError('--image goes with --prompt --chat');
      if (opts.temperature !== 0) throw new UsageError('only --temperature 0 (greedy) is available with --ids; use --prompt for sampling');
      const t0 = performance.now();
      const files = await openModelSource(opts.model, {
        cacheDir: opts.cacheDir, trustShards: opts.trustShards, ...(opts.quant !== 'none' ? { hubQuant: opts.quant } : {}),
      });
      const backend = await loadBackend(files, { backend: opts.backend, quant: opts.quant, gpuBudget: opts.gpuBudget, cpuBudget: opts.cpuBudget });
      try {
        const { config } = backend.model;
        checkIds(opts.ids, config.vocabSize);
        const stopIds = opts.ignoreEos ? [] : config.tokens.eos;
        const session = backend.newSession(Math.min(config.maxSequenceLength, opts.ids.length + opts.maxNewTokens));
        const loadMs = performance.now() - t0;
        const ids: number[] = [];
        const tPrefill = performance.now();
        let logits = opts.maxNewTokens > 0 ? await session.ops.read(await session.append(opts.ids, 'last')) : null;
        const prefillMs = performance.now() - tPrefill;
        const tDecode = performance.now();
        while (logits && ids.length < opts.maxNewTokens) {
          const next = argmax(logits);
          ids.push(next);
          if (stopIds.includes(next) || ids.length === opts.maxNewTokens) break;
          logits = await session.ops.read(await session.append([next], 'last'));
        }
        const decodeMs = performance.now() - tDecode;
        const decodeSteps = Math.max(0, ids.length - 1);
        const stats = {
          ...backend.describe(),
          promptTokens: opts.ids.length,
          newTokens: ids.length,
          loadMs: round(loadMs),
          prefillMs: round(prefillMs),
          prefillTokPerSec: round((opts.ids.length / prefillMs) * 1000),
          decodeMs: round(decodeMs),
          decodeTokPerSec: decodeSteps > 0 ? round((decodeSteps / decodeMs) * 1000) : null,
        };
        if (opts.json) process.stdout.write(`${JSON.stringify({ ids, stats })}\n`);
        else process.stdout.write(`${ids.join(' ')}\n`);
      } finally {
        backend.dispose();
      }
    });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
