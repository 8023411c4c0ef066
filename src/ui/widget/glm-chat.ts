// <glm-chat>: a chat box for any page, one script tag:
//
//   <script type="module" src="https://example.org/glm-chat.js"></script>
//   <glm-chat model="https://example.org/models/glm-demo/" system-prompt="You are a helpful assistant."
//             theme="light" position="bottom-right"></glm-chat>
//
// Attributes: model (package or Hugging Face folder URL, relative to the page), system-prompt,
// theme (light | dark), position (bottom-right | bottom-left | inline), label (the panel's heading),
// backend (auto | gpu | cpu), max-tokens, temperature.
// Events (bubbling, composed): `ready` (detail: ModelInfo), `message` (detail: {role: 'assistant',
// content, finish_reason}), `error` (detail: {name, message}).
// Methods: open(), close(), send(text), reset().
//
// Everything lives in an open shadow root with its own stylesheet (styles.ts), so the page's CSS neither
// reaches in nor gets out. The engine runs in the widget's own Web Worker, a file beside glm-chat.js
// (engine-worker-start.ts: a strict CSP allows it, or the widget names the directive to add); the model
// is loaded the first time the chat is opened.
import type { ChatCompletionMessageParam, ModelInfo } from '../../index';
import { createEngine, userMessage, type Engine } from '../../index';
import { ImageAttachments, messageImages } from '../shared/attachments';
import { startEngineWorker } from './engine-worker-start';
import { errorDetail } from '../shared/errors';
import { formatBytes, formatEta } from '../shared/format';
import { loadModelFromUrl, type BackendChoice } from '../shared/load-model';
import { browserForCalibration, ensureCalibration } from '../shared/calibration-cache';
import { formatTokPerSec } from '../shared/format';
import { WIDGET_CSS } from './styles';
import { DEMO_SUGGESTIONS, sourceDetails, suggestionButtons } from '../shared/knowledge';

const DEFAULT_MODEL = 'models/glm-demo/';
const CHAT_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"/></svg>';

let sheet: CSSStyleSheet | null = null;
function styleSheet(): CSSStyleSheet | null {
  if (sheet) return sheet;
  try {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(WIDGET_CSS);
    return sheet;
  } catch {
    return null; // no constructable stylesheets: a <style> element inside the shadow root instead
  }
}

let counter = 0;

type WidgetState = 'closed' | 'loading' | 'ready' | 'generating' | 'error';

export class GlmChatElement extends HTMLElement {
  static observedAttributes = ['theme', 'position', 'label', 'model'];

  readonly #root: ShadowRoot;
  readonly #wrap: HTMLDivElement;
  readonly #launcher: HTMLButtonElement;
  readonly #panel: HTMLElement;
  readonly #heading: HTMLHeadingElement;
  readonly #state: HTMLSpanElement;
  readonly #messages: HTMLDivElement;
  readonly #progress: HTMLDivElement;
  readonly #bar: HTMLDivElement;
  readonly #progressText: HTMLSpanElement;
  readonly #form: HTMLFormElement;
  readonly #input: HTMLTextAreaElement;
  readonly #send: HTMLButtonElement;
  readonly #stop: HTMLButtonElement;

  #engine: Engine | null = null;
  /** Rejects when the engine's worker could not start (engine-worker-start.ts). */
  #workerFailed: Promise<never> | null = null;
  #loading: Promise<ModelInfo> | null = null;
  #loadedModel: string | null = null;
  #history: ChatCompletionMessageParam[] = [];
  /** Images for the next message (issue #21): the attach button shows only for a model with a vision tower. */
  readonly #attachments: ImageAttachments;
  #busy = false;
  /** "CPU" / "GPU" / "HYBRID" once loaded, and the last reply's decode speed: shown beside "Ready". */
  #backendLabel = '';
  #speed = '';

