// Generates a reply with the demo model that ships inside the glm-webgpu package, in this thread
// (Node has no Web Worker engine). With the optional `webgpu` package and a Vulkan driver the planner
// may use the GPU; otherwise the CPU runs the model.
//   node generate.mjs "What does 'bicycle' mean?"
import { createEngine } from 'glm-webgpu';

const question = process.argv[2] ?? "What does 'bicycle' mean?";
const engine = await createEngine();
const info = await engine.load('glm-demo', { backend: process.env.GLM_BACKEND ?? 'auto' });
console.error(`loaded ${info.model} (${info.family}, ${info.numLayers} layers) on ${info.backend}`);

const stream = await engine.chat.completions.create({
  messages: [{ role: 'user', content: question }],
  stream: true,
  max_tokens: 64,
  temperature: 0,
});
let reply = '';
for await (const chunk of stream) {
  const text = chunk.choices[0].delta.content ?? '';
  reply += text;
  process.stdout.write(text);
}
process.stdout.write('\n');
await engine.terminate();
if (reply.trim() === '') {
  console.error('no reply');
  process.exitCode = 1;
}
