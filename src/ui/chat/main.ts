// The chat page: pick a model, see the planner's verdict for this browser before downloading anything,
// download it into IndexedDB with progress, then chat with streamed replies. The engine runs in a Web
// Worker (shared/engine-worker.ts); this file is only DOM.
//
// URL parameters (for links and tests): ?model=<url> sets the default model, ?backend=auto|gpu|cpu and
// ?quant=q4|q8|none preset the selects, ?autoload=1 loads the default model at once.
import { PRESETS, presetNames, type PresetName } from '../../index';
import { deleteCachedModel, listCachedModels, type DownloadProgress, type SkippedRecord } from '../../index';
import type { ChatCompletionMessageParam, LoadProgress } from '../../index';
import { userMessage } from '../../index';
import { ImageAttachments, messageImages } from '../shared/attachments';
import type { WeightQuant } from '../../index';
import type { Engine } from '../../index';
import { adapterLabel, probeBrowserGpu, type BrowserGpu } from '../shared/browser-gpu';
import { byId, el, replace } from '../shared/dom';
import { describeError, type ErrorView } from '../shared/errors';
import { formatBytes, formatEta, formatRate, formatTokPerSec } from '../shared/format';
import { loadModelFromUrl, type BackendChoice, type QuantChoice } from '../shared/load-model';
import { inspectHubSource, inspectSource, type SourceInfo } from '../shared/model-source';
import { MODEL_CATALOGUE, catalogueSizes } from '../../index';
import { createPageEngine } from '../shared/page-engine';
import { planVerdict, type Verdict } from '../shared/verdict';
import { DEMO_SUGGESTIONS, sourceDetails, suggestionButtons } from '../shared/knowledge';
import { ensureCalibration } from '../shared/calibration-cache';
import type { Calibration } from '../../index';
import { GiB } from '../../index';

const params = new URLSearchParams(location.search);
/** The embedded demo model (public/models/glm-demo/), unless ?model= names another. */
const DEFAULT_MODEL = params.get('model') ?? 'models/glm-demo/';

const PRESET_LABELS: Record<PresetName, string> = {
  'glm-4-9b': 'GLM-4-9B-chat',
  'chatglm3-6b': 'ChatGLM3-6B',
  'chatglm-6b': 'ChatGLM-6B',
  'glm-edge-1.5b': 'GLM-Edge-1.5B-chat',
  'glm-4v-9b': 'GLM-4V-9B (vision)',
};

/** How often the page asks the engine how far a prefill got. */
const PREFILL_POLL_MS = 250;
/**
 * The streamed reply is drawn at most this often (issue #16). Each redraw costs the browser a frame
 * (layout, raster, composite: on a software compositor such as SwiftShader that is CPU time in the GPU
 * process), and drawn once per token it took a core's share from the decode itself on a 2-core machine.
 * Ten frames a second still reads as streaming.
 */
const REPLY_DRAW_MS = 100;

type ModelState = 'idle' | 'loading' | 'ready' | 'generating' | 'error';

const ui = {
  body: document.body,
  gpuBanner: byId('gpu-banner'),
  gpuBannerTitle: byId('gpu-banner-title'),
  gpuBannerText: byId('gpu-banner-text'),
  useCpu: byId<HTMLButtonElement>('use-cpu'),
  modelSelect: byId<HTMLSelectElement>('model-select'),
  urlRow: byId('url-row'),
  urlLabel: byId('model-url-label'),
  url: byId<HTMLInputElement>('model-url'),
  verdict: byId('verdict'),
  verdictHeadline: byId('verdict-headline'),
  verdictDetails: byId('verdict-details'),
  verdictPlan: byId<HTMLDetailsElement>('verdict-plan'),
  verdictPlanText: byId('verdict-plan-text'),
  backend: byId<HTMLSelectElement>('backend'),
  gpuBudget: byId<HTMLInputElement>('gpu-budget'),
  gpuBudgetHint: byId('gpu-budget-hint'),
  quant: byId<HTMLSelectElement>('quant'),
  load: byId<HTMLButtonElement>('load'),
  cancel: byId<HTMLButtonElement>('cancel'),
  progress: byId('progress'),
  progressBar: byId<HTMLProgressElement>('progress-bar'),
  progressText: byId('progress-text'),
  loadStatus: byId('load-status'),
  systemPrompt: byId<HTMLTextAreaElement>('system-prompt'),
  temperature: byId<HTMLInputElement>('temperature'),
  topP: byId<HTMLInputElement>('top-p'),
  maxTokens: byId<HTMLInputElement>('max-tokens'),
  statModel: byId('stat-model'),
  statPlacement: byId('stat-placement'),
  statCpuKernels: byId('stat-cpu-kernels'),
  statPrefill: byId('stat-prefill'),
  statDecode: byId('stat-decode'),
  statTokens: byId('stat-tokens'),
  cacheList: byId('cache-list'),
  storageUsage: byId('storage-usage'),
  browserInfo: byId('browser-info'),
  error: byId('error'),
  errorTitle: byId('error-title'),
  errorText: byId('error-text'),
  errorAction: byId<HTMLButtonElement>('error-action'),
  errorClose: byId<HTMLButtonElement>('error-close'),
  messages: byId('messages'),
  empty: byId('empty'),
  composer: byId<HTMLFormElement>('composer'),
  prompt: byId<HTMLTextAreaElement>('prompt'),
  composerHint: byId('composer-hint'),
  send: byId<HTMLButtonElement>('send'),
  stop: byId<HTMLButtonElement>('stop'),
  newChat: byId<HTMLButtonElement>('new-chat'),
  attach: byId<HTMLButtonElement>('attach'),
  imageInput: byId<HTMLInputElement>('image-input'),
  attachments: byId('attachments'),
};

