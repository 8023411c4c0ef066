// The embedded demo (public/models/glm-demo, see tools/demo-model/README.md): a tiny GLM trained to answer
// from the WordNet entry the engine's retrieval step puts into the prompt, shipped as an INT4 package with
// all of WordNet 3.0 as its knowledge base. Loaded from the committed files on the CPU and asked through
// the chat API, it must answer with WordNet's gloss of the word's primary sense, say so when it does not
// know a word, and cite its source; the whole demo must stay small enough to embed.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/worker/client';
import type { ChatCompletion } from '../../src/runtime/api-types';
import { parseWordNetKbBytes, type WordNetKb } from '../../src/knowledge/wordnet';

const ROOT = resolve(import.meta.dirname, '../..');
const PACKAGE = resolve(ROOT, 'public/models/glm-demo');
/** The cap for the whole demo, knowledge base included. */
const MAX_DEMO_BYTES = 40_000_000;
/** The ten everyday nouns a new user tried on the first demo model (it knew 3). */
const EVERYDAY = ['bicycle', 'volcano', 'library', 'surgeon', 'umbrella', 'glacier', 'violin', 'harbor', 'telescope', 'bakery'];

// The match rule of tools/demo-model/evaluate.mjs: first sentence (up to the first line break, then up to
// the first '.', '!' or '?' followed by whitespace and a capital), lower case, non-alphanumerics -> space.
function firstSentence(text: string): string {
  const line = text.trim().split('\n')[0]!;
  const m = /[.!?](?=\s+[A-Z])/.exec(line);
  return m ? line.slice(0, m.index + 1) : line;
}
function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim().split(/\s+/).filter(Boolean).join(' ');
}

