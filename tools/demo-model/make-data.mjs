#!/usr/bin/env node
// Training conversations for the knowledge-base demo model: the model learns to answer from the
// observation the engine's retrieval step puts after each question (src/knowledge/retrieval.ts), so it
// knows every WordNet word without memorising any. Each example is rendered with the engine's own
// retrieval code, so training and inference see the same text.
//
//   node tools/demo-model/make-data.mjs [--kb public/models/glm-demo/knowledge-wordnet.bin] [--out tools/demo-model/.data/kb-train.jsonl.gz]
//
// Kinds of turn (the reply is what the model is trained to write; the observation's last line, "Asked: ...",
// says which kind the retrieval step recognised):
//   meaning     "What does 'X' mean?" and paraphrases      -> the first sense's definition line, verbatim
//   pos         "What does 'X' mean as a verb?"            -> the same, retrieval having kept only that part of speech
//   example     "Use 'X' in a sentence."                   -> `Example: "..."` or "WordNet gives no example sentence for 'X'."
//   synonyms    "What are synonyms of 'X'?"                -> "Synonyms of 'X': a, b." or "WordNet lists no synonyms of 'X'."
//   parts of speech "Is 'X' a noun or a verb?"             -> "'X' is a noun (2 senses) and a verb (1 sense)."
//   difference  "What's the difference between 'X' and 'Y'?" -> one line per word: "'X': <definition>"
//   unknown     a made-up word                             -> "I don't know the word 'X': WordNet has no entry for it."
//   chat        small talk and other questions (no observation) -> a fixed introduction / reply
// Every WordNet lemma is asked about, except the evaluation's words (eval-words.mjs), which are held out.
// Conversations hold 1 (75 %), 2 (18 %) or 3 (7 %) turns. Output: gzip'd JSON lines {messages: [...]}.
import { createWriteStream, mkdirSync } from 'node:fs';
import { createGzip } from 'node:zlib';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evalWords, madeUpWords, seededRandom } from './eval-words.mjs';
import { readKnowledgeBase, sourceModules } from './source-modules.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values: opts } = parseArgs({
  options: {
    kb: { type: 'string', default: resolve(root, 'public/models/glm-demo/knowledge-wordnet.bin') },
    out: { type: 'string', default: resolve(here, '.data/kb-train.jsonl.gz') },
    seed: { type: 'string', default: '4242' },
    limit: { type: 'string', default: '0' },
  },
});

export const INTRO = "I am a small demo model that explains English words with WordNet 3.0. Ask me, for example: What does 'volcano' mean?";
export const OFF_TOPIC = "I can only answer questions about English words, from WordNet 3.0. Try: What does 'volcano' mean?";
const SMALL_TALK = [
  ['Hello', `Hello! ${INTRO}`], ['Hi', `Hello! ${INTRO}`], ['Hi!', `Hello! ${INTRO}`], ['Hey', `Hello! ${INTRO}`],
  ['Hello, who are you?', INTRO], ['Who are you?', INTRO], ['What are you?', INTRO], ['What can you do?', INTRO],
  ['hello', `Hello! ${INTRO}`], ['Good morning', `Good morning! ${INTRO}`], ['Good evening!', `Good evening! ${INTRO}`],
  ['How are you?', `I am fine, thank you. ${INTRO}`], ['Help', INTRO], ['help', INTRO],
  ['Thanks', "You're welcome!"], ['Thank you!', "You're welcome!"], ['thanks!', "You're welcome!"], ['Thank you very much.', "You're welcome!"],
  ['Bye', 'Goodbye!'], ['Goodbye!', 'Goodbye!'], ['OK', 'OK.'], ['ok', 'OK.'],
];
const OFF_TOPIC_QUESTIONS = [
  'How do I cook pasta?', 'Can you write a poem about the sea?', 'What is 2 + 2?', 'Tell me a joke.', 'How far is the moon from the earth?',
  'Write me some Python code.', 'Why is the sky blue?', 'Where should I go on holiday this year?', 'Who will win the next election?',
  'Can you help me with my homework?', 'How do I fix my computer?', 'What time is it?', 'What should I eat for dinner tonight?',
  'Translate this into French: good night.', 'How many people live in China?', 'Summarize the news for me.',
];