let gpu: BrowserGpu | null = null;
/** This machine's measured speeds (cached per adapter and browser), once known. */
let calibration: Calibration | null = null;
let calibrating: Promise<void> | null = null;
let engine: Engine | null = null;
let state: ModelState = 'idle';
let history: ChatCompletionMessageParam[] = [];
/** Images to send with the next message (issue #21): shown only for a model with a vision tower. */
const attachments = new ImageAttachments({
  button: ui.attach,
  input: ui.imageInput,
  tray: ui.attachments,
  dropTargets: [ui.prompt, ui.composer],
  onError: (err) => showError(err, 'attaching an image'),
});
let loadAbort: AbortController | null = null;
/** What the selection resolves to, once inspected; a counter drops answers to stale selections. */
let inspected: { key: string; source: SourceInfo | null; verdict: Verdict | null } | null = null;
let inspectSeq = 0;
let loadedKey: string | null = null;
/** The URL of the loaded model, as the user gave it. */
let loadedUrl: string | null = null;
/** Whether the loaded package came wholly from IndexedDB (nothing downloaded by this load). */
let loadedFromCache = false;

// ------------------------------------------------------------------------------------------ state

function setState(next: ModelState): void {
  state = next;
  ui.body.dataset.modelState = next;
  const busy = next === 'loading' || next === 'generating';
  ui.load.disabled = next === 'loading' || next === 'generating';
  ui.cancel.hidden = next !== 'loading';
  ui.modelSelect.disabled = busy;
  ui.url.disabled = busy;
  ui.send.disabled = next !== 'ready';
  ui.stop.disabled = next !== 'generating';
  ui.newChat.disabled = next === 'loading';
  ui.composerHint.textContent =
    next === 'ready' ? 'Enter to send, Shift+Enter for a new line.' : next === 'generating' ? 'Generating… Stop ends the reply.' : next === 'loading' ? 'Loading the model…' : 'Load a model to start.';
  if (next !== 'generating' && document.activeElement === ui.stop) ui.prompt.focus();
}

function showError(err: unknown, context?: string): ErrorView {
  const view = describeError(err);
  ui.errorTitle.textContent = context ? `${view.title} (${context})` : view.title;
  ui.errorText.textContent = `${view.name}: ${view.message}`;
  ui.error.dataset.name = view.name;
  const labels: Record<string, string> = { 'use-cpu': 'Run on the CPU', reload: 'Reload the model', 'manage-storage': 'Show cached models', 'new-chat': 'Start a new chat' };
  ui.errorAction.hidden = view.action === null;
  ui.errorAction.textContent = view.action ? labels[view.action]! : '';
  ui.errorAction.dataset.action = view.action ?? '';
  ui.error.hidden = false;
  console.warn(`[chat] ${view.name}: ${view.message}`);
  return view;
}

function clearError(): void {
  ui.error.hidden = true;
  delete ui.error.dataset.name;
}

// ------------------------------------------------------------------------------------------ model picker

interface Selection {
  key: string;
  kind: 'local' | 'preset' | 'custom' | 'hub';
  preset?: PresetName;
  url: string;
}

function selection(): Selection {
  const v = ui.modelSelect.value;
  if (v.startsWith('preset:')) {
    const preset = v.slice('preset:'.length) as PresetName;
    return { key: `${v}|${ui.url.value.trim()}`, kind: 'preset', preset, url: ui.url.value.trim() };
  }
  if (v.startsWith('hub:')) return { key: v, kind: 'hub', url: v.slice('hub:'.length) };
  if (v === 'custom') return { key: `custom|${ui.url.value.trim()}`, kind: 'custom', url: ui.url.value.trim() };
  return { key: `local|${DEFAULT_MODEL}`, kind: 'local', url: DEFAULT_MODEL };
}

