// `glm-webgpu logits` and `glm-webgpu generate`: the model-level contract the tests and later issues rely on.
//   logits   --model DIR --ids 5,7,9 [--backend cpu|gpu] [--quant none|q4|q8]  -> {"logits": [[...], ...]}
//   generate --model DIR --ids 5,7,9 --max-new-tokens N --temperature 0 --json -> {"ids": [...], "stats": {...}}
import type { Command } from 'commander';
import { nodeModelFiles } from '../formats/node-files';
import { loadBackend, type BackendKind } from '../runtime/backend';
import type { QuantChoice } from '../model/quantize-weights';
import { argmax } from '../runtime/session';
import { UsageError, parseChoice, parseIdList, parseNonNegativeInt, parseNumber } from './args';

interface CommonOptions {
  model: string;
  ids: number[];
  backend: BackendKind;
  quant: QuantChoice;
}

function addCommonOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--model <dir>', 'model folder (config.json + safetensors) as published on a hub')
    .requiredOption('--ids <ids>', 'comma-separated input token ids', parseIdList)
    .option('--backend <cpu|gpu>', 'where to run', parseChoice(['cpu', 'gpu'] as const), 'cpu')
    .option('--quant <none|q4|q8>', 'quantize the matrices before running (none: run weights as stored)', parseChoice(['none', 'q4', 'q8'] as const), 'none');
}

function checkIds(ids: number[], vocab: number): void {
  const bad = ids.find((id) => id >= vocab);
  if (bad !== undefined) throw new UsageError(`token id ${bad} is outside this model's vocabulary (0..${vocab - 1})`);
}

export function registerModelCommands(program: Command): void {
  addCommonOptions(program.command('logits').description('print the logits at every input position as JSON {"logits": [[...], ...]}')).action(
    async (opts: CommonOptions) => {
      const backend = await loadBackend(nodeModelFiles(opts.model), { backend: opts.backend, quant: opts.quant });
      try {
        const { config } = backend.model;
        checkIds(opts.ids, config.vocabSize);
        const session = backend.newSession(opts.ids.length);
        const flat = await session.ops.read(session.append(opts.ids, 'all'));
        const V = config.vocabSize;
        const rows = Array.from({ length: opts.ids.length }, (_, i) => Array.from(flat.subarray(i * V, (i + 1) * V)));
        process.stdout.write(`${JSON.stringify({ logits: rows })}\n`);
      } finally {
        backend.dispose();
      }
    },
  );

  addCommonOptions(program.command('generate').description('generate tokens after the input ids'))
    .option('--max-new-tokens <n>', 'how many tokens to generate at most', parseNonNegativeInt, 32)
    .option('--temperature <t>', '0 = greedy', parseNumber, 0)
    .option('--ignore-eos', "keep going past the model's end-of-sequence ids")
    .option('--json', 'print {"ids": [...], "stats": {...}}')
    .action(async (opts: CommonOptions & { maxNewTokens: number; temperature: number; ignoreEos?: boolean; json?: boolean }) => {
      if (opts.temperature !== 0) throw new UsageError('only --temperature 0 (greedy) is available with --ids');
      const t0 = performance.now();
      const backend = await loadBackend(nodeModelFiles(opts.model), { backend: opts.backend, quant: opts.quant });
      try {
        const { config } = backend.model;
        checkIds(opts.ids, config.vocabSize);
        const stopIds = opts.ignoreEos ? [] : config.tokens.eos;
        const session = backend.newSession(Math.min(config.maxSequenceLength, opts.ids.length + opts.maxNewTokens));
        const loadMs = performance.now() - t0;
        const ids: number[] = [];
        const tPrefill = performance.now();
        let logits = opts.maxNewTokens > 0 ? await session.ops.read(session.append(opts.ids, 'last')) : null;
        const prefillMs = performance.now() - tPrefill;
        const tDecode = performance.now();
        while (logits && ids.length < opts.maxNewTokens) {
          const next = argmax(logits);
          ids.push(next);
          if (stopIds.includes(next) || ids.length === opts.maxNewTokens) break;
          logits = await session.ops.read(session.append([next], 'last'));
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
