// The Node side of the llama.cpp peer measurement (bench/peer/README.md), bundled for the GPU machine:
//   plan    --preset P [--layers N] [--vocab N] --out plan.json   what write_random_gguf.py writes for the preset
//   summary --preset P --llama llama-bench.json [--plan plan.json] --ours ours.json [--ours ours-f16.json]
//           prints llama.cpp's figures beside ours, with the ratios, as JSON
// Build: npx vite build --mode cli --ssr bench/peer/main.ts --outDir dist/peer   (then node dist/peer/main.js ...)
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isPresetName, presetNames, PRESETS } from '../../src/model/presets';
import type { BenchReport } from '../../src/ui/bench/suite';
import { ggufBytesPerToken, llamaCppGgufPlan, type GgufPlan } from './gguf-plan';
import { summarizePeer, type LlamaBenchRow } from './summary';

const USAGE = 'usage: main.js plan --preset P [--layers N] [--vocab N] --out FILE | summary --preset P --llama FILE [--plan FILE] --ours FILE...';

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer (got ${value})`);
  return n;
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      preset: { type: 'string' }, layers: { type: 'string' }, vocab: { type: 'string' }, out: { type: 'string' },
      llama: { type: 'string' }, plan: { type: 'string' }, ours: { type: 'string', multiple: true },
    },
  });
  const preset = values.preset ?? '';
  if (!isPresetName(preset)) throw new Error(`--preset must be one of ${presetNames.join(', ')}\n${USAGE}`);
  if (command === 'plan') {
    if (!values.out) throw new Error(`plan needs --out\n${USAGE}`);
    const layers = positiveInt(values.layers, '--layers');
    const vocab = positiveInt(values.vocab, '--vocab');
    const plan = llamaCppGgufPlan(PRESETS[preset], `glm-webgpu random ${preset}`, { ...(layers ? { layers } : {}), ...(vocab ? { vocab } : {}) });
    writeFileSync(values.out, `${JSON.stringify(plan, null, 1)}\n`);
    return 0;
  }
  if (command === 'summary') {
    if (!values.llama) throw new Error(`summary needs --llama\n${USAGE}`);
    const rows = readJson<LlamaBenchRow[]>(values.llama);
    const ours = (values.ours ?? []).map((f) => readJson<BenchReport>(f));
    const bytes = values.plan ? ggufBytesPerToken(readJson<GgufPlan>(values.plan)) : null;
    process.stdout.write(`${JSON.stringify(summarizePeer(preset, rows, ours, bytes), null, 2)}\n`);
    return 0;
  }
  throw new Error(USAGE);
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