function buildPicker(): void {
  const local = el('optgroup', { label: 'On this site' }, el('option', { value: 'local' }, `${params.has('model') ? 'Model' : 'GLM demo (embedded)'}: ${DEFAULT_MODEL}`));
  const presets = el('optgroup', { label: 'GLM presets (q4 download size)' });
  for (const name of presetNames) {
    const bytes = planVerdictSafe(PRESETS[name], 'q4')?.weightBytes;
    presets.append(el('option', { value: `preset:${name}` }, `${PRESET_LABELS[name]} · ${bytes ? formatBytes(bytes) : ''}`));
  }
  // Real GLM models by name (src/runtime/catalogue.ts): converted from the Hub into this browser once.
  const hub = el('optgroup', { label: 'GLM models from the Hugging Face Hub (download size)' });
  for (const m of MODEL_CATALOGUE) {
    const bytes = catalogueSizes(m).downloadBytes;
    hub.append(el('option', { value: `hub:${m.name}` }, `${m.title} · ${bytes ? formatBytes(bytes) : `${m.paramsB}B parameters`}${m.access === 'convert-first' ? ' (convert first)' : ''}`));
  }
  const custom = el('optgroup', { label: 'Other' }, el('option', { value: 'custom' }, 'Custom URL or Hub repo…'));
  replace(ui.modelSelect, local, presets, hub, custom);
}

/** The GPU budget the user set (GiB field), in bytes; the adapter's default when the field is empty or bad. */
function gpuBudgetBytes(): number | undefined {
  const v = Number(ui.gpuBudget.value);
  return ui.gpuBudget.value.trim() !== '' && Number.isFinite(v) && v > 0 ? Math.round(v * GiB) : gpu?.gpuBudget;
}

function planVerdictSafe(config: (typeof PRESETS)[PresetName], quant: WeightQuant, name?: string): Verdict | null {
  if (!gpu) return null;
  try {
    const budget = gpuBudgetBytes();
    return planVerdict(config, quant, gpu, {
      ...(name ? { modelName: name } : {}),
      calibration,
      backend: ui.backend.value as BackendChoice,
      ...(budget !== undefined ? { gpuBudget: budget } : {}),
    });
  } catch (err) {
    console.warn('planner failed', err);
    return null;
  }
}

function showVerdict(v: Verdict | null, source: SourceInfo | null, note?: string): void {
  ui.verdict.dataset.kind = v?.kind ?? 'unknown';
  // For tests and scripts: the predicted speeds, and whether they are measured.
  ui.verdict.dataset.measured = String(v?.measured ?? false);
  if (v?.decodeTokPerSec) ui.verdict.dataset.decodeTps = String(v.decodeTokPerSec);
  else delete ui.verdict.dataset.decodeTps;
  if (v?.prefillTokPerSec) ui.verdict.dataset.prefillTps = String(v.prefillTokPerSec);
  else delete ui.verdict.dataset.prefillTps;
  ui.verdictHeadline.textContent = v ? v.headline : (note ?? 'No verdict.');
  const items: string[] = [];
  if (v) items.push(...v.details);
  if (source?.kind === 'package' && source.downloadBytes !== null) {
    const left = source.cachedComplete ? 'all in this browser already' : source.cachedBytes > 0 ? `${formatBytes(source.cachedBytes)} cached, ${formatBytes(Math.max(0, source.downloadBytes - source.cachedBytes))} to go` : 'not cached yet';
    items.push(`download ${formatBytes(source.downloadBytes)} (${left})`);
  } else if (source?.kind === 'folder') {
    items.push('Hugging Face folder: read by range requests, not cached');
  } else if (source?.kind === 'hub') {
    const m = source.catalogue;
    const size = source.downloadBytes !== null ? `download ${formatBytes(source.downloadBytes)} once` : 'download once';
    items.push(source.cachedComplete ? 'converted already: loads from this browser’s cache, no download' : `Hugging Face Hub: ${size}, converted to INT4 in this browser as it streams (an interrupted download resumes)`);
    if (m) items.push(`${m.repo} · license: ${m.license}`, m.notes);
  }
  if (v && note) items.push(note);
  replace(ui.verdictDetails, ...items.map((t) => el('li', {}, t)));
  ui.verdictPlan.hidden = !v;
  ui.verdictPlanText.textContent = v?.explanation ?? '';
}

