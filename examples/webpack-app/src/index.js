// One question to the demo model (copied into dist/models/glm-demo by `npm run build`), streamed.
// ?backend=cpu|gpu|auto (default auto).
import { createEngine } from 'glm-webgpu';

const status = document.querySelector('#status');
const reply = document.querySelector('#reply');
const backend = new URLSearchParams(location.search).get('backend') ?? 'auto';
const engine = await createEngine();
const info = await engine.load('glm-demo', { backend, onProgress: (p) => (status.textContent = p.text) });
status.textContent = `ready on ${info.backend}`;
const stream = await engine.chat.completions.create({
  messages: [{ role: 'user', content: "What does 'bicycle' mean?" }],
  stream: true,
  max_tokens: 64,
  temperature: 0,
});
for await (const chunk of stream) reply.textContent += chunk.choices[0].delta.content ?? '';
reply.dataset.done = 'true';
