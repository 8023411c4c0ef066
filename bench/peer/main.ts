// The Node side of the llama.cpp peer measurement (bench/peer/README.md), bundled for the GPU machine:
//   plan    --preset P [--layers N] [--vocab N] --out plan.json   what write_random_gguf.py writes for the preset
//   summary (--preset P --plan plan.json [--llama llama-bench.json] [--ours ours.json]...)... [--build INFO] [--gpu NAME]
//           [--out summary.json]   llama.cpp's figures beside ours, with the ratios; each --preset starts a group
// Build: npx vite build --mode cli --ssr bench/peer/main.ts --outDir dist/peer   (then node dist/peer/main.js ...)
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isPresetName, presetNames, PRESETS, type PresetName } from '../../src/model/presets';
import type { BenchReport } from '../../src/ui/bench/suite';
import { ggufBytesPerToken, llamaCppGgufPlan, type GgufPlan } from './gguf-plan';
import { formatPeerSummary, parseSummaryArgs, summarizePeer, type LlamaBenchRow } from './summary';

const USAGE = 'usage: main.js plan --preset P [--layers N] [--vocab N] --out FILE\n' +
  '       main.js summary (--preset P --plan FILE [--llama FILE] [--ours FILE]...)... [--build INFO] [--gpu NAME] [--out FILE]';

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** A tool that crashed may leave a truncated file: say so and summarize the rest. */
function readJsonOrNull<T>(file: string): T | null {
  try {
    return readJson<T>(file);
  } catch (e) {
    process.stderr.write(`summary: skipping ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
    return null;
  }
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer (got ${value})`);
  return n;
}

function preset(name: string | undefined): PresetName {
  if (name === undefined || !isPresetName(name)) throw new Error(`--preset must be one of ${presetNames.join(', ')}\n${USAGE}`);
  return name;
}

function plan(args: string[]): void {
  const { values } = parseArgs({ args, options: { preset: { type: 'string' }, layers: { type: 'string' }, vocab: { type: 'string' }, out: { type: 'string' } } });
  const p = preset(values.preset);
  if (!values.out) throw new Error(`plan needs --out\n${USAGE}`);
  const layers = positiveInt(values.layers, '--layers');
  const vocab = positiveInt(values.vocab, '--vocab');
  const result = llamaCppGgufPlan(PRESETS[p], `glm-webgpu random ${p}`, { ...(layers ? { layers } : {}), ...(vocab ? { vocab } : {}) });
  writeFileSync(values.out, `${JSON.stringify(result, null, 1)}\n`);
}

function summary(args: string[]): void {
  const { values, groups } = parseSummaryArgs(args);
  const presets = groups.map((g) => summarizePeer(
    preset(g.preset),
    (g.llama ? readJsonOrNull<LlamaBenchRow[]>(g.llama) : null) ?? [],
    g.ours.map((f) => readJsonOrNull<BenchReport>(f)).filter((r): r is BenchReport => r !== null),
    g.plan ? ggufBytesPerToken(readJson<GgufPlan>(g.plan)) : null,
  ));
  // build.done of llama-cpp.sh: "exit-code seconds backend" (kept on the machine from the call that built it).
  const [rc, seconds, backend] = (values.build ?? '').split(' ');
  const report = {
    createdAt: new Date().toISOString(),
    gpu: values.gpu || null,
    build: rc === undefined || rc === '' ? null : { exitCode: Number(rc), seconds: Number(seconds), backend: backend ?? null },
    presets,
  };
  const text = `${JSON.stringify(report, null, 2)}\n`;
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  const buildLine = report.build ? `llama-bench build (${report.build.backend}): ${report.build.seconds} s, exit ${report.build.exitCode}` : 'llama-bench build: no record on this machine';
  process.stderr.write(`${[`gpu: ${report.gpu ?? '-'}; ${buildLine}`, ...presets.flatMap(formatPeerSummary)].join('\n')}\n`);
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if (command === 'plan') plan(rest);
  else if (command === 'summary') summary(rest);
  else throw new Error(USAGE);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
}