/** Inspects the selected model (a few KB: manifest.json or config.json) and asks the planner. */
async function refreshSelection(): Promise<void> {
  const sel = selection();
  const seq = ++inspectSeq;
  ui.urlRow.hidden = sel.kind === 'local' || sel.kind === 'hub';
  ui.urlLabel.textContent = sel.kind === 'preset' ? `Package URL for ${PRESET_LABELS[sel.preset!]}` : 'Package or folder URL';
  ui.url.placeholder = `https://example.org/models/${sel.kind === 'preset' ? `${sel.preset}-q4` : 'my-model'}/`;
  if (sel.kind === 'preset' && !sel.url) {
    // Presets are sized from their published config.json: the verdict needs no download at all.
    const v = planVerdictSafe(PRESETS[sel.preset!], 'q4', PRESET_LABELS[sel.preset!]);
    inspected = { key: sel.key, source: null, verdict: v };
    showVerdict(v, null, 'Presets are not bundled: enter the URL of a converted q4 package to load one.');
    ui.load.disabled = true;
    return;
  }
  if (!sel.url) {
    inspected = null;
    showVerdict(null, null, 'Enter the URL of a glm-webgpu package or of a Hugging Face style model folder.');
    ui.load.disabled = true;
    return;
  }
  ui.verdictHeadline.textContent = 'Reading the model’s configuration…';
  ui.verdict.dataset.kind = 'unknown';
  try {
    const hubQuant = ui.quant.value === 'q8' ? 'q8' : 'q4';
    const source = (await inspectHubSource(sel.url, hubQuant)) ?? (await inspectSource(sel.url));
    if (seq !== inspectSeq) return;
    const quant: WeightQuant = source.packageQuant ?? (source.kind === 'hub' ? hubQuant : (ui.quant.value as WeightQuant));
    const v = planVerdictSafe(source.config, quant, sel.kind === 'preset' ? PRESET_LABELS[sel.preset!] : undefined);
    inspected = { key: sel.key, source, verdict: v };
    showVerdict(v, source, source.offline ? 'offline: using the cached copy' : undefined);
  } catch (err) {
    if (seq !== inspectSeq) return;
    inspected = { key: sel.key, source: null, verdict: null };
    const view = describeError(err);
    const demoMissing = sel.kind === 'local' && !params.has('model') && view.name === 'MissingFileError';
    showVerdict(
      null,
      null,
      demoMissing
        ? `MissingFileError: the embedded demo model (${DEFAULT_MODEL}) is not part of this build. Choose a preset with its package URL, or a custom URL.`
        : `${view.name}: ${view.message}`,
    );
    ui.verdict.dataset.kind = 'error';
  }
  if (state !== 'loading' && state !== 'generating') ui.load.disabled = false;
}

// ------------------------------------------------------------------------------------------ loading

function showDownload(p: DownloadProgress): void {
  ui.progress.hidden = false;
  ui.progressBar.max = Math.max(1, p.bytesTotal);
  ui.progressBar.value = p.bytesDone;
  const pct = p.bytesTotal > 0 ? ((100 * p.bytesDone) / p.bytesTotal).toFixed(0) : '0';
  ui.progressText.textContent =
    `Downloading: ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${pct}%), ${p.shardsDone}/${p.shardsTotal} shards, ` +
    `${formatRate(p.rate)}, ${formatEta(p.etaSeconds)} left`;
}

function showLoadProgress(p: LoadProgress): void {
  ui.progress.hidden = false;
  if (p.phase === 'download' && p.total > 0) {
    // A Hub model converting into the cache: bytes downloaded, rate, ETA and tensors converted are in the text.
    ui.progressBar.max = p.total;
    ui.progressBar.value = Math.min(p.done, p.total);
    ui.progressText.textContent = `${p.text}${p.etaSeconds ? `, ${formatEta(p.etaSeconds)} left` : ''}`;
  } else if (p.phase === 'weights') {
    ui.progressBar.max = Math.max(1, p.total);
    ui.progressBar.value = p.done;
    ui.progressText.textContent = `Loading weights: ${p.done} of ${p.total} tensors`;
  } else {
    ui.progressText.textContent = p.text;
  }
}

async function ensureEngine(): Promise<Engine> {
  engine ??= await createPageEngine();
  return engine;
}

