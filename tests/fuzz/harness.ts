// The fuzz harness: runs cases (tests/fuzz/mutations.ts) in worker_threads with a time limit per case and
// a memory limit per worker (resourceLimits), and classifies each case:
//   accepted  loaded and answered, and the mutation may legitimately load;
//   named     refused with a named error (GlmError subclasses and other non-built-in names);
//   silent    loaded and answered although the mutation must be refused (garbage accepted);
//   generic   refused with a bare Error/TypeError/RangeError/...;
//   hang      no answer within the time limit (the worker is terminated);
//   crash     the worker died (out of memory, fatal error) while running the case.
// The worker entry is bundled with rolldown (vite's bundler) first, so plain Node runs it, under vitest and
// under `npm run fuzz` alike.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CaseOutcome } from './case-worker';
import { caseLabel, FUZZ_FORMATS, MUTATIONS, planCases, type CaseSpec, type FuzzFormat } from './mutations';

export const VERDICTS = ['accepted', 'named', 'silent', 'generic', 'hang', 'crash'] as const;
export type Verdict = (typeof VERDICTS)[number];
/** Verdicts that fail a run. */
export const FAILING: readonly Verdict[] = ['silent', 'generic', 'hang', 'crash'];

export interface CaseResult {
  spec: CaseSpec;
  label: string;
  verdict: Verdict;
  detail: string;
  ms: number;
}

export interface FuzzOptions {
  /** Repository root (the worker reads the tokenizer and ChatGLM2 fixtures from tests/fixtures). */
  root: string;
  cases?: number;
  seed?: number;
  formats?: readonly FuzzFormat[];
  /** Explicit cases instead of planned ones (replays, regression lists). */
  specs?: CaseSpec[];
  /** Cases left out (e.g. tokenizer cases that wait for another branch's fixes). */
  skip?: (spec: CaseSpec) => boolean;
  workers?: number;
  timeoutMs?: number;
  memoryMb?: number;
  /** Stop starting new cases after this long (the bounded run); the cases done so far are reported. */
  deadlineMs?: number;
  onResult?: (r: CaseResult) => void;
}

export interface FuzzReport {
  results: CaseResult[];
  counts: Record<FuzzFormat, Record<Verdict, number>>;
  failures: CaseResult[];
  ms: number;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MEMORY_MB = 768;
/** A worker is replaced after this many cases, so memory one case leaves behind cannot fail a later one. */
const CASES_PER_WORKER = 250;

/** Vite's `?raw` imports (the WGSL shaders) as string modules, for the rolldown bundle. */
const rawTextPlugin = {
  name: 'raw-text',
  resolveId(source: string, importer: string | undefined) {
    if (!source.endsWith('?raw') || !importer) return null;
    return `${resolve(dirname(importer), source.slice(0, -4))}?raw`;
  },
  load(id: string) {
    if (!id.endsWith('?raw')) return null;
    return `export default ${JSON.stringify(readFileSync(id.slice(0, -4), 'utf8'))};`;
  },
};

async function bundleWorker(root: string): Promise<string> {
  const { build } = await import('rolldown');
  mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
  const out = join(mkdtempSync(join(root, 'node_modules/.cache/glm-fuzz-')), 'case-worker.mjs');
  await build({
    input: join(root, 'tests/fuzz/case-worker.ts'),
    platform: 'node',
    logLevel: 'silent',
    external: ['webgpu', /^node:/],
    plugins: [rawTextPlugin],
    output: { file: out, format: 'esm', codeSplitting: false },
  });
  return out;
}

class Slot {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private done = 0;
  private pending: { id: number; resolve: (v: CaseOutcome | { died: string }) => void } | null = null;
  private nextId = 0;

  constructor(
    private readonly script: string,
    private readonly root: string,
    private readonly memoryMb: number,
  ) {}