const pickFrom = (rand) => (list) => list[Math.floor(rand() * list.length)];

// Question phrasings per kind. The retrieval step tells the model what is asked (the observation's
// "Asked: ..." line), so the phrasings only have to be varied enough that the model reads that line
// rather than the question's wording; the evaluation asks in phrasings of its own.
const MEANING = [
  "What does '{w}' mean?", "What does '{w}' mean?", "What does '{w}' mean?", "What is the meaning of '{w}'?", "Define '{w}'.",
  'What does {w} mean?', "What's the meaning of '{w}'?", 'Define {w}.', "Meaning of '{w}'?", "What is '{w}'?", '{w}',
  "Explain the word '{w}'.", 'What is the definition of {w}?', "What does the word '{w}' mean?", "what does '{w}' mean",
  'Can you tell me what {w} means?', 'What do you mean by {w}?', "I don't know what '{w}' means.", '{w} meaning', '{w} definition',
  'what is {w}', 'Please define {w}', 'definition of {w}', 'Tell me about {w}.', 'What is a {w}?', "What's {w}?", '{w}?',
  'Could you explain what "{w}" means?', 'What does "{w}" mean?', 'meaning of the word {w}', 'Describe {w}.',
];
const POS_MEANING = [
  "What does '{w}' mean as a {p}?", "What is the {p} meaning of '{w}'?", 'What does {w} mean as a {p}?', "Define '{w}' as a {p}.",
  '{w} ({p})', 'What is the {p} sense of {w}?', "What does '{w}' mean when used as a {p}?",
];
const EXAMPLE = [
  "Use '{w}' in a sentence.", "Give an example sentence with '{w}'.", 'Use {w} in a sentence.', "Give me an example of '{w}' in a sentence.",
  "Can you use '{w}' in a sentence?", 'Example of {w} in a sentence', 'How do I use the word {w}?', 'How is {w} used?',
  '{w} in a sentence', "What's an example sentence for '{w}'?", 'Give me a sentence with {w}.', 'use {w} in a sentence please',
];
const SYNONYMS = [
  "What are synonyms of '{w}'?", "Give synonyms of '{w}'.", 'What are synonyms of {w}?', "What's another word for '{w}'?",
  'What is a synonym for {w}?', 'Synonyms of {w}', '{w} synonyms', 'Give me a synonym for {w}.', "Other words for '{w}'?",
  'What are some synonyms for {w}?', 'What is another word for {w}?', "Words similar to '{w}'?",
];
const PARTS_OF_SPEECH = [
  "Is '{w}' a noun or a verb?", 'Is {w} a noun or a verb?', "What part of speech is '{w}'?", 'What part of speech is {w}?',
  "Is '{w}' a verb?", "Is '{w}' an adjective?", "Is '{w}' a noun?", "What parts of speech does '{w}' have?",
];
const DIFFERENCE = [
  "What's the difference between '{a}' and '{b}'?", "What is the difference between '{a}' and '{b}'?", 'What is the difference between {a} and {b}?',
  "What's the difference between a {a} and a {b}?", '{a} vs {b}', "How is '{a}' different from '{b}'?", 'Compare {a} and {b}.',
  'difference between {a} and {b}',
];

/** How a reply lists parts of speech: "a noun (16 senses) and a verb (41 senses)". */
function partsOfSpeechReply(word, line) {
  const items = line.slice('Parts of speech: '.length, -1).split(', ').map((p) => `${/^[aeiou]/.test(p) ? 'an' : 'a'} ${p}`);
  const list = items.length > 1 ? `${items.slice(0, -1).join(', ')} and ${items.at(-1)}` : items[0];
  return `'${word}' is ${list}.`;
}