async function loadSelected(): Promise<void> {
  const sel = selection();
  if (!sel.url) {
    ui.url.focus();
    return;
  }
  clearError();
  setState('loading');
  attachments.setModel(null);
  loadAbort = new AbortController();
  ui.loadStatus.textContent = `Loading ${sel.url}…`;
  ui.progress.hidden = false;
  ui.progressBar.removeAttribute('value');
  ui.progressText.textContent = 'Reading the model’s configuration…';
  const t0 = performance.now();
  try {
    const e = await ensureEngine();
    if (calibrating) {
      ui.progressText.textContent = 'Measuring this machine’s GPU and CPU speeds (once per browser)…';
      await calibrating;
    }
    const source = inspected?.key === sel.key && inspected.source ? inspected.source : undefined;
    const budget = gpuBudgetBytes();
    const result = await loadModelFromUrl(e, sel.url, {
      backend: ui.backend.value as BackendChoice,
      quant: ui.quant.value as QuantChoice,
      ...(calibration ? { calibration } : {}),
      ...(budget !== undefined ? { gpuBudget: budget } : {}),
      signal: loadAbort.signal,
      ...(source ? { source } : {}),
      onDownload: showDownload,
      onLoad: showLoadProgress,
    });
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    const files = (n: number) => `${n} ${n === 1 ? 'file' : 'files'}`;
    const cacheNote =
      result.source.kind === 'package'
        ? result.fetched.length === 0
          ? ', from this browser’s cache'
          : `, ${files(result.fetched.length)} downloaded${result.fromCache.length ? `, ${files(result.fromCache.length)} from the cache` : ''}`
        : '';
    loadedFromCache = result.source.kind === 'package' && result.fetched.length === 0;
    ui.loadStatus.textContent = `Loaded ${sel.url} on the ${result.info.backend.toUpperCase()} in ${seconds} s${cacheNote}.`;
    ui.progress.hidden = true;
    loadedKey = sel.key;
    loadedUrl = sel.url;
    if (sel.kind === 'custom') saveCustomUrl(sel.url);
    history = [];
    attachments.setModel(result.info.vision);
    setState('ready');
    showSuggestions(result.info.knowledge);
    await updateStats();
    ui.prompt.focus();
  } catch (err) {
    ui.progress.hidden = true;
    ui.loadStatus.textContent = '';
    setState(engineLoaded() ? 'ready' : 'idle');
    // Only the Cancel button means "cancelled": an AbortError from IndexedDB or a fetch is a failure to show.
    if (loadAbort?.signal.aborted) {
      ui.loadStatus.textContent = 'Download cancelled; the files that finished stay cached and the next load resumes.';
    } else {
      showError(err, 'loading the model');
    }
  } finally {
    loadAbort = null;
    void refreshCache();
    void refreshSelection();
  }
}

function engineLoaded(): boolean {
  return loadedKey !== null;
}

// ------------------------------------------------------------------------------------------ chat

function addMessage(role: 'user' | 'assistant', text: string, images: readonly string[] = []): HTMLElement {
  ui.empty.hidden = true;
  const body = el('div', { class: 'text' }, text);
  const item = el('article', { class: `message ${role}`, 'data-role': role }, el('h3', { class: 'who' }, role === 'user' ? 'You' : 'Assistant'), ...messageImages(images), body);
  ui.messages.append(item);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  return item;
}

const EMPTY_TEXT = 'Load a model, then ask something. Replies stream in as they are generated.';

/** A model with a knowledge base (the WordNet demo) gets suggested questions in the empty conversation. */
function showSuggestions(knowledge: string | null): void {
  if (!knowledge) return replace(ui.empty, EMPTY_TEXT);
  const ask = (q: string) => {
    ui.prompt.value = q;
    void send();
  };
  replace(ui.empty, `This model answers from ${knowledge}, offline. Try:`, suggestionButtons(DEMO_SUGGESTIONS, ask));
}

function numberFrom(input: HTMLInputElement, fallback: number): number {
  const v = Number(input.value);
  return input.value.trim() !== '' && Number.isFinite(v) ? v : fallback;
}

