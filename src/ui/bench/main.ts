// The benchmark page: DOM around suite.ts. URL parameters preset the form (?preset=glm-edge-1.5b&layers=1
// &prompt=16&decode=4&vocab=4096) and ?auto=1 runs at once (tests, shared links).
import { PRESETS, isPresetName, presetNames, type PresetName } from '../../model/presets';
import { tensorSizes } from '../../planner/sizes';
import { adapterLabel, probeBrowserGpu, SHOWN_LIMITS, type BrowserGpu } from '../shared/browser-gpu';
import { cachedCalibration } from '../shared/calibration-cache';
import { planVerdict } from '../shared/verdict';
import { describeCalibration } from '../../planner/speeds';
import { byId, el, replace } from '../shared/dom';
import { formatBytes, formatFlops, formatGBps, formatMs, formatTokPerSec } from '../shared/format';
import { barChart, type Bar } from './charts';
import { runBenchSuite, type BenchOptions, type BenchReport } from './suite';

const params = new URLSearchParams(location.search);
const ui = {
  body: document.body,
  noGpu: byId('no-gpu'),
  noGpuText: byId('no-gpu-text'),
  form: byId<HTMLFormElement>('bench-form'),
  preset: byId<HTMLSelectElement>('preset'),
  layers: byId<HTMLInputElement>('layers'),
  promptTokens: byId<HTMLInputElement>('prompt-tokens'),
  decodeTokens: byId<HTMLInputElement>('decode-tokens'),
  vocab: byId<HTMLInputElement>('vocab'),
  run: byId<HTMLButtonElement>('run'),
  exportLink: byId<HTMLAnchorElement>('export'),
  status: byId('bench-status'),
  adapter: byId('adapter'),
  limits: byId<HTMLTableElement>('limits'),
  results: byId<HTMLTableElement>('results'),
  chartTok: byId('chart-tok'),
  chartBw: byId('chart-bw'),
};

const LABELS: Record<PresetName, string> = {
  'glm-4-9b': 'GLM-4-9B-chat',
  'chatglm3-6b': 'ChatGLM3-6B',
  'chatglm-6b': 'ChatGLM-6B',
  'glm-edge-1.5b': 'GLM-Edge-1.5B-chat',
  'glm-4v-9b': 'GLM-4V-9B (vision)',
};

declare global {
  interface Window {
    /** The last report, for tests and the console. */
    glmBench?: { report: BenchReport | null; error: { name: string; message: string } | null };
  }
}
window.glmBench = { report: null, error: null };

function intParam(name: string, input: HTMLInputElement): void {
  const v = params.get(name);
  if (v !== null && /^\d+$/.test(v)) input.value = v;
}

function setupForm(): void {
  for (const name of presetNames) {
    const c = PRESETS[name];
    const perLayer = tensorSizes(c, 'q4').layers[0]!.bytes;
    ui.preset.append(el('option', { value: name }, `${LABELS[name]} · ${c.numLayers} layers · ${formatBytes(perLayer)}/layer q4`));
  }
  const p = params.get('preset');
  ui.preset.value = p && isPresetName(p) ? p : 'glm-edge-1.5b';
  intParam('layers', ui.layers);
  intParam('prompt', ui.promptTokens);
  intParam('decode', ui.decodeTokens);
  intParam('vocab', ui.vocab);
}