async function main() {
  const { load, close } = await sourceModules();
  const { WordNetRetriever } = await load('/src/knowledge/retrieval.ts');
  const kb = await readKnowledgeBase(load, opts.kb);
  const retriever = new WordNetRetriever(kb);
  const held = evalWords(kb);
  const heldOut = new Set([...held.random, ...held.common]);
  const rand = seededRandom(Number(opts.seed));
  const pick = pickFrom(rand);

  /** The user's spelling of a lemma: spaces for '_', sometimes a capital first letter. */
  const spell = (lemma) => {
    const w = lemma.replace(/_/g, ' ');
    return rand() < 0.08 ? w[0].toUpperCase() + w.slice(1) : w;
  };
  const fill = (t, vars) => t.replace(/\{(\w)\}/g, (_, k) => vars[k]);

  /** One turn: [user, observation?, assistant] messages; null when retrieval does not see the word we meant. */
  const skippedQuestions = [];
  const turn = (question, answerFor) => {
    const hit = retriever.retrieve(question);
    const answer = answerFor(hit);
    if (answer === null) {
      if (skippedQuestions.length < 40) skippedQuestions.push(question);
      return null;
    }
    const msgs = [{ role: 'user', content: question }];
    if (hit) msgs.push({ role: 'observation', content: hit.entry });
    msgs.push({ role: 'assistant', content: answer });
    return msgs;
  };
  // The reply to a one-word question, read off the entry the retriever produced for it.
  const firstSense = (hit) => hit !== null && hit.words.length === 1 && hit.lemmas[0] !== null;
  const definitionLine = (hit) => hit.entry.split('\n')[1];
  // A two-word observation holds one block per word, each starting with its "[WordNet 3.0] ..." header.
  const blocks = (hit) => hit.entry.split(/\n(?=\[)/);
  const unknown = (w) => `I don't know the word '${w}': WordNet has no entry for it.`;

  const lemmas = kb.lemmas().filter((l) => !heldOut.has(l));
  const limit = Number(opts.limit) || lemmas.length;
  const turns = [];
  let skipped = 0;
  const add = (t) => (t ? turns.push(t) : skipped++);
  // The reply to a one-word question, read off the observation for what it asks.
  const lineOf = (hit, prefix) => hit.entry.split('\n').find((l) => l.startsWith(prefix));
  const replyFor = (kind) => (hit) => {
    if (!firstSense(hit) || hit.ask !== kind) return null;
    const w = hit.words[0];
    if (kind === 'example') return lineOf(hit, 'Example: ') ?? `WordNet gives no example sentence for '${w}'.`;
    if (kind === 'synonyms') {
      const syn = lineOf(hit, 'Synonyms: ');
      return syn ? `Synonyms of '${w}': ${syn.slice('Synonyms: '.length)}` : `WordNet lists no synonyms of '${w}'.`;
    }
    if (kind === 'partsOfSpeech') return partsOfSpeechReply(w, lineOf(hit, 'Parts of speech: '));
    return definitionLine(hit);
  };
  for (const lemma of lemmas.slice(0, limit)) {
    const w = spell(lemma);
    add(turn(fill(pick(MEANING), { w }), replyFor('meaning')));
    const r = rand();
    if (r < 0.2) add(turn(fill(pick(EXAMPLE), { w }), replyFor('example')));
    else if (r < 0.4) add(turn(fill(pick(SYNONYMS), { w }), replyFor('synonyms')));
    else if (r < 0.48) add(turn(fill(pick(PARTS_OF_SPEECH), { w }), replyFor('partsOfSpeech')));
    else if (r < 0.6) {
      const posList = ['noun', 'verb', 'adjective', 'adverb'].filter((p) => kb.hasPos(lemma, [p]));
      if (posList.length > 1) add(turn(fill(pick(POS_MEANING), { w, p: pick(posList) }), replyFor('meaning')));
    }
  }
  // Made-up words (the evaluation's own made-up words excluded), in the same question shapes.
  const fakes = madeUpWords(kb, Math.round(limit * 0.2), Number(opts.seed) + 1, new Set(held.madeUp));
  for (const f of fakes) {
    const kind = rand();
    const shapes = kind < 0.65 ? MEANING : kind < 0.78 ? EXAMPLE : kind < 0.9 ? SYNONYMS : PARTS_OF_SPEECH;
    add(turn(fill(pick(shapes), { w: f }), (hit) => (hit && hit.lemmas[0] === null ? unknown(hit.words[0]) : null)));
  }
  // Differences between two words (sometimes one made up); half of the words are ones SemCor tags (the
  // everyday words people compare, with long glosses and many senses), half any lemma.
  const tagged = lemmas.filter((l) => kb.tagCount(l) > 0);
  const anyWord = () => spell(pick(rand() < 0.5 ? tagged : lemmas));
  for (let i = 0; i < Math.round(limit * 0.15); i++) {
    const a = anyWord();
    const b = rand() < 0.1 ? pick(fakes) : anyWord();
    add(turn(fill(pick(DIFFERENCE), { a, b }), (hit) => {
      if (!hit || hit.words.length !== 2) return null;
      return hit.words
        .map((word, j) => (hit.lemmas[j] === null ? unknown(word) : `'${word}': ${blocks(hit)[j].split('\n')[1]}`))
        .join('\n');
    }));
  }
  // Small talk and questions that are not about a word: no observation.
  for (let i = 0; i < Math.round(limit * 0.02); i++) {
    const [q, a] = rand() < 0.7 ? pick(SMALL_TALK) : [pick(OFF_TOPIC_QUESTIONS), OFF_TOPIC];
    add(turn(q, (hit) => (hit ? null : a)));
  }

  // Shuffle, then group into conversations of 1-3 turns.
  for (let i = turns.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [turns[i], turns[j]] = [turns[j], turns[i]];
  }
  mkdirSync(dirname(opts.out), { recursive: true });
  const gz = createGzip({ level: 6 });
  const done = new Promise((ok, fail) => gz.pipe(createWriteStream(opts.out)).on('finish', ok).on('error', fail));
  let conversations = 0;
  for (let i = 0; i < turns.length; ) {
    const r = rand();
    const n = r < 0.75 ? 1 : r < 0.93 ? 2 : 3;
    const messages = turns.slice(i, i + n).flat();
    i += n;
    conversations++;
    if (!gz.write(JSON.stringify({ messages }) + '\n')) await new Promise((ok) => gz.once('drain', ok));
  }
  gz.end();
  await done;
  // The evaluation's questions with their observations, for train.py's quick check with transformers.
  const evalOut = createWriteStream(resolve(dirname(opts.out), 'kb-eval.jsonl'));
  for (const [set, words] of [['random', held.random], ['common', held.common], ['madeUp', held.madeUp]]) {
    for (const lemma of words) {
      const w = lemma.replace(/_/g, ' ');
      const question = `What does '${w}' mean?`;
      const hit = retriever.retrieve(question);
      const messages = [{ role: 'user', content: question }, ...(hit ? [{ role: 'observation', content: hit.entry }] : [])];
      const expected = set === 'madeUp' ? unknown(w) : kb.lookup(lemma).senses[0].definition;
      evalOut.write(JSON.stringify({ set, word: w, messages, expected }) + '\n');
    }
  }
  await new Promise((ok) => evalOut.end(ok));
  await close();
  console.log(JSON.stringify({ skippedQuestions: skippedQuestions.slice(0, 40) }));
  console.log(JSON.stringify({ turns: turns.length, skipped, conversations, heldOut: heldOut.size, madeUpForTraining: fakes.length, out: opts.out }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
