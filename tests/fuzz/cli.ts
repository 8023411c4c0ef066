// `npm run fuzz -- [--cases N] [--seed S] [--workers W] [--formats a,b] [--timeout MS] [--replay LABEL]`:
// the long fuzz run (scripts/fuzz.mjs bundles this file and runs it). Prints one line per failing case
// as it happens, the per-format table at the end, and exits 1 when any case failed.
import { writeFileSync } from 'node:fs';
import { formatReport, runFuzz } from './harness';
import { FUZZ_FORMATS, MUTATIONS, type CaseSpec, type FuzzFormat } from './mutations';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** "format:seed/mutation:caseSeed" (as printed for each finding) -> the case. */
function parseLabel(label: string): CaseSpec {
  const m = /^([^:]+):(\w+)\/([^:]+):(\d+)$/.exec(label);
  if (!m || !(FUZZ_FORMATS as readonly string[]).includes(m[1]!)) throw new Error(`--replay wants FORMAT:SEED/MUTATION:CASESEED as printed, got ${label}`);
  const format = m[1] as FuzzFormat;
  const mutation = MUTATIONS[format].findIndex((x) => x.seed === m[2] && x.name === m[3]);
  if (mutation < 0) throw new Error(`no mutation ${m[2]}/${m[3]} for ${format}`);
  return { format, mutation, caseSeed: Number(m[4]) };
}

const root = process.env.GLM_FUZZ_ROOT ?? process.cwd();
const formats = arg('formats')?.split(',') as FuzzFormat[] | undefined;
for (const f of formats ?? []) if (!(FUZZ_FORMATS as readonly string[]).includes(f)) throw new Error(`unknown format ${f}; formats: ${FUZZ_FORMATS.join(', ')}`);
const replay = arg('replay');
const cases = Number(arg('cases') ?? 10_000);
let done = 0;
const report = await runFuzz({
  root,
  cases,
  seed: Number(arg('seed') ?? 1),
  workers: Number(arg('workers') ?? 2),
  ...(arg('timeout') ? { timeoutMs: Number(arg('timeout')) } : {}),
  ...(formats ? { formats } : {}),
  ...(replay ? { specs: replay.split(',').map(parseLabel) } : {}),
  onResult(r) {
    done++;
    if (r.verdict !== 'accepted' && r.verdict !== 'named') console.log(`${r.verdict.toUpperCase()} ${r.label}: ${r.detail}`);
    else if (replay) console.log(`${r.verdict} ${r.label}: ${r.detail}`);
    if (done % 500 === 0) console.error(`... ${done} cases`);
  },
});
const json = arg('json');
if (json) writeFileSync(json, JSON.stringify({ counts: report.counts, failures: report.failures, cases: report.results.length, ms: report.ms }, null, 1));
console.log(formatReport(report, 'fuzz (long run)'));
process.exitCode = report.failures.length === 0 ? 0 : 1;
