#!/usr/bin/env node
// Evaluates the demo on the other kinds of question and on everyday wordings: meanings asked in many ways,
// synonyms, example sentences, parts of speech, differences, made-up words. Like evaluate.mjs it runs our
// engine under Node on the CPU through the chat API (the retrieval step adding the entry); unlike it, the
// questions use wordings that make-data.mjs does not train on, about words held out of training.
//
//   node tools/demo-model/evaluate-questions.mjs [--package public/models/glm-demo] [--temperatures 0,0.7] [--json out.json]
//
// Words: the first 8 of evaluate.mjs's common words and its first 6 single-word random ones (held out of
// training); a difference question pairs each with the next. Made-up words: evaluate.mjs's first 14.
// A reply is CORRECT when it is what the retrieved entry says for what was asked:
//   meaning         first sentence = the primary sense's gloss (answer-match.mjs)
//   synonyms        "Synonyms of 'X': <the entry's Synonyms line>" or "WordNet lists no synonyms of 'X'." when it has none
//   example         the entry's Example line, or "WordNet gives no example sentence for 'X'." when it has none
//   partsOfSpeech   names every "noun (N senses)" ... of the entry's "Parts of speech" line
//   difference      two lines, "'X': <X's gloss>" and "'Y': <Y's gloss>"
//   unknown         starts "I don't know the word"
// and the retrieval step recognised the kind of question (a wrong kind counts as a miss).
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { evalWords } from './eval-words.mjs';
import { matches, normalise, saysUnknown } from './answer-match.mjs';
import { ROOT, readKnowledgeBase, sourceModules } from './source-modules.mjs';

const { values: opts } = parseArgs({
  options: {
    package: { type: 'string', default: resolve(ROOT, 'public/models/glm-demo') },
    temperatures: { type: 'string', default: '0,0.7' },
    json: { type: 'string' },
  },
});

// Wordings not in make-data.mjs's lists (X: the word; Y: the second word of a difference).
const QUESTIONS = {
  meaning: [
    "Hey, what's the meaning of X?", 'whats X', 'explain what X means', 'What is meant by X?', 'Could you define X for me?',
    'Give me the definition of X.', 'I wonder what X means.', 'what does the term X mean', 'Tell me the meaning of X please',
  ],
  synonyms: ['synonyms for X', "What's a synonym of X?", "Any synonyms for 'X'?", 'Can you give me another word for X?', 'List synonyms of X.'],
  example: ['Show me X used in a sentence.', 'A sentence using X, please.', "Could you give an example sentence for 'X'?", 'How would you use X in a sentence?'],
  partsOfSpeech: ['Is X a verb or a noun?', "Is 'X' an adjective or a noun?", 'Which part of speech is X?'],
  difference: ['Explain the difference between X and Y.', 'X versus Y', 'How does X differ from Y?'],
  unknown: ["What does 'X' mean?", 'Define X.', 'synonyms for X', "Use 'X' in a sentence."],
};

const lineOf = (entry, prefix) => entry.split('\n').find((l) => l.startsWith(prefix));

/** Whether `answer` is what the entry says for what was asked (see the header). */
function judge(kind, answer, hit, kb) {
  if (kind === 'unknown') return saysUnknown(answer);
  if (!hit || hit.ask !== kind) return false;
  const [w] = hit.words;
  if (kind === 'meaning') return matches(answer, kb.lookup(hit.lemmas[0]).senses[0].definition);
  if (kind === 'synonyms') {
    const line = lineOf(hit.entry, 'Synonyms: ');
    return answer === (line ? `Synonyms of '${w}': ${line.slice('Synonyms: '.length)}` : `WordNet lists no synonyms of '${w}'.`);
  }
  if (kind === 'example') return answer === (lineOf(hit.entry, 'Example: ') ?? `WordNet gives no example sentence for '${w}'.`);
  if (kind === 'partsOfSpeech') {
    const parts = lineOf(hit.entry, 'Parts of speech: ').slice('Parts of speech: '.length, -1).split(', ');
    return parts.every((p) => answer.includes(p)) && answer.startsWith(`'${w}' is `);
  }
  const lines = answer.split('\n');
  return lines.length === 2 && hit.words.every((word, i) => normalise(lines[i]) === normalise(`'${word}': ${kb.lookup(hit.lemmas[i]).senses[0].definition}`));
}

async function main() {
  const { load, close } = await sourceModules();
  const { createEngine } = await load('/src/worker/client.ts');
  const kb = await readKnowledgeBase(load, resolve(opts.package, 'knowledge-wordnet.bin'));
  const sets = evalWords(kb);
  const words = [...sets.common.slice(0, 8), ...sets.random.filter((w) => /^[a-z]+$/.test(w)).slice(0, 6)];
  const madeUp = sets.madeUp.slice(0, words.length);

  const engine = await createEngine({ inThread: true });
  await engine.load(opts.package, { backend: 'cpu' });
  const report = { package: opts.package, words, madeUp, kinds: {}, wordings: {}, failures: [] };
  for (const temperature of opts.temperatures.split(',').map(Number)) {
    for (const [kind, wordings] of Object.entries(QUESTIONS)) {
      const key = `${kind}@${temperature}`;
      report.kinds[key] = { correct: 0, of: 0 };
      for (const wording of wordings) {
        let correct = 0;
        const list = kind === 'unknown' ? madeUp : words;
        for (const [i, word] of list.entries()) {
          const question = wording.replaceAll('X', word).replaceAll('Y', list[(i + 1) % list.length]);
          engine.resetChat();
          const reply = await engine.chat.completions.create({
            messages: [{ role: 'user', content: question }],
            temperature,
            ...(temperature > 0 ? { seed: 2000 + i } : {}),
            max_tokens: 200,
          });
          const answer = reply.choices[0].message.content.trim();
          const ok = judge(kind, answer, reply.knowledge, kb);
          correct += ok;
          if (!ok) report.failures.push({ temperature, kind, question, answer, ask: reply.knowledge?.ask ?? null });
        }
        report.wordings[`${wording}@${temperature}`] = `${correct}/${list.length}`;
        report.kinds[key].correct += correct;
        report.kinds[key].of += list.length;
      }
      const k = report.kinds[key];
      console.log(`${key}: ${k.correct}/${k.of} = ${((100 * k.correct) / k.of).toFixed(1)} %`);
    }
  }
  for (const f of report.failures.slice(0, 30)) console.log(`MISS ${f.kind}@${f.temperature} ${JSON.stringify(f.question)} (${f.ask}): ${JSON.stringify(f.answer.slice(0, 160))}`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 1));
  await close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
