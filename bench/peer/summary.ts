// Puts llama.cpp's llama-bench figures beside our bench's, from the same call on the same card, and
// computes the ratios the issue's targets are stated in (ours over llama.cpp's). Pure: the inputs are
// the JSON files both tools wrote (`llama-bench -o json`, `glm-webgpu bench --json FILE`).
import { parseArgs } from 'node:util';
import type { BenchReport } from '../../src/ui/bench/suite';

/** The fields of one `llama-bench -o json` row that the summary reads (it prints many more). */
export interface LlamaBenchRow {
  build_commit: string;
  build_number: number;
  gpu_info: string;
  backends: string;
  model_type: string;
  model_size: number;
  n_gpu_layers: number;
  flash_attn: number;
  n_prompt: number;
  n_gen: number;
  n_depth: number;
  avg_ts: number;
  stddev_ts: number;
}

export interface PeerFigure {
  test: string;
  tokensPerSec: number;
  stddev: number;
}

export interface PeerSummary {
  preset: string;
  card: { ours: string | null; llamaCpp: string | null };
  /** null: no llama-bench figures for this preset in this run (see the run's log). */
  llamaCpp: {
    build: string;
    backends: string;
    flashAttn: number;
    gpuLayers: number;
    modelType: string;
    modelBytes: number;
    tests: PeerFigure[];
    /** Weight bytes a decoded token reads in its file (matrices and head; from the GGUF plan). */
    bytesPerToken: number | null;
    /** Its decode at our decode's context (tg after 512 tokens when run, else from an empty one) x bytesPerToken. */
    decodeBytesPerSec: number | null;
    /** That over the read bandwidth our bench measured on the same card, in percent. */
    decodePercentOfOurRead: number | null;
  } | null;
  ours: {
    activations: 'f32' | 'f16';
    readBandwidthBytesPerSec: number;
    prefillTokensPerSec: number | null;
    decodeTokensPerSec: number | null;
    decodePercentOfRead: number | null;
    bytesPerToken: number | null;
    errors: string[];
  }[];
  /** Ours over llama.cpp's: prefill against pp<prompt> from an empty context, decode against tg at our context. */
  ratios: { activations: 'f32' | 'f16'; prefill: number | null; decode: number | null; decodeAgainst: string | null }[];
}

export function llamaBenchTestName(row: Pick<LlamaBenchRow, 'n_prompt' | 'n_gen' | 'n_depth'>): string {
  const name = row.n_gen > 0 && row.n_prompt > 0 ? `pp${row.n_prompt}+tg${row.n_gen}` : row.n_gen > 0 ? `tg${row.n_gen}` : `pp${row.n_prompt}`;
  return row.n_depth > 0 ? `${name} @ d${row.n_depth}` : name;
}

export function summarizePeer(preset: string, llamaRows: LlamaBenchRow[], ours: BenchReport[], llamaBytesPerToken: number | null): PeerSummary {
  const first = llamaRows[0];
  const promptOf = (r: BenchReport) => r.model?.prefill.tokens ?? r.options.promptTokens;
  // Our decode runs after the prompt: compare with llama.cpp's generation at that depth when it was measured.
  const decodeRow = (depth: number) =>
    llamaRows.find((r) => r.n_prompt === 0 && r.n_gen > 0 && r.n_depth === depth) ?? llamaRows.find((r) => r.n_prompt === 0 && r.n_gen > 0 && r.n_depth === 0);
  const prefillRow = (tokens: number) => llamaRows.find((r) => r.n_gen === 0 && r.n_prompt === tokens && r.n_depth === 0);

  const llamaDecode = decodeRow(ours.length > 0 ? promptOf(ours[0]!) : 0);
  const decodeBytesPerSec = llamaDecode && llamaBytesPerToken !== null ? llamaDecode.avg_ts * llamaBytesPerToken : null;
  const read = ours.find((r) => r.activations === 'f32')?.readBandwidth.bytesPerSec ?? ours[0]?.readBandwidth.bytesPerSec;

  return {
    preset,
    card: { ours: ours[0]?.adapter.description || null, llamaCpp: first?.gpu_info || null },
    llamaCpp: first
      ? {
        build: `${first.build_commit} (${first.build_number})`,
        backends: first.backends,
        flashAttn: first.flash_attn,
        gpuLayers: first.n_gpu_layers,
        modelType: first.model_type,
        modelBytes: first.model_size,
        tests: llamaRows.map((r) => ({ test: llamaBenchTestName(r), tokensPerSec: r.avg_ts, stddev: r.stddev_ts })),
        bytesPerToken: llamaBytesPerToken,
        decodeBytesPerSec,
        decodePercentOfOurRead: decodeBytesPerSec !== null && read ? (100 * decodeBytesPerSec) / read : null,
      }
      : null,
    ours: ours.map((r) => ({
      activations: r.activations,
      readBandwidthBytesPerSec: r.readBandwidth.bytesPerSec,
      prefillTokensPerSec: r.model?.prefill.tokensPerSec ?? null,
      decodeTokensPerSec: r.model?.decode.tokensPerSec ?? null,
      decodePercentOfRead: r.model?.decode.percentOfRead ?? null,
      bytesPerToken: r.model?.bytesPerToken ?? null,
      errors: r.errors.map((e) => `${e.part}: ${e.name}: ${e.message}`),
    })),
    ratios: ours.map((r) => {
      const pp = prefillRow(promptOf(r));
      const tg = decodeRow(promptOf(r));
      return {
        activations: r.activations,
        prefill: r.model && pp ? r.model.prefill.tokensPerSec / pp.avg_ts : null,
        decode: r.model && tg ? r.model.decode.tokensPerSec / tg.avg_ts : null,
        decodeAgainst: tg ? llamaBenchTestName(tg) : null,
      };
    }),
  };
}