async function send(): Promise<void> {
  const text = ui.prompt.value;
  // An image alone is a message too (the tray is hidden when nothing is attached).
  if (state !== 'ready' || !engine || (text.trim() === '' && ui.attachments.hidden)) return;
  clearError();
  ui.prompt.value = '';
  const images = attachments.take();
  addMessage('user', text, images);
  history.push(userMessage(text, images));
  const system = ui.systemPrompt.value.trim();
  const messages: ChatCompletionMessageParam[] = system ? [{ role: 'system', content: system }, ...history] : [...history];
  const item = addMessage('assistant', '');
  item.dataset.done = 'false';
  item.setAttribute('aria-busy', 'true');
  const textNode = item.querySelector('.text')!;
  // Until the first words arrive: a working indicator with the prefill's progress (polled from the engine).
  const working = el('p', { class: 'working', role: 'status' }, 'Reading the prompt…');
  item.append(working);
  const poll = window.setInterval(() => {
    void engine
      ?.stats()
      .then((s) => {
        if (s.prefill && working.isConnected) working.textContent = `Reading the prompt: ${s.prefill.done} of ${s.prefill.total} tokens…`;
      })
      .catch(() => {});
  }, PREFILL_POLL_MS);
  setState('generating');
  let reply = '';
  let chunks = 0;
  let finish: string | null = null;
  let tFirst = 0;
  let drawTimer: number | undefined;
  const draw = () => {
    drawTimer = undefined;
    // GLM-4 replies start with a newline after <|assistant|>: not worth an empty line on screen.
    textNode.textContent = reply.replace(/^\s+/, '');
    ui.messages.scrollTop = ui.messages.scrollHeight;
    const secs = (performance.now() - tFirst) / 1000;
    if (chunks > 1 && secs > 0) ui.statDecode.textContent = `${formatTokPerSec((chunks - 1) / secs)} (live)`;
  };
  try {
    const stream = await engine.chat.completions.create({
      messages,
      stream: true,
      temperature: numberFrom(ui.temperature, 0.7),
      top_p: Math.min(1, Math.max(0.01, numberFrom(ui.topP, 0.9))),
      max_tokens: Math.max(1, Math.round(numberFrom(ui.maxTokens, 256))),
    });
    for await (const chunk of stream) {
      // The knowledge-base entry the reply is given (first chunk), shown collapsed under the reply.
      if (chunk.knowledge) item.append(sourceDetails(chunk.knowledge));
      const delta = chunk.choices[0].delta.content;
      if (delta) {
        if (chunks === 0) {
          tFirst = performance.now();
          working.remove();
        }
        chunks++;
        reply += delta;
        if (chunks === 1) draw(); // the first words at once, then at most every REPLY_DRAW_MS
        else drawTimer ??= window.setTimeout(draw, REPLY_DRAW_MS);
      }
      finish = chunk.choices[0].finish_reason ?? finish;
      if (chunk.usage) ui.statTokens.textContent = `${chunk.usage.completion_tokens} tokens, prompt ${chunk.usage.prompt_tokens} (${chunk.usage.prefilled_tokens} run, ${chunk.usage.prompt_tokens - chunk.usage.prefilled_tokens} reused)`;
    }
    window.clearTimeout(drawTimer);
    draw();
    // The partial text of a stopped reply stays in the history: the next turn reuses its KV cache.
    history.push({ role: 'assistant', content: reply });
    if (finish === 'abort') item.append(el('p', { class: 'note' }, 'Stopped.'));
    else if (finish === 'length') item.append(el('p', { class: 'note' }, 'Reached the max tokens limit.'));
    if (reply.trim() === '') textNode.textContent = '(empty reply)';
  } catch (err) {
    history.pop(); // the user turn that failed
    attachments.restore(images);
    item.append(el('p', { class: 'note' }, 'No reply: see the error above.'));
    const view = showError(err, 'generating');
    if (view.name === 'DeviceLostError') loadedKey = null;
  } finally {
    window.clearInterval(poll);
    window.clearTimeout(drawTimer);
    working.remove();
    item.dataset.done = 'true';
    item.dataset.finish = finish ?? 'error';
    item.removeAttribute('aria-busy');
    setState(engineLoaded() ? 'ready' : 'idle');
    void updateStats();
  }
}

async function stop(): Promise<void> {
  if (state !== 'generating' || !engine) return;
  ui.stop.disabled = true;
  await engine.abort();
}

async function newChat(): Promise<void> {
  history = [];
  attachments.newConversation();
  for (const m of [...ui.messages.querySelectorAll('.message')]) m.remove();
  ui.empty.hidden = false;
  if (engine && engineLoaded()) await engine.resetChat();
  clearError();
  ui.statTokens.textContent = '-';
  ui.prompt.focus();
}

async function updateStats(): Promise<void> {
  if (!engine) return;
  const s = await engine.stats();
  ui.statModel.textContent = s.loaded ? `${displayName(s.model ?? '')} (${s.backend?.toUpperCase()})` : '-';
  ui.statPlacement.textContent = s.loaded ? `${s.placement.gpu} layers on the GPU, ${s.placement.cpu} on the CPU` : '-';
  // Which CPU kernels run and why (e.g. the plain TS ones when the page's CSP refuses WebAssembly).
  ui.statCpuKernels.textContent = s.loaded && s.cpuKernels ? s.cpuKernels : '-';
  ui.statPrefill.textContent = s.prefillTokPerSec === null ? '-' : `${formatTokPerSec(s.prefillTokPerSec)} (${s.lastPrefilledTokens} tokens)`;
  ui.statDecode.textContent = formatTokPerSec(s.decodeTokPerSec);
}

