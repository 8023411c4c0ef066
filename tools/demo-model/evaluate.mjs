#!/usr/bin/env node
// Evaluates the demo (model + knowledge base + retrieval) with this project's own engine, under Node on
// the CPU, the way a user asks: "What does 'X' mean?" through the chat API, the engine's retrieval step
// adding the WordNet entry.
//
//   node tools/demo-model/evaluate.mjs [--package public/models/glm-demo] [--temperatures 0,0.7] [--json out.json]
//
// Word sets (tools/demo-model/eval-words.mjs; none of them was trained on):
//   random  300 lemmas drawn with a fixed seed from every WordNet noun/verb/adjective lemma
//   common  the 100 single-word lemmas whose primary sense SemCor tags most often
//   madeUp  50 made-up words WordNet does not know
// A random/common answer is CORRECT when its first sentence equals the first sentence of the lemma's
// primary-sense gloss after normalisation; a made-up word's answer is correct when it says "I don't know".
// (first sentence and normalisation: answer-match.mjs).
// Sampling at temperature t > 0 uses seed 1000 + the word's index, so a run is repeatable.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { matches, saysUnknown } from './answer-match.mjs';
import { evalWords } from './eval-words.mjs';
import { ROOT, readKnowledgeBase, sourceModules } from './source-modules.mjs';

const { values: opts } = parseArgs({
  options: {
    package: { type: 'string', default: resolve(ROOT, 'public/models/glm-demo') },
    temperatures: { type: 'string', default: '0,0.7' },
    json: { type: 'string' },
    limit: { type: 'string', default: '0' },
  },
});


async function main() {
  const { load, close } = await sourceModules();
  const { createEngine } = await load('/src/worker/client.ts');
  const kb = await readKnowledgeBase(load, resolve(opts.package, 'knowledge-wordnet.bin'));
  const sets = evalWords(kb);
  const limit = Number(opts.limit) || Infinity;

  const engine = await createEngine({ inThread: true });
  await engine.load(opts.package, { backend: 'cpu' });
  const report = { package: opts.package, sets: {}, failures: [] };
  const t0 = performance.now();
  let tokens = 0;
  for (const temperature of opts.temperatures.split(',').map(Number)) {
    for (const [set, words] of Object.entries(sets)) {
      let correct = 0;
      const list = words.slice(0, limit);
      for (const [i, lemma] of list.entries()) {
        const word = lemma.replace(/_/g, ' ');
        engine.resetChat();
        const reply = await engine.chat.completions.create({
          messages: [{ role: 'user', content: `What does '${word}' mean?` }],
          temperature,
          ...(temperature > 0 ? { seed: 1000 + i } : {}),
          max_tokens: 160,
        });
        const answer = reply.choices[0].message.content;
        tokens += reply.usage.completion_tokens;
        const expected = set === 'madeUp' ? null : kb.lookup(lemma).senses[0].definition;
        const ok = expected === null ? saysUnknown(answer) : matches(answer, expected);
        correct += ok;
        if (!ok) report.failures.push({ temperature, set, word, answer, expected });
      }
      const key = `${set}@${temperature}`;
      report.sets[key] = { correct, of: list.length, share: correct / list.length };
      console.log(`${key}: ${correct}/${list.length} = ${((100 * correct) / list.length).toFixed(1)} %`);
    }
  }
  report.seconds = Math.round((performance.now() - t0) / 1000);
  report.completionTokens = tokens;
  console.log(JSON.stringify(report.sets));
  for (const f of report.failures.slice(0, 20)) console.log(`MISS ${f.set}@${f.temperature} ${f.word}: ${JSON.stringify(f.answer)} <- ${JSON.stringify(f.expected)}`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 1));
  await close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
