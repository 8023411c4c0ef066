#!/usr/bin/env node
// Evaluates the demo model with this project's own engine, under Node on the CPU (no GPU needed).
//
//   node tools/demo-model/evaluate.mjs [--package public/models/glm-demo] [--f32 tools/demo-model/.hf/hf-f32]
//        [--data tools/demo-model/.data] [--words 200] [--json out.json]
//
// 1. Exact match: for N words of the training split spread evenly over the frequency-ranked word list
//    (words.jsonl order; word i*len/N for i < N, the same selection as train.py), the package is asked
//    "What does 'X' mean?" through the chat API (createEngine, greedy, at most 96 new tokens). An answer
//    MATCHES when its first sentence equals the first sentence of the WordNet definition after
//    normalisation:
//      first sentence = the text up to the first line break, then up to the first '.', '!' or '?' that is
//                       followed by whitespace and a capital letter (the whole line when there is none);
//      normalisation  = lower case, every run of characters other than a-z and 0-9 -> one space, trimmed.
// 2. Perplexity of the held-out words' definitions (words never trained on): for each held-out word the
//    prompt "[gMASK]<sop><|user|>\nWhat does 'X' mean?<|assistant|>" is followed by the reply
//    "\n<Definition>." and the <|user|> that ends it; the perplexity is exp(mean negative log-likelihood)
//    over all reply tokens of all held-out words, from the logits of `session.append(ids, 'all')`, for the
//    float32 checkpoint (--f32, when it exists) and the INT4 package.
//
// The engine modules are loaded from src/ through Vite's SSR loader (the published library does not export
// the engine yet), so no build is needed.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values: opts } = parseArgs({
  options: {
    package: { type: 'string', default: resolve(root, 'public/models/glm-demo') },
    f32: { type: 'string', default: resolve(here, '.hf/hf-f32') },
    data: { type: 'string', default: resolve(here, '.data') },
    words: { type: 'string', default: '200' },
    json: { type: 'string' },
    // parts to leave out (the CPU engine needs about 20 minutes for each perplexity and 10 for the matches)
    'skip-match': { type: 'boolean', default: false },
    'skip-f32': { type: 'boolean', default: false },
    'skip-int4': { type: 'boolean', default: false },
  },
});

export function firstSentence(text) {
  const line = text.trim().split('\n')[0];
  const m = /[.!?](?=\s+[A-Z])/.exec(line);
  return m ? line.slice(0, m.index + 1) : line;
}
export function normalise(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim().split(/\s+/).filter(Boolean).join(' ');
}
export function matches(answer, reference) {
  return normalise(firstSentence(answer)) === normalise(firstSentence(reference));
}

const readJsonl = (p) => readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function main() {
  const words = readJsonl(resolve(opts.data, 'words.jsonl'));
  const turns = readJsonl(resolve(opts.data, 'turns.jsonl'));
  const meaning = new Map(turns.filter((t) => t.kind === 'meaning').map((t) => [t.word, t.messages[1].content]));
  const train = words.filter((w) => w.split === 'train');
  const held = words.filter((w) => w.split === 'heldout');
  const n = Math.min(Number(opts.words), train.length);
  const selection = Array.from({ length: n }, (_, i) => train[Math.floor((i * train.length) / n)]);

  const server = await createServer({
    root, configFile: false, logLevel: 'error', appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false }, optimizeDeps: { noDiscovery: true, include: [] },
  });
  const load = (p) => server.ssrLoadModule(p);
  const { createEngine } = await load('/src/worker/client.ts');
  const { loadBackend } = await load('/src/runtime/backend.ts');
  const { openModelSource } = await load('/src/cli/model-source.ts');
  const report = { package: opts.package, f32: opts.f32, data: opts.data };

  const engine = await createEngine({ inThread: true });
  await engine.load(opts.package, { backend: 'cpu' });
  const userId = (await engine.tokenize('<|user|>', false))[0];

  if (!opts['skip-match']) {
    let hits = 0;
    const samples = [];
    const t0 = performance.now();
    for (const [i, w] of selection.entries()) {
      const reply = await engine.chat.completions.create({
        messages: [{ role: 'user', content: `What does '${w.word}' mean?` }], temperature: 0, max_tokens: 96,
      });
      const answer = reply.choices[0].message.content;
      const ok = matches(answer, w.definition);
      hits += ok ? 1 : 0;
      samples.push({ word: w.word, answer, definition: w.definition, match: ok });
      if ((i + 1) % 10 === 0) process.stderr.write(`match: ${hits}/${i + 1} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
    report.exactMatch = { hits, of: n, share: hits / n, samples };
    process.stderr.write(`exact match: ${hits}/${n} = ${((100 * hits) / n).toFixed(1)}%\n`);
  }

  // Held-out ids, tokenized by the engine's own tokenizer.
  const items = [];
  for (const w of held) {
    const prompt = await engine.tokenize(`[gMASK]<sop><|user|>\nWhat does '${w.word}' mean?<|assistant|>`, false);
    const reply = [...(await engine.tokenize(`\n${meaning.get(w.word)}`, false)), userId];
    items.push({ prompt, reply });
  }
  await engine.terminate();

  async function perplexity(dir, quant, label) {
    const t0 = performance.now();
    const backend = await loadBackend(await openModelSource(dir, { log: () => {} }), { backend: 'cpu', quant });
    let nll = 0;
    let count = 0;
    let done = 0;
    const V = backend.model.config.vocabSize;
    for (const { prompt, reply } of items) {
      const ids = [...prompt, ...reply];
      const session = backend.newSession(ids.length);
      const flat = await session.ops.read(await session.append(ids, 'all'));
      for (let k = 0; k < reply.length; k++) {
        const row = flat.subarray((prompt.length - 1 + k) * V, (prompt.length + k) * V);
        let max = -Infinity;
        for (let j = 0; j < V; j++) if (row[j] > max) max = row[j];
        let sum = 0;
        for (let j = 0; j < V; j++) sum += Math.exp(row[j] - max);
        nll -= row[reply[k]] - max - Math.log(sum);
        count++;
      }
      if (++done % 50 === 0) {
        const s = ((performance.now() - t0) / 1000).toFixed(0);
        process.stderr.write(`perplexity ${label}: ${done}/${items.length} words, ${Math.exp(nll / count).toFixed(3)} so far (${s} s)\n`);
      }
    }
    backend.dispose();
    return { words: items.length, tokens: count, nll, ppl: Math.exp(nll / count) };
  }

  report.perplexity = {};
  if (!opts['skip-f32'] && existsSync(resolve(opts.f32, 'config.json'))) {
    report.perplexity.f32 = await perplexity(opts.f32, 'none', 'float32');
    process.stderr.write(`held-out perplexity, float32 checkpoint: ${report.perplexity.f32.ppl.toFixed(3)}\n`);
  }
  if (!opts['skip-int4']) {
    report.perplexity.int4 = await perplexity(opts.package, 'none', 'INT4');
    process.stderr.write(`held-out perplexity, INT4 package: ${report.perplexity.int4.ppl.toFixed(3)}\n`);
  }
  if (report.perplexity.f32 && report.perplexity.int4) {
    report.perplexity.int4OverF32 = report.perplexity.int4.ppl / report.perplexity.f32.ppl;
    process.stderr.write(`INT4 / float32 perplexity: ${report.perplexity.int4OverF32.toFixed(4)}\n`);
  }
  await server.close();
  const summary = {
    exactMatch: report.exactMatch && { hits: report.exactMatch.hits, of: report.exactMatch.of, share: report.exactMatch.share },
    perplexity: report.perplexity,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(report, null, 1)}\n`);
}

await main();