/** Fixed digits, or 3 significant ones for small figures (a software adapter's 0.04 tok/s). */
const fixed = (x: number | null | undefined, digits: number) =>
  (x === null || x === undefined ? '-' : Math.abs(x) < 10 ** (2 - digits) && x !== 0 ? x.toPrecision(3) : x.toFixed(digits));

/** A few lines per preset for the log: llama.cpp's tests, ours, and the ratios. */
export function formatPeerSummary(s: PeerSummary): string[] {
  const lines = [`${s.preset}: ours on ${s.card.ours ?? '-'}, llama.cpp on ${s.card.llamaCpp ?? '-'}`];
  if (s.llamaCpp) {
    const share = s.llamaCpp.decodePercentOfOurRead === null ? '' : ` (its decode: ${fixed(s.llamaCpp.decodePercentOfOurRead, 1)}% of our measured read bandwidth)`;
    lines.push(`  llama.cpp ${s.llamaCpp.backends}, fa ${s.llamaCpp.flashAttn}: ${s.llamaCpp.tests.map((t) => `${t.test} ${fixed(t.tokensPerSec, 1)} tok/s`).join(', ')}${share}`);
  } else {
    lines.push('  llama.cpp: no figures in this run');
  }
  for (const o of s.ours) {
    lines.push(`  ours ${o.activations}: prefill ${fixed(o.prefillTokensPerSec, 0)} tok/s, decode ${fixed(o.decodeTokensPerSec, 1)} tok/s ` +
      `(${fixed(o.decodePercentOfRead, 1)}% of read)${o.errors.length ? ` ERRORS ${o.errors.join('; ')}` : ''}`);
  }
  for (const r of s.ratios) {
    lines.push(`  ours / llama.cpp, ${r.activations}: prefill ${fixed(r.prefill, 2)}, decode ${fixed(r.decode, 2)}${r.decodeAgainst ? ` (against ${r.decodeAgainst})` : ''}`);
  }
  return lines;
}

export interface PeerSummaryGroup {
  preset: string;
  plan?: string;
  llama?: string;
  ours: string[];
}

/**
 * `summary (--preset P --plan F [--llama F] [--ours F]...)... [--build INFO] [--gpu NAME] [--out F]`:
 * each --preset opens a group that the --plan/--llama/--ours after it belong to.
 */
export function parseSummaryArgs(args: string[]): { values: { build?: string; gpu?: string; out?: string }; groups: PeerSummaryGroup[] } {
  const { values, tokens } = parseArgs({
    args, tokens: true,
    options: {
      preset: { type: 'string', multiple: true }, plan: { type: 'string', multiple: true }, llama: { type: 'string', multiple: true },
      ours: { type: 'string', multiple: true }, build: { type: 'string' }, gpu: { type: 'string' }, out: { type: 'string' },
    },
  });
  const groups: PeerSummaryGroup[] = [];
  for (const t of tokens) {
    if (t.kind !== 'option' || t.value === undefined || t.name === 'build' || t.name === 'gpu' || t.name === 'out') continue;
    if (t.name === 'preset') {
      groups.push({ preset: t.value, ours: [] });
      continue;
    }
    const group = groups.at(-1);
    if (!group) throw new Error(`--${t.name} comes before any --preset`);
    if (t.name === 'ours') group.ours.push(t.value);
    else if (t.name === 'plan' || t.name === 'llama') group[t.name] = t.value;
  }
  if (groups.length === 0) throw new Error('summary needs at least one --preset');
  const picked: { build?: string; gpu?: string; out?: string } = {};
  if (values.build !== undefined) picked.build = values.build;
  if (values.gpu !== undefined) picked.gpu = values.gpu;
  if (values.out !== undefined) picked.out = values.out;
  return { values: picked, groups };
}
