// The demo's knowledge base (all of WordNet 3.0) and the retrieval step that feeds it to the model.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseWordNetKbBytes, WordNetKb, KnowledgeBaseFormatError } from '../../src/knowledge/wordnet';
import { parseQuestion, renderEntry, WordNetRetriever } from '../../src/knowledge/retrieval';

const KB_FILE = resolve(import.meta.dirname, '../../public/models/glm-demo/knowledge-wordnet.bin');
let kb: WordNetKb;

beforeAll(async () => {
  kb = await parseWordNetKbBytes(new Uint8Array(readFileSync(KB_FILE)));
});

describe('WordNet knowledge base', () => {
  it('holds every WordNet 3.0 lemma', () => {
    expect(kb.lemmaCount).toBe(147306);
  });

  it('answers with the primary sense first (SemCor counts over all parts of speech)', () => {
    const e = kb.lookup('bicycle')!;
    expect(e.lemma).toBe('bicycle');
    expect(e.senses[0]).toMatchObject({ pos: 'noun', senseNumber: 1, definition: 'a wheeled vehicle that has two wheels and is moved by foot pedals' });
    expect(e.senses.map((s) => s.pos)).toEqual(['noun', 'verb']);
    const volcano = kb.lookup('Volcano')!;
    expect(volcano.senses[0]!.definition).toMatch(/^a fissure in the earth's crust/);
  });

  it('finds the lemma of inflected forms through the exception lists and suffix rules', () => {
    expect(kb.lookup('geese')!.lemma).toBe('goose');
    expect(kb.lookup('ran')!.lemma).toBe('run');
    expect(kb.lookup('libraries')!.lemma).toBe('library');
    expect(kb.lookup('better')!.lemma).toBe('better');
    expect(kb.lookup('ice creams')!.lemma).toBe('ice_cream');
    expect(kb.lookup('florbix')).toBeNull();
  });

  it('restricts to a part of speech when asked', () => {
    const e = kb.lookup('run', 'noun')!;
    expect(e.senses.every((s) => s.pos === 'noun')).toBe(true);
    expect(e.senses[0]!.senseNumber).toBe(1);
  });

  it('rejects a file that is not a knowledge base with a named error', () => {
    expect(() => WordNetKb.parse('hello\n')).toThrow(KnowledgeBaseFormatError);
    expect(() => WordNetKb.parse('glm-webgpu-wordnet-kb\t1\tx\nS\t5\n')).toThrow(/section/);
  });
});

describe('retrieval', () => {
  it('finds the word a question is about and what it asks', () => {
    expect(parseQuestion("What does 'volcano' mean?")).toEqual({ words: ['volcano'], ask: 'meaning' });
    expect(parseQuestion('What does volcano mean?')).toEqual({ words: ['volcano'], ask: 'meaning' });
    expect(parseQuestion('Define bicycle.')).toEqual({ words: ['bicycle'], ask: 'meaning' });
    expect(parseQuestion("What's a glacier?")).toEqual({ words: ['a glacier'], ask: 'meaning' });
    expect(parseQuestion("What's the difference between 'violin' and 'viola'?")).toEqual({ words: ['violin', 'viola'], ask: 'difference' });
    expect(parseQuestion('What is the difference between a harbor and a port?')).toEqual({ words: ['a harbor', 'a port'], ask: 'difference' });
    expect(parseQuestion("What does 'run' mean as a noun?")).toEqual({ words: ['run'], ask: 'meaning', pos: 'noun' });
    expect(parseQuestion('Use telescope in a sentence.')).toEqual({ words: ['telescope'], ask: 'example' });
    expect(parseQuestion('What are synonyms of happy?')).toEqual({ words: ['happy'], ask: 'synonyms' });
    expect(parseQuestion('surgeon')).toEqual({ words: ['surgeon'], ask: 'meaning' });
    expect(parseQuestion('Hello, who are you?')).toBeNull();
    expect(parseQuestion('thanks!')).toBeNull();
    expect(parseQuestion('How do I cook pasta?')).toBeNull();
    expect(parseQuestion('')).toBeNull();
  });

  it('understands the everyday ways of asking', () => {
    const cases: Array<[string, string[], string, string?]> = [
      ['Can you tell me what bicycle means?', ['bicycle'], 'meaning'],
      ['What do you mean by bicycle?', ['bicycle'], 'meaning'],
      ["I don't know what bicycle means.", ['bicycle'], 'meaning'],
      ['bicycle meaning', ['bicycle'], 'meaning'],
      ['define the word bicycle', ['bicycle'], 'meaning'],
      ['Hi, what does bicycle mean?', ['bicycle'], 'meaning'],
      ['whats bicycle', ['bicycle'], 'meaning'],
      ['explain what bicycle means', ['bicycle'], 'meaning'],
      ['What is meant by bicycle?', ['bicycle'], 'meaning'],
      ['Could you define bicycle for me?', ['bicycle'], 'meaning'],
      ['What is the verb meaning of run?', ['run'], 'meaning', 'verb'],
      ['run (noun)', ['run'], 'meaning', 'noun'],
      ['What is a synonym of bicycle?', ['bicycle'], 'synonyms'],
      ['Give me a synonym for bicycle.', ['bicycle'], 'synonyms'],
      ['bicycle synonyms', ['bicycle'], 'synonyms'],
      ["What's another word for bicycle?", ['bicycle'], 'synonyms'],
      ["Can you use 'bicycle' in a sentence?", ['bicycle'], 'example'],
      ['Example of bicycle in a sentence', ['bicycle'], 'example'],
      ['How do I use the word bicycle?', ['bicycle'], 'example'],
      ['Can you use bicycle in a sentence please?', ['bicycle'], 'example'],
      ['Is bicycle a noun or a verb?', ['bicycle'], 'partsOfSpeech'],
      ['What part of speech is bicycle?', ['bicycle'], 'partsOfSpeech'],
      ['Which part of speech is bicycle?', ['bicycle'], 'partsOfSpeech'],
      ['Show me bicycle used in a sentence.', ['bicycle'], 'example'],
      ['bicycle vs tricycle', ['bicycle', 'tricycle'], 'difference'],
      ['How is bicycle different from tricycle?', ['bicycle', 'tricycle'], 'difference'],
      ['How does a bicycle differ from a tricycle?', ['a bicycle', 'a tricycle'], 'difference'],
      ["Use 'by no means' in a sentence.", ['by no means'], 'example'],
    ];
    for (const [question, words, ask, pos] of cases) {
      expect(parseQuestion(question), question).toEqual(pos ? { words, ask, pos } : { words, ask });
    }
  });

  it('ends the observation with what is asked, and gives what the question needs', () => {
    const r = new WordNetRetriever(kb);
    const synonyms = r.retrieve('What are synonyms for happy?')!;
    expect(synonyms.ask).toBe('synonyms');
    // Synonyms over every sense (happy's first sense has none of its own).
    expect(synonyms.entry).toContain('Synonyms: felicitous, glad, well-chosen.');
    expect(synonyms.entry.split('\n').at(-1)).toBe("Asked: synonyms of 'happy'.");
    const pos = r.retrieve('Is run a noun or a verb?')!;
    expect(pos.entry).toContain('Parts of speech: noun (16 senses), verb (41 senses).');
    expect(pos.entry.split('\n').at(-1)).toBe("Asked: the parts of speech of 'run'.");
    expect(r.retrieve("What does 'run' mean as a noun?")!.entry.split('\n').at(-1)).toBe("Asked: the meaning of 'run' as a noun.");
    // "as an adverb" of a word WordNet has only as a noun: the meaning, not named as an adverb.
    expect(r.retrieve("What does 'volcano' mean as an adverb?")!.entry.split('\n').at(-1)).toBe("Asked: the meaning of 'volcano'.");
    expect(r.retrieve('Use telescope in a sentence.')!.entry).toMatch(/\nExample: ".+"\nAsked: an example sentence with 'telescope'\.$/);
    expect(r.retrieve('What is the difference between a harbor and a port?')!.entry.split('\n').at(-1)).toBe("Asked: the difference between 'harbor' and 'port'.");
  });

  it('renders the entry with the definition on a line of its own', () => {
    const r = new WordNetRetriever(kb);
    const hit = r.retrieve("What does 'volcano' mean?")!;
    expect(hit.lemmas).toEqual(['volcano']);
    const lines = hit.entry.split('\n');
    expect(lines[0]).toBe('[WordNet 3.0] volcano, noun (sense 1 of 2)');
    expect(lines[1]).toBe("A fissure in the earth's crust (or in the surface of some other planet) through which molten lava and gases erupt.");
    expect(r.retrieve("What does 'florbix' mean?")!.entry).toBe("[WordNet 3.0] no entry for 'florbix'.\nAsked: the meaning of 'florbix'.");
    // An article is dropped only when the phrase with it is not a lemma.
    expect(r.retrieve("What's a glacier?")).toMatchObject({ words: ['glacier'], lemmas: ['glacier'] });
    expect(r.retrieve("What does 'a priori' mean?")).toMatchObject({ words: ['a priori'], lemmas: ['a_priori'] });
    expect(r.retrieve('What is the difference between a harbor and a port?')).toMatchObject({ words: ['harbor', 'port'] });
    expect(r.retrieve('What is 2 + 2?')).toBeNull();
    // A long unquoted phrase WordNet does not know is not a word question; the same in quotes is an unknown word.
    expect(r.retrieve("What's the weather like today?")).toBeNull();
    expect(r.retrieve("What does 'the weather like today' mean?")).toMatchObject({ lemmas: [null] });
    expect(r.retrieve("What does 'all saints' day' mean?")).toMatchObject({ lemmas: ["all_saints'_day"] });
    expect(r.retrieve("What does 'albert gore jr.' mean?")).toMatchObject({ lemmas: ['albert_gore_jr.'] });
    expect(r.retrieve('Define bicycle.')).toMatchObject({ words: ['bicycle'], lemmas: ['bicycle'] });
    expect(renderEntry('x', null, 'KB')).toBe("[KB] no entry for 'x'.");
  });
});