describe('demo model + WordNet knowledge base (INT4, CPU)', () => {
  let engine: Engine;
  let kb: WordNetKb;
  const ask = async (content: string, extra: { temperature?: number; seed?: number; max_tokens?: number } = {}) => {
    await engine.resetChat();
    return (await engine.chat.completions.create({ messages: [{ role: 'user', content }], temperature: 0, max_tokens: 96, ...extra })) as ChatCompletion;
  };

  beforeAll(async () => {
    kb = await parseWordNetKbBytes(new Uint8Array(readFileSync(resolve(PACKAGE, 'knowledge-wordnet.bin'))));
    engine = await createEngine({ inThread: true });
    await engine.load(PACKAGE, { backend: 'cpu' });
  }, 60_000);

  afterAll(async () => {
    await engine?.terminate();
  });

  it('is a q4 package of at most 40 MB with its knowledge base', () => {
    const manifest = JSON.parse(readFileSync(resolve(PACKAGE, 'manifest.json'), 'utf8')) as { quant: string; files: Array<{ file: string }> };
    expect(manifest.quant).toBe('q4');
    expect(manifest.files.map((f) => f.file)).toEqual(expect.arrayContaining(['knowledge.json', 'knowledge-wordnet.bin']));
    const bytes = readdirSync(PACKAGE).reduce((sum, f) => sum + statSync(resolve(PACKAGE, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(MAX_DEMO_BYTES);
  });

  for (const word of EVERYDAY) {
    it(`answers "What does '${word}' mean?" with WordNet's gloss and cites the entry`, async () => {
      const reply = await ask(`What does '${word}' mean?`);
      const gloss = kb.lookup(word)!.senses[0]!.definition;
      expect(reply.choices[0].finish_reason).toBe('stop');
      expect(normalise(firstSentence(reply.choices[0].message.content))).toBe(normalise(firstSentence(gloss)));
      expect(reply.knowledge).toMatchObject({ source: 'WordNet 3.0', words: [word], lemmas: [word] });
      expect(reply.knowledge!.entry).toContain(gloss.slice(1, 40));
    }, 60_000);
  }

  it('says it does not know a made-up word instead of inventing a definition', async () => {
    const reply = await ask("What does 'florbix' mean?");
    expect(reply.choices[0].message.content).toMatch(/^I don't know the word 'florbix'/);
    expect(reply.knowledge).toMatchObject({ words: ['florbix'], lemmas: [null] });
  }, 60_000);

  // The other kinds of question, each asked in a wording the model was not trained on; the reply is read
  // off the entry the retrieval step gave it (what the entry says, not a remembered reply).
  it('gives synonyms of every sense, an example sentence and the parts of speech from the entry', async () => {
    const synonyms = await ask('Could you list a few synonyms of happy?');
    const synonymLine = synonyms.knowledge!.entry.split('\n').find((l) => l.startsWith('Synonyms: '))!;
    expect(synonyms.knowledge!.ask).toBe('synonyms');
    expect(synonyms.choices[0].message.content).toBe(`Synonyms of 'happy': ${synonymLine.slice('Synonyms: '.length)}`);

    const example = await ask('Show me glacier used in a sentence.');
    const exampleLine = example.knowledge!.entry.split('\n').find((l) => l.startsWith('Example: '));
    expect(example.knowledge!.ask).toBe('example');
    expect(example.choices[0].message.content).toBe(exampleLine ?? "WordNet gives no example sentence for 'glacier'.");

    const pos = await ask('Which part of speech is run?');
    expect(pos.knowledge!.ask).toBe('partsOfSpeech');
    const parts = [...pos.knowledge!.entry.matchAll(/(noun|verb|adjective|adverb) \(\d+ senses?\)/g)].map((m) => m[0]);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(pos.choices[0].message.content).toContain(p);
  }, 120_000);

  it('tells two words apart with one gloss each', async () => {
    const reply = await ask('How is a violin different from a viola?', { max_tokens: 200 });
    const lines = reply.choices[0].message.content.split('\n');
    expect(reply.knowledge!.lemmas).toEqual(['violin', 'viola']);
    expect(lines).toHaveLength(2);
    for (const [i, word] of ['violin', 'viola'].entries()) {
      expect(normalise(lines[i]!)).toBe(normalise(`'${word}': ${kb.lookup(word)!.senses[0]!.definition}`));
    }
  }, 120_000);

  it('answers small talk without a lookup', async () => {
    const reply = await ask('Hello, who are you?');
    expect(reply.knowledge).toBeNull();
    expect(reply.choices[0].message.content).toMatch(/WordNet/);
  }, 60_000);

  it('gives the gloss at the page default temperature 0.7 too (five seeds)', async () => {
    const gloss = normalise(firstSentence(kb.lookup('bicycle')!.senses[0]!.definition));
    for (let seed = 1; seed <= 5; seed++) {
      const reply = await ask("What does 'bicycle' mean?", { temperature: 0.7, seed });
      expect(normalise(firstSentence(reply.choices[0].message.content))).toBe(gloss);
    }
  }, 120_000);

  it('finds inflected forms and keeps the cached prefix across turns', async () => {
    await engine.resetChat();
    const first = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'What does geese mean?' }], max_tokens: 96 })) as ChatCompletion;
    expect(first.knowledge!.lemmas).toEqual(['goose']);
    const messages = [
      { role: 'user' as const, content: 'What does geese mean?' },
      { role: 'assistant' as const, content: first.choices[0].message.content },
      { role: 'user' as const, content: "What does 'violin' mean?" },
    ];
    const second = (await engine.chat.completions.create({ messages, max_tokens: 96 })) as ChatCompletion;
    expect(second.knowledge!.lemmas).toEqual(['violin']);
    // The first turn, its observation included, renders the same again: only the new turn is prefilled.
    expect(second.usage.prefilled_tokens).toBeLessThan(second.usage.prompt_tokens / 2);
  }, 60_000);
});

describe('demo through the CLI (generate --chat goes through the same retrieval step)', () => {
  it("generate --prompt \"What does 'volcano' mean?\" --chat answers with the gloss", async () => {
    const { runCli } = await import('../helpers/cli');
    const kb = await parseWordNetKbBytes(new Uint8Array(readFileSync(resolve(PACKAGE, 'knowledge-wordnet.bin'))));
    const gloss = normalise(firstSentence(kb.lookup('volcano')!.senses[0]!.definition));
    const r = await runCli(['generate', '--prompt', "What does 'volcano' mean?", '--chat', '--max-new-tokens', '96', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(normalise(firstSentence(r.stdout))).toBe(gloss);
  }, 120_000);
});
