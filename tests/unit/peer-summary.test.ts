// bench/peer/summary.ts: llama-bench's rows beside our bench report, on real outputs of both tools
// (tests/fixtures/peer-bench/README.md). The ratios must set our decode (after the prompt) against
// llama.cpp's generation at that depth, and our prefill against its prompt processing from an empty context.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatPeerSummary, llamaBenchTestName, parseSummaryArgs, summarizePeer, type LlamaBenchRow } from '../../bench/peer/summary';
import type { BenchReport } from '../../src/ui/bench/suite';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/peer-bench/${name}`, import.meta.url), 'utf8')) as T;
const llama = fixture<LlamaBenchRow[]>('llama-bench-cpu-glm-edge-tiny.json');
const ours = fixture<BenchReport>('ours-swiftshader-glm-edge-tiny.json');
const row = (p: number, g: number, d: number) => {
  const r = llama.find((x) => x.n_prompt === p && x.n_gen === g && x.n_depth === d);
  if (!r) throw new Error(`fixture has no pp${p} tg${g} d${d} row`);
  return r;
};

describe('summarizePeer', () => {
  it('sets our prefill against pp<prompt> and our decode against tg at our prompt\'s depth', () => {
    const bytes = ours.model!.bytesPerToken;
    const s = summarizePeer('glm-edge-1.5b', llama, [ours], bytes);
    expect(s.llamaCpp!.tests.map((t) => t.test)).toEqual(['pp8', 'tg4', 'pp8 @ d8', 'tg4 @ d8']);
    expect(s.ratios).toHaveLength(1);
    const r = s.ratios[0]!;
    expect(r.decodeAgainst).toBe('tg4 @ d8');
    expect(r.prefill).toBeCloseTo(ours.model!.prefill.tokensPerSec / row(8, 0, 0).avg_ts, 12);
    expect(r.decode).toBeCloseTo(ours.model!.decode.tokensPerSec / row(0, 4, 8).avg_ts, 12);
    expect(s.llamaCpp!.decodeBytesPerSec).toBeCloseTo(row(0, 4, 8).avg_ts * bytes, 3);
    expect(s.llamaCpp!.decodePercentOfOurRead).toBeCloseTo((100 * row(0, 4, 8).avg_ts * bytes) / ours.readBandwidth.bytesPerSec, 9);
    expect(s.card).toEqual({ ours: ours.adapter.description, llamaCpp: null }); // a CPU run has no gpu_info
    expect(s.ours[0]).toMatchObject({ activations: 'f32', decodeTokensPerSec: ours.model!.decode.tokensPerSec, errors: [] });
  });

  it('falls back to tg from an empty context when llama-bench ran no depth, and to nulls without llama-bench', () => {
    const noDepth = summarizePeer('glm-edge-1.5b', llama.filter((x) => x.n_depth === 0), [ours], null);
    expect(noDepth.ratios[0]!.decodeAgainst).toBe('tg4');
    expect(noDepth.ratios[0]!.decode).toBeCloseTo(ours.model!.decode.tokensPerSec / row(0, 4, 0).avg_ts, 12);
    expect(noDepth.llamaCpp!.decodePercentOfOurRead).toBeNull();

    const none = summarizePeer('glm-edge-1.5b', [], [ours], null);
    expect(none.llamaCpp).toBeNull();
    expect(none.ratios[0]).toEqual({ activations: 'f32', prefill: null, decode: null, decodeAgainst: null });
    expect(formatPeerSummary(none).join('\n')).toContain('llama.cpp: no figures in this run');
  });

  it('prints every llama-bench test and both ratios, small figures with three significant digits', () => {
    const text = formatPeerSummary(summarizePeer('glm-edge-1.5b', llama, [ours], ours.model!.bytesPerToken)).join('\n');
    for (const t of ['pp8', 'tg4 @ d8']) expect(text).toContain(t);
    expect(text).toContain(`decode ${ours.model!.decode.tokensPerSec.toPrecision(3)} tok/s`);
    expect(text).toMatch(/ours \/ llama\.cpp, f32: prefill [0-9.]+, decode [0-9.]+ \(against tg4 @ d8\)/);
  });

  it('names llama-bench tests as llama-bench prints them', () => {
    expect(llamaBenchTestName({ n_prompt: 512, n_gen: 0, n_depth: 0 })).toBe('pp512');
    expect(llamaBenchTestName({ n_prompt: 0, n_gen: 128, n_depth: 512 })).toBe('tg128 @ d512');
    expect(llamaBenchTestName({ n_prompt: 512, n_gen: 128, n_depth: 0 })).toBe('pp512+tg128');
  });
});

describe('parseSummaryArgs', () => {
  it('groups --plan/--llama/--ours under the --preset before them', () => {
    const { groups, values } = parseSummaryArgs([
      '--preset', 'glm-4-9b', '--plan', 'a.json', '--llama', 'l.json', '--ours', 'o32.json', '--ours', 'o16.json',
      '--preset', 'glm-edge-1.5b', '--plan', 'b.json', '--ours', 'e32.json', '--gpu', 'H100', '--out', 's.json',
    ]);
    expect(groups).toEqual([
      { preset: 'glm-4-9b', plan: 'a.json', llama: 'l.json', ours: ['o32.json', 'o16.json'] },
      { preset: 'glm-edge-1.5b', plan: 'b.json', ours: ['e32.json'] },
    ]);
    expect(values).toEqual({ gpu: 'H100', out: 's.json' });
    expect(() => parseSummaryArgs(['--ours', 'x.json'])).toThrow(/before any --preset/);
    expect(() => parseSummaryArgs([])).toThrow(/at least one --preset/);
  });
});