  constructor() {
    super();
    const id = `glm-chat-${++counter}`;
    this.#root = this.attachShadow({ mode: 'open' });
    const s = styleSheet();
    if (s && 'adoptedStyleSheets' in this.#root) this.#root.adoptedStyleSheets = [s];
    else {
      const style = document.createElement('style');
      style.textContent = WIDGET_CSS;
      this.#root.append(style);
    }
    this.#wrap = document.createElement('div');
    this.#wrap.className = 'root';
    this.#wrap.setAttribute('part', 'root');
    this.#wrap.innerHTML = `
      <section class="panel" id="${id}-panel" role="region" aria-labelledby="${id}-title" hidden>
        <header>
          <h2 id="${id}-title"></h2>
          <span class="state" role="status" aria-live="polite"></span>
          <button type="button" class="close" aria-label="Close the chat">×</button>
        </header>
        <div class="messages" role="log" aria-live="polite" aria-label="Messages">
          <p class="hello">The model runs in your browser; nothing is sent to a server.</p>
        </div>
        <div class="progress" hidden><div class="bar"><div></div></div><span></span></div>
        <div class="attachments" aria-label="Images to send" hidden></div>
        <form>
          <button type="button" class="attach" aria-label="Attach an image" hidden>+</button>
          <input type="file" class="image-input" hidden />
          <label class="sr" for="${id}-input">Message</label>
          <textarea id="${id}-input" rows="1" placeholder="Message… (Enter to send)"></textarea>
          <button type="button" class="stop" hidden>Stop</button>
          <button type="submit" class="primary send">Send</button>
        </form>
      </section>
      <button type="button" class="launcher" aria-expanded="false" aria-controls="${id}-panel" aria-label="Open the chat">${CHAT_ICON}</button>`;
    this.#root.append(this.#wrap);
    const q = <T extends Element>(sel: string) => this.#wrap.querySelector(sel) as T;
    this.#launcher = q('.launcher');
    this.#panel = q('.panel');
    this.#heading = q('h2');
    this.#state = q('.state');
    this.#messages = q('.messages');
    this.#progress = q('.progress');
    this.#bar = q('.bar > div');
    this.#progressText = q('.progress span');
    this.#form = q('form');
    this.#input = q('textarea');
    this.#send = q('.send');
    this.#stop = q('.stop');
    this.#attachments = new ImageAttachments({
      button: q('.attach'),
      input: q('.image-input'),
      tray: q('.attachments'),
      dropTargets: [this.#input, this.#form],
      // A refused file is shown like any error, without leaving the ready state.
      onError: (err) => {
        const detail = errorDetail(err);
        const box = document.createElement('p');
        box.className = 'error';
        box.setAttribute('role', 'alert');
        box.textContent = `${detail.name}: ${detail.message}`;
        this.#messages.append(box);
        this.dispatchEvent(new CustomEvent('error', { detail, bubbles: true, composed: true }));
      },
    });

    this.#launcher.addEventListener('click', () => (this.#panel.hidden ? this.open() : this.close()));
    q<HTMLButtonElement>('.close').addEventListener('click', () => this.close());
    this.#form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.#submit();
    });
    this.#input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        void this.#submit();
      }
    });
    this.#input.addEventListener('input', () => this.#autosize());
    // Inline widgets have nothing to open: the first focus counts as opening them.
    this.#input.addEventListener('focus', () => void this.#ensureLoaded().catch(() => {}));
    this.#stop.addEventListener('click', () => void this.#engine?.abort());
    this.#panel.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        if (this.#busy) void this.#engine?.abort();
        else if (this.position !== 'inline') this.close();
      }
    });
    this.#setState('closed');
  }

  connectedCallback(): void {
    this.#render();
    // The embedded WordNet demo suggests what to ask (any other model: the plain greeting).
    const hello = this.#messages.querySelector('.hello');
    if (hello && !hello.querySelector('.suggestions') && (this.getAttribute('model') || DEFAULT_MODEL) === DEFAULT_MODEL) {
      hello.textContent = 'Ask about any English word (answers come from WordNet 3.0, offline). Try:';
      hello.append(suggestionButtons(DEMO_SUGGESTIONS.slice(0, 3), (q) => {
        this.#input.value = q;
        void this.#submit();
      }));
    }
  }

  disconnectedCallback(): void {
    // Frees the worker and its GPU memory; a re-attached element starts over lazily.
    void this.#engine?.terminate();
    this.#engine = null;
    this.#loading = null;
    this.#loadedModel = null;
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  get position(): 'bottom-right' | 'bottom-left' | 'inline' {
    const p = this.getAttribute('position');
    return p === 'bottom-left' || p === 'inline' ? p : 'bottom-right';
  }

  /** True once the model is loaded. */
  get ready(): boolean {
    return this.#loadedModel !== null;
  }

  open(): void {
    this.#panel.hidden = false;
    this.#launcher.setAttribute('aria-expanded', 'true');
    this.#launcher.setAttribute('aria-label', 'Close the chat');
    this.#input.focus();
    void this.#ensureLoaded().catch(() => {});
  }

  close(): void {
    if (this.position === 'inline') return;
    this.#panel.hidden = true;
    this.#launcher.setAttribute('aria-expanded', 'false');
    this.#launcher.setAttribute('aria-label', 'Open the chat');
    this.#launcher.focus();
  }

  /** Sends a message as if typed; resolves with the reply. */
  async send(text: string): Promise<string> {
    if (this.#panel.hidden) this.open();
    return this.#ask(text);
  }

  /** Starts a new conversation. */
  async reset(): Promise<void> {
    this.#history = [];
    this.#attachments.newConversation();
    for (const m of [...this.#messages.querySelectorAll('.msg, .error, .note')]) m.remove();
    if (this.#loadedModel) await this.#engine?.resetChat();
  }

  #render(): void {
    if (this.position === 'inline') this.#panel.hidden = false; // nothing to open: always shown
    this.#wrap.dataset.theme = this.getAttribute('theme') === 'dark' ? 'dark' : 'light';
    this.#wrap.dataset.position = this.position;
    this.#heading.textContent = this.getAttribute('label') ?? 'Chat';
  }

  #setState(state: WidgetState, text?: string): void {
    // The Stop button disappears when a reply ends: keep the keyboard user in the message box.
    if (state !== 'generating' && this.#root.activeElement === this.#stop) this.#input.focus({ preventScroll: true });
    this.#wrap.dataset.state = state;
    this.#busy = state === 'generating';
    this.#send.disabled = state === 'generating' || state === 'loading';
    this.#stop.hidden = state !== 'generating';
    // Ready says where the model runs and, after a reply, how fast (issue #16).
    const ready = ['Ready', this.#backendLabel && `on the ${this.#backendLabel}`, this.#speed].filter(Boolean).join(' · ');
    this.#state.textContent = text ?? { closed: '', loading: 'Loading…', ready, generating: 'Writing…', error: 'Error' }[state];
  }

  #modelUrl(): string {
    return new URL(this.getAttribute('model') || DEFAULT_MODEL, document.baseURI).href;
  }

  #ensureLoaded(): Promise<ModelInfo> {
    const url = this.#modelUrl();
    if (this.#loading && this.#loadedModel !== null && this.#loadedModel !== url) this.#loading = null; // the model attribute changed
    this.#loading ??= this.#load(url).catch((err) => {
      this.#loading = null;
      throw err;
    });
    return this.#loading;
  }

  async #load(url: string): Promise<ModelInfo> {
    for (const old of this.#messages.querySelectorAll('.error')) old.remove(); // a retry replaces the last failure
    this.#setState('loading');
    this.#progress.hidden = false;
    this.#progressText.textContent = 'Loading the model…';
    try {
      if (!this.#engine) {
        const started = startEngineWorker('glm-chat-engine');
        this.#engine = await createEngine({ worker: started.worker });
        this.#workerFailed = started.failed;
      }
      const engine = this.#engine;
      const backend = this.getAttribute('backend');
      // The same measured figures as the chat page (cached per adapter and browser), so Auto picks the
      // fastest device here too; without them the planner's assumptions apply. A worker that never
      // starts (CSP) answers nothing: its error event ends that wait too.
      this.#progressText.textContent = 'Measuring this device (once per browser)…';
      const measuring = browserForCalibration()
        .then((gpu) => ensureCalibration(gpu, () => engine.calibrate()))
        .then((r) => r.calibration);
      const calibration = await Promise.race([measuring, this.#workerFailed ?? measuring]).catch(() => undefined);
      this.#progressText.textContent = 'Loading the model…';
      const loading = loadModelFromUrl(engine, url, {
        backend: backend === 'gpu' || backend === 'cpu' ? (backend as BackendChoice) : 'auto',
        quant: 'q4',
        ...(calibration ? { calibration } : {}),
        onDownload: (p) => {
          const f = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 0;
          this.#bar.style.width = `${(100 * f).toFixed(1)}%`;
          this.#progressText.textContent = `Downloading ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${formatEta(p.etaSeconds)} left`;
        },
        onLoad: (p) => {
          if (p.phase === 'weights' && p.total > 0) {
            this.#bar.style.width = `${((100 * p.done) / p.total).toFixed(1)}%`;
            this.#progressText.textContent = `Loading weights ${p.done}/${p.total}`;
          }
        },
      });
      // A worker that never starts (CSP) answers nothing: its error event ends the wait instead.
      const result = await Promise.race([loading, this.#workerFailed ?? loading]);
      this.#loadedModel = url;
      this.#progress.hidden = true;
      this.#backendLabel = result.info.backend.toUpperCase();
      this.#attachments.setModel(result.info.vision);
      this.#setState('ready');
      this.dispatchEvent(new CustomEvent('ready', { detail: result.info, bubbles: true, composed: true }));
      return result.info;
    } catch (err) {
      this.#progress.hidden = true;
      if ((err as Error).name === 'WorkerBlockedError') {
        // A dead worker: the next attempt starts a new one.
        void this.#engine?.terminate();
        this.#engine = null;
      }
      this.#fail(err);
      throw err;
    }
  }

  #fail(err: unknown): void {
    const detail = errorDetail(err);
    this.#setState('error');
    const box = document.createElement('p');
    box.className = 'error';
    box.setAttribute('role', 'alert');
    box.textContent =
      detail.name === 'WebGpuUnavailableError' || detail.name === 'NoAdapterError'
        ? `${detail.name}: this browser has no usable WebGPU. Set backend="cpu" to run on the CPU.`
        : `${detail.name}: ${detail.message}`;
    this.#messages.append(box);
    this.dispatchEvent(new CustomEvent('error', { detail, bubbles: true, composed: true }));
  }

  async #submit(): Promise<void> {
    const text = this.#input.value;
    // An image alone is a message too (the tray is hidden when nothing is attached).
    const tray = this.#wrap.querySelector<HTMLElement>('.attachments')!;
    if ((text.trim() === '' && tray.hidden) || this.#busy) return;
    this.#input.value = '';
    this.#autosize();
    await this.#ask(text, this.#attachments.take()).catch(() => {});
  }

  #bubble(role: 'user' | 'assistant', text: string, images: readonly string[] = []): HTMLDivElement {
    this.#messages.querySelector('.hello')?.remove();
    const div = document.createElement('div');
    div.className = `msg ${role}`;
    div.dataset.role = role;
    div.textContent = text;
    div.prepend(...messageImages(images));
    this.#messages.append(div);
    this.#messages.scrollTop = this.#messages.scrollHeight;
    return div;
  }

  async #ask(text: string, images: string[] = []): Promise<string> {
    this.#bubble('user', text, images);
    this.#history.push(userMessage(text, images));
    const answer = this.#bubble('assistant', '');
    answer.dataset.done = 'false';
    try {
      await this.#ensureLoaded();
      this.#setState('generating');
      const system = this.getAttribute('system-prompt');
      const maxTokens = Number(this.getAttribute('max-tokens') ?? 256);
      const temperature = Number(this.getAttribute('temperature') ?? 0.7);
      const stream = await this.#engine!.chat.completions.create({
        messages: system ? [{ role: 'system', content: system }, ...this.#history] : [...this.#history],
        stream: true,
        max_tokens: Number.isInteger(maxTokens) && maxTokens > 0 ? maxTokens : 256,
        temperature: Number.isFinite(temperature) && temperature >= 0 ? temperature : 0.7,
      });
      let reply = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        // The knowledge-base entry the reply is given: shown collapsed under the reply bubble.
        if (chunk.knowledge) answer.after(sourceDetails(chunk.knowledge));
        const delta = chunk.choices[0].delta.content;
        if (delta) {
          reply += delta;
          answer.textContent = reply.replace(/^\s+/, ''); // GLM-4 starts its replies with a newline
          this.#messages.scrollTop = this.#messages.scrollHeight;
        }
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      answer.dataset.done = 'true';
      answer.dataset.finish = finish ?? '';
      if (finish === 'abort') {
        const note = document.createElement('p');
        note.className = 'note';
        note.textContent = 'Stopped.';
        this.#messages.append(note);
      }
      this.#history.push({ role: 'assistant', content: reply }); // as generated: the next turn reuses its KV cache
      const stats = await this.#engine!.stats().catch(() => null);
      if (stats?.decodeTokPerSec) this.#speed = formatTokPerSec(stats.decodeTokPerSec);
      this.#setState('ready');
      const content = reply.replace(/^\s+/, '');
      this.dispatchEvent(new CustomEvent('message', { detail: { role: 'assistant', content, finish_reason: finish }, bubbles: true, composed: true }));
      return content;
    } catch (err) {
      this.#history.pop();
      this.#attachments.restore(images);
      answer.remove();
      if (this.#loadedModel !== null) this.#fail(err); // load failures were reported by #load
      throw err;
    }
  }

  #autosize(): void {
    this.#input.style.height = 'auto';
    this.#input.style.height = `${Math.min(120, this.#input.scrollHeight)}px`;
  }
}

if (!customElements.get('glm-chat')) customElements.define('glm-chat', GlmChatElement);

declare global {
  interface HTMLElementTagNameMap {
    'glm-chat': GlmChatElement;
  }
}