function row(cells: (string | Node)[], opts: { group?: boolean; numeric?: number[] } = {}): HTMLTableRowElement {
  return el('tr', { class: opts.group ? 'group' : null }, ...cells.map((c, i) => el('td', { class: opts.numeric?.includes(i) ? 'num' : null, colspan: opts.group ? 4 : null }, c)));
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(v >= 10 ? 0 : 1)}%` : '-';
}

/** A kernel row's name: the matrix, and the GEMV arithmetic where the bench timed both (issue #17). */
function kernelLabel(k: BenchReport['kernels'][number]): string {
  return k.gemv ? `${k.name} (${k.gemv})` : k.name;
}

function showReport(r: BenchReport): void {
  const body = ui.results.tBodies[0]!;
  const rows: HTMLTableRowElement[] = [];
  const rb = r.readBandwidth;
  rows.push(row(['Adapter'], { group: true }));
  rows.push(row(['read bandwidth', formatGBps(rb.bytesPerSec), `${formatBytes(rb.bytes)} buffer x ${rb.dispatchesPerPass} per pass, best of ${rb.passes}, ${rb.timing.method}`, '100%'], { numeric: [1, 3] }));
  const d = r.dispatchOverhead;
  rows.push(row(['f32 FMA rate', `${formatFlops(r.fmaRate.flopsPerSec)}`, `8 independent vec4 FMA chains per invocation, ${r.fmaRate.timing.method}; the yardstick of prefill`, '100%'], { numeric: [1, 3] }));
  rows.push(row(['dispatch overhead', formatMs(d.microsPerDispatch / 1000), `${d.dispatches} dependent dispatches in one pass (a barrier between each, as in a forward pass), ${d.timing.method}; independent empty ones: ${formatMs(d.independentMicrosPerDispatch / 1000)}`, ''], { numeric: [1] }));
  if (r.kernels.length) {
    rows.push(row(['Kernels (decode GEMV, q4)'], { group: true }));
    for (const k of r.kernels) {
      rows.push(row([kernelLabel(k), formatGBps(k.bytesPerSec), `${k.kernel}: ${k.rows} x ${k.cols}, ${formatBytes(k.bytes)}, ${formatMs(k.microsPerCall / 1000)} per call, ${k.calls} calls, ${k.timing}`, pct(k.percentOfRead)], { numeric: [1, 3] }));
    }
  }
  const m = r.model;
  if (m) {
    rows.push(row([`Model: ${LABELS[m.preset]} shapes, ${m.layers} of ${m.presetLayers} layers, vocab ${m.vocab}`], { group: true }));
    rows.push(
      row(
        ['prefill', formatTokPerSec(m.prefill.tokensPerSec), `${m.prefill.tokens} tokens, first token after ${formatMs(m.prefill.ttftSeconds * 1000)}; ${formatFlops(m.prefill.flopsPerSec)}, as a share of the FMA rate`, pct(m.prefill.percentOfFma)],
        { numeric: [1, 3] },
      ),
    );
    rows.push(row(['decode', formatTokPerSec(m.decode.tokensPerSec), `${m.decode.tokens} tokens, ${formatMs(m.decode.msPerToken)}/token, reads ${formatBytes(m.bytesPerToken)}/token = ${formatGBps(m.decode.bytesPerSec)}`, pct(m.decode.percentOfRead)], { numeric: [1, 3] }));
    rows.push(row(['decode step', `${m.decode.dispatchesPerStep} dispatches`, `${formatMs(m.decode.encodeMsPerToken)} recording on the CPU per step (${m.decode.encodeMicrosPerDispatch.toFixed(1)} µs per dispatch)${m.decodeProfile ? `; ${formatMs(m.decodeProfile.gpuMsPerToken)} on the GPU` : ''}`, ''], { numeric: [1] }));
    for (const k of m.decodeProfile?.kernels.slice(0, 8) ?? []) {
      rows.push(row([`  ${k.kernel}`, formatMs(k.microsPerToken / 1000), `GPU time per token, ${k.callsPerToken} dispatches`, ''], { numeric: [1] }));
    }
    rows.push(row([`decode, all ${m.presetLayers} layers (estimate)`, formatTokPerSec(m.fullModelDecodeEstimate), 'per-layer time of this run scaled to the full model', ''], { numeric: [1] }));
    // The estimate the chat page and the widget show for this preset (issue #16: one estimate for all pages).
    const shared = sharedEstimate(m.preset);
    rows.push(row(['decode, the chat page’s prediction', shared ? formatTokPerSec(shared.tokPerSec) : '-', shared ? shared.what : 'no calibration stored yet: open the chat page once in this browser', ''], { numeric: [1] }));
    rows.push(row(['random weights on the GPU', formatBytes(m.weightBytes), `q4 matrices, f32 norms and biases; ${formatBytes(m.gpuBytes.allocated)} allocated in all`, ''], { numeric: [1] }));
  }
  for (const e of r.errors) rows.push(row([`${e.part} failed`, e.name, e.message, '']));
  rows.push(row(['total time', `${r.seconds.toFixed(1)} s`, r.timestampQuery ? 'timestamp-query available' : 'no timestamp-query: wall-clock timing', ''], { numeric: [1] }));
  replace(body, ...rows);

  const tok: Bar[] = m
    ? [
        { label: 'prefill', value: m.prefill.tokensPerSec, text: formatTokPerSec(m.prefill.tokensPerSec) },
        { label: `decode (${m.layers} layer${m.layers === 1 ? '' : 's'})`, value: m.decode.tokensPerSec, text: formatTokPerSec(m.decode.tokensPerSec) },
        { label: `decode (all ${m.presetLayers}, est.)`, value: m.fullModelDecodeEstimate, text: formatTokPerSec(m.fullModelDecodeEstimate) },
      ]
    : [];
  replace(ui.chartTok, barChart(tok, { title: 'Tokens per second' }));
  const bw: Bar[] = [
    ...r.kernels.map((k) => ({ label: kernelLabel(k), value: k.percentOfRead, text: `${pct(k.percentOfRead)} · ${formatGBps(k.bytesPerSec)}` })),
    ...(m ? [{ label: 'decode (whole step)', value: m.decode.percentOfRead, text: `${pct(m.decode.percentOfRead)} · ${formatGBps(m.decode.bytesPerSec)}` }] : []),
  ];
  replace(ui.chartBw, barChart(bw, { title: 'Percent of measured read bandwidth', max: 100 }));

  const blob = new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' });
  if (ui.exportLink.href) URL.revokeObjectURL(ui.exportLink.href);
  ui.exportLink.href = URL.createObjectURL(blob);
  ui.exportLink.download = `glm-webgpu-bench-${r.options.preset}-${r.options.layers}l-${r.createdAt.slice(0, 19).replace(/[:T]/g, '-')}.json`;
  ui.exportLink.hidden = false;
}

async function run(): Promise<void> {
  const vocab = ui.vocab.value.trim() === '' ? undefined : Number(ui.vocab.value);
  const options: BenchOptions = {
    preset: ui.preset.value as PresetName,
    layers: Math.max(1, Math.round(Number(ui.layers.value) || 1)),
    promptTokens: Math.max(1, Math.round(Number(ui.promptTokens.value) || 1)),
    decodeTokens: Math.max(2, Math.round(Number(ui.decodeTokens.value) || 2)),
    ...(vocab !== undefined ? { vocab } : {}),
    onProgress: (m) => (ui.status.textContent = m),
  };
  ui.run.disabled = true;
  ui.body.dataset.state = 'running';
  ui.exportLink.hidden = true;
  window.glmBench = { report: null, error: null };
  try {
    const report = await runBenchSuite(navigator.gpu, options);
    window.glmBench.report = report;
    showReport(report);
    ui.status.textContent = report.errors.length ? `Finished with ${report.errors.length} error(s), see the table.` : `Finished in ${report.seconds.toFixed(1)} s.`;
    ui.body.dataset.state = 'done';
  } catch (err) {
    const e = err as Error;
    window.glmBench.error = { name: e.name, message: e.message };
    ui.status.textContent = `${e.name}: ${e.message}`;
    ui.body.dataset.state = 'error';
  } finally {
    ui.run.disabled = false;
  }
}

/** The planner's verdict for a preset from the calibration the chat page stored for this browser. */
function sharedEstimate(preset: PresetName): { tokPerSec: number; what: string } | null {
  if (!browserGpu) return null;
  const calibration = cachedCalibration(browserGpu);
  if (!calibration) return null;
  const v = planVerdict(PRESETS[preset], 'q4', browserGpu, { calibration, modelName: LABELS[preset] });
  return v.decodeTokPerSec === null ? null : { tokPerSec: v.decodeTokPerSec, what: `${v.headline.split(',')[0]}; ${describeCalibration(calibration)}` };
}

let browserGpu: BrowserGpu | null = null;

async function init(): Promise<void> {
  setupForm();
  const g = await probeBrowserGpu();
  browserGpu = g;
  const info: [string, string | Node][] = [['adapter', adapterLabel(g)]];
  if (g.status === 'ok') {
    info.push(['class', `${g.adapterClass} (${g.adapterReason})`]);
    info.push(['features', g.features.length ? el('ul', { class: 'feature-list' }, ...g.features.map((f) => el('li', {}, f))) : 'none']);
    for (const k of SHOWN_LIMITS) info.push([k, k.startsWith('maxBuffer') || k.startsWith('maxStorageBufferBinding') || k.endsWith('StorageSize') ? `${formatBytes(g.limits[k]!)} (${g.limits[k]})` : String(g.limits[k])]);
    info.push(['planner GPU budget', formatBytes(g.gpuBudget)]);
    if (g.adapterClass === 'software') {
      // A software rasteriser runs the kernels on the CPU: the defaults would take many minutes.
      for (const [param, input, value] of [['layers', ui.layers, '1'], ['prompt', ui.promptTokens, '8'], ['decode', ui.decodeTokens, '4'], ['vocab', ui.vocab, '4096']] as const) {
        if (!params.has(param)) input.value = value;
      }
      ui.status.textContent = 'Software adapter: the settings were made small (1 layer, vocabulary 4096); larger runs take minutes.';
    }
  } else {
    ui.noGpu.hidden = false;
    ui.noGpuText.textContent = `${g.message}. The benchmark measures the GPU, so it cannot run here; the chat page can still run models on the CPU.`;
    ui.run.disabled = true;
    ui.body.dataset.state = 'no-webgpu';
  }
  replace(ui.adapter, ...info.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  if (g.status === 'ok' && navigator.gpu) {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter) {
      const rows: HTMLTableRowElement[] = [];
      for (const key in adapter.limits) {
        const v = (adapter.limits as unknown as Record<string, unknown>)[key];
        if (typeof v === 'number') rows.push(el('tr', {}, el('td', {}, key), el('td', { class: 'num' }, String(v))));
      }
      replace(ui.limits.tBodies[0]!, ...rows.sort((a, b) => a.textContent!.localeCompare(b.textContent!)));
    }
  }
  ui.body.dataset.ready = 'true';
  if (params.get('auto') === '1' && g.status === 'ok') await run();
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void run();
});
void init();