  private start(): Promise<void> {
    const worker = new Worker(this.script, {
      workerData: { root: this.root },
      resourceLimits: { maxOldGenerationSizeMb: this.memoryMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    this.worker = worker;
    this.done = 0;
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        if (this.worker !== worker) return;
        this.worker = null;
        this.ready = null;
        const p = this.pending;
        this.pending = null;
        if (p) p.resolve({ died: why });
        else reject(new Error(`fuzz worker failed to start: ${why}`));
      };
      worker.on('message', (msg: { type: string; id?: number; outcome?: CaseOutcome; message?: string }) => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'fatal') fail(msg.message ?? 'fatal');
        else if (msg.type === 'result' && this.pending && msg.id === this.pending.id) {
          const p = this.pending;
          this.pending = null;
          p.resolve(msg.outcome!);
        }
      });
      worker.on('error', (err: Error) => fail(`${err.name}: ${err.message}`.slice(0, 300)));
      worker.on('exit', (code) => fail(`worker exited with code ${code}`));
    });
  }

  async run(spec: CaseSpec, timeoutMs: number): Promise<CaseOutcome | { died: string } | { hung: true }> {
    if (this.worker && this.done >= CASES_PER_WORKER) await this.stop();
    this.ready ??= this.start();
    await this.ready;
    this.done++;
    const id = this.nextId++;
    const answer = new Promise<CaseOutcome | { died: string }>((resolve) => {
      this.pending = { id, resolve };
    });
    this.worker!.postMessage({ id, spec });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ hung: true }>((resolve) => {
      timer = setTimeout(() => resolve({ hung: true }), timeoutMs);
    });
    const result = await Promise.race([answer, timeout]);
    clearTimeout(timer);
    if ('hung' in result) {
      this.pending = null;
      await this.stop();
    }
    return result;
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.ready = null;
    this.pending = null;
    if (w) await w.terminate();
  }
}

function classify(result: CaseOutcome | { died: string } | { hung: true }, timeoutMs: number): { verdict: Verdict; detail: string; ms: number } {
  if ('hung' in result) return { verdict: 'hang', detail: `no answer within ${timeoutMs} ms`, ms: timeoutMs };
  if ('died' in result) return { verdict: 'crash', detail: result.died, ms: 0 };
  if (result.kind === 'ok') return { verdict: result.mustReject ? 'silent' : 'accepted', detail: result.mustReject ? 'loaded and answered' : '', ms: result.ms };
  return { verdict: result.named ? 'named' : 'generic', detail: `${result.name}: ${result.message}`, ms: result.ms };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const all = options.specs ?? planCases(options.cases ?? 100, options.seed ?? 1, options.formats ?? FUZZ_FORMATS);
  const specs = options.skip ? all.filter((s) => !options.skip!(s)) : all;
  const script = await bundleWorker(options.root);
  const slots = Array.from({ length: Math.max(1, options.workers ?? 1) }, () => new Slot(script, options.root, options.memoryMb ?? DEFAULT_MEMORY_MB));
  const results: CaseResult[] = [];
  let next = 0;
  const deadline = options.deadlineMs === undefined ? Infinity : started + options.deadlineMs;
  await Promise.all(
    slots.map(async (slot) => {
      while (next < specs.length && performance.now() < deadline) {
        const spec = specs[next++]!;
        const { verdict, detail, ms } = classify(await slot.run(spec, timeoutMs), timeoutMs);
        const r = { spec, label: caseLabel(spec), verdict, detail, ms };
        results.push(r);
        options.onResult?.(r);
      }
      await slot.stop();
    }),
  );
  const counts = Object.fromEntries(FUZZ_FORMATS.map((f) => [f, Object.fromEntries(VERDICTS.map((v) => [v, 0]))])) as FuzzReport['counts'];
  for (const r of results) counts[r.spec.format][r.verdict]++;
  return { results, counts, failures: results.filter((r) => FAILING.includes(r.verdict)), ms: performance.now() - started };
}

/** Per-format table and the closing pass/fail line. */
export function formatReport(report: FuzzReport, title = 'fuzz'): string {
  const lines: string[] = [];
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  lines.push(`${'format'.padEnd(22)}${VERDICTS.map((v) => pad(v, 9)).join('')}${pad('cases', 8)}`);
  for (const f of FUZZ_FORMATS) {
    const c = report.counts[f];
    const total = VERDICTS.reduce((s, v) => s + c[v], 0);
    if (total === 0) continue;
    lines.push(`${f.padEnd(22)}${VERDICTS.map((v) => pad(c[v], 9)).join('')}${pad(total, 8)}`);
  }
  for (const r of report.failures.slice(0, 40)) lines.push(`  ${r.verdict.toUpperCase()} ${r.label}: ${r.detail}`);
  if (report.failures.length > 40) lines.push(`  ... ${report.failures.length - 40} more failures`);
  const n = report.results.length;
  const by = (v: Verdict) => report.failures.filter((r) => r.verdict === v).length;
  lines.push(
    `${title}: ${report.failures.length === 0 ? 'PASS' : 'FAIL'}: ${n} cases in ${(report.ms / 1000).toFixed(0)} s, ` +
      `${by('crash')} deaths, ${by('hang')} hangs, ${by('generic')} generic errors, ${by('silent')} silent acceptances`,
  );
  return lines.join('\n');
}

/** Number of mutations per format (for the README table and sanity checks). */
export function mutationCount(format: FuzzFormat): number {
  return MUTATIONS[format].length;
}