function displayName(source: string): string {
  if (!source.startsWith('glm-cache:') || !loadedUrl) return source;
  return loadedFromCache ? `${loadedUrl} (from this browser’s cache)` : loadedUrl;
}

// ------------------------------------------------------------------------------------------ cache, browser

async function refreshCache(): Promise<void> {
  let models;
  const skipped: SkippedRecord[] = [];
  try {
    models = await listCachedModels({}, { onSkipped: (r) => skipped.push(r) });
  } catch (err) {
    replace(ui.cacheList, el('li', { class: 'hint' }, `IndexedDB is not available: ${(err as Error).message}`));
    return;
  }
  if (models.length === 0) replace(ui.cacheList, el('li', { class: 'hint' }, 'No models cached in this browser.'));
  else {
    replace(
      ui.cacheList,
      ...models.map((m) =>
        el(
          'li',
          { 'data-id': m.id },
          el('span', { class: 'cache-name', title: m.id }, cacheLabel(m.url)),
          el('span', { class: 'cache-size' }, `${formatBytes(m.bytes)}${m.complete ? '' : ` · partial ${m.shards}/${m.shardsTotal} shards`}`),
          el('button', { type: 'button', class: 'small', 'aria-label': `Load ${m.id}`, disabled: state === 'loading' || state === 'generating', onclick: () => void loadCached(m.url) }, 'Load'),
          el('button', { type: 'button', class: 'small', 'aria-label': `Delete ${m.id} from the cache`, onclick: () => void removeCached(m.id) }, 'Delete'),
        ),
      ),
    );
  }
  if (skipped.length > 0) {
    // Unreadable records (corrupt, or another app's) are left alone and named, not fatal.
    ui.cacheList.append(el('li', { class: 'hint' }, `Skipped ${skipped.length} unreadable cache record${skipped.length === 1 ? '' : 's'}: ${skipped.map((r) => `${r.key} (${r.reason})`).join('; ')}`));
  }
  const est = await navigator.storage?.estimate?.().catch(() => null);
  ui.storageUsage.textContent = est?.quota ? `Storage: ${formatBytes(est.usage ?? 0)} used of ${formatBytes(est.quota)} available to this site.` : '';
}

/** "models/glm-demo/" for this site's models, else the URL without its scheme. */
function cacheLabel(url: string): string {
  const here = new URL('./', location.href).href;
  return url.startsWith(here) ? url.slice(here.length) || url : url.replace(/^https?:\/\//, '');
}

/** Loads a cached package by its URL (offline too: the loader falls back to the cached manifest). */
async function loadCached(url: string): Promise<void> {
  if (state === 'loading' || state === 'generating') return;
  const local = new URL(DEFAULT_MODEL, location.href).href;
  if (url === local) ui.modelSelect.value = 'local';
  else {
    ui.modelSelect.value = 'custom';
    ui.url.value = url;
  }
  await refreshSelection();
  await loadSelected();
}

async function removeCached(id: string): Promise<void> {
  const freed = await deleteCachedModel(id);
  ui.loadStatus.textContent = `Deleted ${id} from the cache (${formatBytes(freed.bytes)} freed).`;
  await refreshCache();
  void refreshSelection();
}

function showBrowser(g: BrowserGpu): void {
  const rows: [string, string][] = [
    ['WebGPU', g.status === 'ok' ? adapterLabel(g) : (g.message ?? 'unavailable')],
  ];
  if (g.status === 'ok') {
    rows.push(['Adapter class', `${g.adapterClass}: ${g.adapterReason}`]);
    rows.push(['GPU budget', `${formatBytes(g.gpuBudget)} by default (${g.gpuBudgetReason}); change it under “GPU budget”`]);
    rows.push(['Max buffer', formatBytes(g.limits.maxBufferSize ?? 0)]);
    rows.push(['Max binding', formatBytes(g.limits.maxStorageBufferBindingSize ?? 0)]);
    rows.push(['Features', g.features.filter((f) => ['shader-f16', 'subgroups', 'timestamp-query'].includes(f)).join(', ') || 'none of shader-f16, subgroups, timestamp-query']);
  }
  rows.push(['CPU budget', `${formatBytes(g.cpuBudget)} (${g.cpuBudgetReason})`]);
  rows.push(['Threads', g.crossOriginIsolated ? `cross-origin isolated, ${navigator.hardwareConcurrency} cores` : 'not cross-origin isolated (one CPU thread)']);
  replace(ui.browserInfo, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  if (g.status !== 'ok') {
    ui.gpuBanner.hidden = false;
    ui.gpuBannerTitle.textContent = g.status === 'no-api' ? 'WebGPU is not available in this browser' : 'WebGPU found no usable GPU';
    ui.gpuBannerText.textContent = `${g.message}. The model can still run on the CPU, more slowly.`;
    ui.body.dataset.webgpu = 'unavailable';
    ui.backend.value = 'cpu';
  } else {
    ui.body.dataset.webgpu = 'available';
  }
}

// ------------------------------------------------------------------------------------------ wiring

ui.modelSelect.addEventListener('change', () => {
  if (ui.modelSelect.value !== 'local' && !ui.urlRow.hidden) ui.url.value = '';
  void refreshSelection().then(() => {
    if (!ui.urlRow.hidden) ui.url.focus();
  });
});
let urlTimer = 0;
ui.url.addEventListener('input', () => {
  clearTimeout(urlTimer);
  urlTimer = window.setTimeout(() => void refreshSelection(), 400);
});
ui.url.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    ev.preventDefault();
    void refreshSelection().then(loadSelected);
  }
});
ui.quant.addEventListener('change', () => void refreshSelection());
ui.backend.addEventListener('change', () => void refreshSelection());
ui.gpuBudget.addEventListener('change', () => void refreshSelection());
ui.load.addEventListener('click', () => void loadSelected());
ui.cancel.addEventListener('click', () => loadAbort?.abort(new DOMException('The download was cancelled.', 'AbortError')));
ui.useCpu.addEventListener('click', () => {
  ui.backend.value = 'cpu';
  ui.gpuBanner.hidden = true;
  void loadSelected();
});
ui.errorClose.addEventListener('click', clearError);
ui.errorAction.addEventListener('click', () => {
  const action = ui.errorAction.dataset.action;
  clearError();
  if (action === 'use-cpu') {
    ui.backend.value = 'cpu';
    void loadSelected();
  } else if (action === 'reload') void loadSelected();
  else if (action === 'manage-storage') ui.cacheList.closest('section')?.scrollIntoView({ behavior: 'smooth' });
  else if (action === 'new-chat') void newChat();
});
ui.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void send();
});
ui.prompt.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    void send();
  }
});
ui.stop.addEventListener('click', () => void stop());
ui.newChat.addEventListener('click', () => void newChat());
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state === 'generating') void stop();
});

