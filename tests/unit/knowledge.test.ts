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
  it('finds the word a question is about', () => {
    expect(parseQuestion("What does 'volcano' mean?")).toEqual({ words: ['volcano'] });
    expect(parseQuestion('What does volcano mean?')).toEqual({ words: ['volcano'] });
    expect(parseQuestion('Define bicycle.')).toEqual({ words: ['bicycle'] });
    expect(parseQuestion("What's a glacier?")).toEqual({ words: ['a glacier'] });
    expect(parseQuestion("What's the difference between 'violin' and 'viola'?")).toEqual({ words: ['violin', 'viola'] });
    expect(parseQuestion('What is the difference between a harbor and a port?')).toEqual({ words: ['a harbor', 'a port'] });
    expect(parseQuestion("What does 'run' mean as a noun?")).toEqual({ words: ['run'], pos: 'noun' });
    expect(parseQuestion('Use telescope in a sentence.')).toEqual({ words: ['telescope'] });
    expect(parseQuestion('What are synonyms of happy?')).toEqual({ words: ['happy'] });
    expect(parseQuestion('surgeon')).toEqual({ words: ['surgeon'] });
    expect(parseQuestion('Hello, who are you?')).toBeNull();
    expect(parseQuestion('thanks!')).toBeNull();
    expect(parseQuestion('')).toBeNull();
  });

  it('renders the entry with the definition on a line of its own', () => {
    const r = new WordNetRetriever(kb);
    const hit = r.retrieve("What does 'volcano' mean?")!;
    expect(hit.lemmas).toEqual(['volcano']);
    const lines = hit.entry.split('\n');
    expect(lines[0]).toBe('[WordNet 3.0] volcano, noun (sense 1 of 2)');
    expect(lines[1]).toBe("A fissure in the earth's crust (or in the surface of some other planet) through which molten lava and gases erupt.");
    expect(r.retrieve("What does 'florbix' mean?")!.entry).toBe("[WordNet 3.0] no entry for 'florbix'.");
    // An article is dropped only when the phrase with it is not a lemma.
    expect(r.retrieve("What's a glacier?")).toMatchObject({ words: ['glacier'], lemmas: ['glacier'] });
    expect(r.retrieve("What does 'a priori' mean?")).toMatchObject({ words: ['a priori'], lemmas: ['a_priori'] });
    expect(r.retrieve('What is the difference between a harbor and a port?')).toMatchObject({ words: ['harbor', 'port'] });
    expect(r.retrieve('What is 2 + 2?')).toBeNull();
    expect(r.retrieve("What does 'all saints' day' mean?")).toMatchObject({ lemmas: ["all_saints'_day"] });
    expect(r.retrieve("What does 'albert gore jr.' mean?")).toMatchObject({ lemmas: ['albert_gore_jr.'] });
    expect(r.retrieve('Define bicycle.')).toMatchObject({ words: ['bicycle'], lemmas: ['bicycle'] });
    expect(renderEntry('x', null, 'KB')).toBe("[KB] no entry for 'x'.");
  });
});
