// A streamed chat with the engine in its Web Worker (glm-webgpu starts it), on WebGPU when the browser
// has it and on the CPU otherwise. The demo model is served from public/models/glm-demo (copied from
// node_modules/glm-webgpu by `npm run copy-model`); `load('glm-demo')` finds it there.
import { createEngine, isGlmError, type ChatMessage } from 'glm-webgpu';

const status = document.querySelector<HTMLParagraphElement>('#status')!;
const log = document.querySelector<HTMLDivElement>('#log')!;
const form = document.querySelector<HTMLFormElement>('#ask')!;
const question = document.querySelector<HTMLInputElement>('#question')!;
const send = document.querySelector<HTMLButtonElement>('#send')!;

const params = new URLSearchParams(location.search);
// ?worker=app: the app creates the engine worker from its own file (src/engine.worker.ts, which imports
// `glm-webgpu/worker`) instead of the one glm-webgpu starts by itself.
const worker = params.get('worker') === 'app' ? new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }) : undefined;
const engine = await createEngine({ worker });
const history: ChatMessage[] = [];
// ?backend=cpu|gpu|auto (default auto: the planner picks the GPU when the browser has WebGPU).
const backend = (params.get('backend') ?? 'auto') as 'cpu' | 'gpu' | 'auto';

try {
  const info = await engine.load('glm-demo', { backend, onProgress: (p) => (status.textContent = p.text) });
  status.textContent = `ready: ${info.family}, ${info.numLayers} layers on ${info.backend}`;
  send.disabled = false;
} catch (err) {
  status.textContent = isGlmError(err) ? `${err.name}: ${err.message}` : String(err);
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = question.value.trim();
  if (!text) return;
  send.disabled = true;
  history.push({ role: 'user', content: text });
  const asked = log.appendChild(document.createElement('p'));
  asked.className = 'user';
  asked.textContent = text;
  const out = log.appendChild(document.createElement('p'));
  out.className = 'assistant';
  const stream = await engine.chat.completions.create({ messages: history, stream: true, max_tokens: 96, temperature: 0 });
  for await (const chunk of stream) out.textContent += chunk.choices[0].delta.content ?? '';
  history.push({ role: 'assistant', content: out.textContent ?? '' });
  out.dataset.done = 'true';
  send.disabled = false;
});