/** Measures (or reads from storage) this machine's speeds, then re-plans the verdict with them. */
async function startCalibration(g: BrowserGpu): Promise<void> {
  try {
    const e = await ensureEngine();
    const result = await ensureCalibration(g, () => e.calibrate());
    calibration = result.calibration;
    ui.body.dataset.calibration = result.cached ? 'cached' : 'measured';
  } catch (err) {
    // The planner's assumptions still give a verdict; say why the figures are not measured.
    console.warn('[chat] calibration failed', err);
    ui.body.dataset.calibration = 'failed';
  } finally {
    calibrating = null;
  }
  await refreshSelection();
}

// A custom URL the user typed survives a reload (localStorage; nothing when storage is off).
const CUSTOM_URL_KEY = 'glm-webgpu.chat.customUrl';
function savedCustomUrl(): string | null {
  try {
    return localStorage.getItem(CUSTOM_URL_KEY);
  } catch {
    return null;
  }
}
function restoreCustomUrl(): void {
  const url = savedCustomUrl();
  if (url && params.get('model') === null) ui.url.value = url;
}
function saveCustomUrl(url: string): void {
  try {
    localStorage.setItem(CUSTOM_URL_KEY, url);
  } catch {
    // storage off: nothing to remember it in
  }
}

async function init(): Promise<void> {
  for (const [param, select] of [['backend', ui.backend], ['quant', ui.quant]] as const) {
    const v = params.get(param);
    if (v && [...select.options].some((o) => o.value === v)) select.value = v;
  }
  setState('idle');
  gpu = await probeBrowserGpu();
  showBrowser(gpu);
  ui.gpuBudget.value = gpu.status === 'ok' ? String(+(gpu.gpuBudget / GiB).toFixed(2)) : '';
  ui.gpuBudget.disabled = gpu.status !== 'ok';
  ui.gpuBudgetHint.textContent = gpu.status === 'ok' ? `GiB of GPU memory the model may use (default for this adapter: ${formatBytes(gpu.gpuBudget)}).` : 'No WebGPU: the model runs on the CPU.';
  restoreCustomUrl();
  buildPicker();
  if (params.get('model') === null && savedCustomUrl()) ui.modelSelect.value = 'custom';
  calibrating = startCalibration(gpu);
  await Promise.all([refreshSelection(), refreshCache()]);
  ui.body.dataset.ready = 'true';
  if (params.get('autoload') === '1') void loadSelected();
}

void init().catch((err) => showError(err, 'starting the page'));
