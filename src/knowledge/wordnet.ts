// The demo's knowledge base: all of WordNet 3.0 (117,659 synsets, 147,306 lemmas) in one static file,
// looked up offline by the engine's retrieval step (retrieval.ts).
//
// File format (written by tools/demo-model/build-kb.mjs; gzip-compressed UTF-8 text, one record a line,
// fields separated by tabs):
//   glm-webgpu-wordnet-kb <TAB> 1 <TAB> attribution
//   S <TAB> count                                   then `count` synset lines:
//     pos (n|v|a|r) <TAB> word forms (space-separated, '_' between the words of a collocation)
//     <TAB> definition <TAB> example ... (zero or more quoted examples of the gloss, quotes removed)
//   L <TAB> count                                   then `count` lemma lines, sorted:
//     lemma <TAB> primary sense (pos letter + index into that pos's list, e.g. "n0") <TAB> noun synsets
//     <TAB> verb synsets <TAB> adjective synsets <TAB> adverb synsets (comma-separated synset line
//     numbers, in WordNet's sense order) <TAB> SemCor tag count of the primary sense
//   X <TAB> count                                   then `count` exception lines: pos <TAB> form <TAB> base forms
//
// Lines are parsed only when a lookup needs them: loading keeps the synset lines as strings and a map from
// lemma to its line, so the 15 MB text is ready in a few hundred milliseconds.
import { GlmError } from '../errors';

export type WordNetPos = 'noun' | 'verb' | 'adjective' | 'adverb';
const POS_LETTERS = ['n', 'v', 'a', 'r'] as const;
type PosLetter = (typeof POS_LETTERS)[number];
const POS_NAME: Record<PosLetter, WordNetPos> = { n: 'noun', v: 'verb', a: 'adjective', r: 'adverb' };
const POS_LETTER: Record<WordNetPos, PosLetter> = { noun: 'n', verb: 'v', adjective: 'a', adverb: 'r' };

export const WORDNET_KB_MAGIC = 'glm-webgpu-wordnet-kb';
export const WORDNET_KB_VERSION = 1;

/** The knowledge-base file is not one this build reads (wrong magic or version, truncated, bad record). */
export class KnowledgeBaseFormatError extends GlmError {
  override name = 'KnowledgeBaseFormatError';
}

export interface WordSense {
  pos: WordNetPos;
  /** 1-based sense number within this part of speech, and how many senses that part of speech has. */
  senseNumber: number;
  senseCount: number;
  /** The gloss up to its first quoted example, as WordNet writes it (lower case, no final period). */
  definition: string;
  examples: string[];
  /** The synset's other word forms ('_' turned into spaces). */
  synonyms: string[];
}

export interface WordEntry {
  /** The lemma found (WordNet's spelling: lower case, '_' between words). */
  lemma: string;
  /** Its senses, the one to answer with first: the primary sense, or sense 1 of the part of speech asked for. */
  senses: WordSense[];
}

// WordNet's detachment rules (morph.c): suffix -> ending, tried in this order per part of speech.
const SUFFIX_RULES: Record<PosLetter, ReadonlyArray<readonly [string, string]>> = {
  n: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  v: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  a: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  r: [],
};

export class WordNetKb {
  private constructor(
    private readonly synsetLines: string[],
    private readonly lemmaLines: Map<string, string>,
    private readonly exceptions: Record<PosLetter, Map<string, string[]>>,
    readonly attribution: string,
  ) {}

  get lemmaCount(): number {
    return this.lemmaLines.size;
  }

  /** All lemmas, sorted (the evaluation draws its random words from them). */
  lemmas(): string[] {
    return [...this.lemmaLines.keys()];
  }

  /** Whether a lemma (WordNet's spelling) has a sense in one of these parts of speech. */
  hasPos(lemma: string, pos: WordNetPos[]): boolean {
    const fields = this.lemmaLines.get(lemma)?.split('\t');
    return !!fields && pos.some((p) => (fields[2 + POS_LETTERS.indexOf(POS_LETTER[p])] ?? '') !== '');
  }

  /** How often SemCor tags the lemma's primary sense (0 for most lemmas). */
  tagCount(lemma: string): number {
    const fields = this.lemmaLines.get(lemma)?.split('\t');
    return fields ? Number(fields[6] ?? 0) : 0;
  }

  static parse(text: string): WordNetKb {
    const lines = text.split('\n');
    let at = 0;
    const fail = (what: string): never => {
      throw new KnowledgeBaseFormatError(`WordNet knowledge base, line ${at + 1}: ${what}; rebuild it with tools/demo-model/build-kb.mjs`);
    };
    const header = lines[at]?.split('\t') ?? [];
    if (header[0] !== WORDNET_KB_MAGIC) fail(`expected "${WORDNET_KB_MAGIC}" at the start`);
    if (Number(header[1]) !== WORDNET_KB_VERSION) fail(`version ${header[1]} is not ${WORDNET_KB_VERSION}`);
    at++;
    const section = (tag: string): string[] => {
      const [t, n] = (lines[at] ?? '').split('\t');
      const count = Number(n);
      if (t !== tag || !Number.isSafeInteger(count) || count < 0 || at + 1 + count > lines.length) fail(`expected a "${tag}<TAB>count" section`);
      const part = lines.slice(at + 1, at + 1 + count);
      at += 1 + count;
      return part;
    };
    const synsetLines = section('S');
    const lemmaLines = new Map<string, string>();
    for (const line of section('L')) lemmaLines.set(line.slice(0, line.indexOf('\t')), line);
    const exceptions: Record<PosLetter, Map<string, string[]>> = { n: new Map(), v: new Map(), a: new Map(), r: new Map() };
    for (const line of section('X')) {
      const [pos, form, bases] = line.split('\t');
      const table = exceptions[pos as PosLetter];
      if (!table || !form || !bases) fail(`bad exception record "${line.slice(0, 80)}"`);
      table.set(form!, bases!.split(' '));
    }
    return new WordNetKb(synsetLines, lemmaLines, exceptions, header[2] ?? '');
  }

  /**
   * The entry for a word as a user writes it ("Geese", "ran", "ice cream", "libraries"): the word itself
   * when it is a lemma, else its base form by WordNet's exception lists and suffix rules. With `pos`, only
   * that part of speech. null when WordNet has no such word.
   */
  lookup(word: string, pos?: WordNetPos): WordEntry | null {
    const key = normalizeWord(word);
    if (!key) return null;
    const only = pos ? POS_LETTER[pos] : undefined;
    if (this.lemmaLines.has(key)) {
      const entry = this.entry(key, only);
      if (entry) return entry;
    }
    for (const letter of only ? [only] : POS_LETTERS) {
      for (const base of this.baseForms(key, letter)) {
        const entry = this.entry(base, letter);
        if (entry) return entry;
      }
    }
    return null;
  }

  /** Base forms of an inflected word for one part of speech (exceptions first, then the suffix rules). */
  private baseForms(word: string, pos: PosLetter): string[] {
    const out = [...(this.exceptions[pos].get(word) ?? [])];
    for (const [suffix, ending] of SUFFIX_RULES[pos]) {
      if (word.length > suffix.length && word.endsWith(suffix)) out.push(word.slice(0, -suffix.length) + ending);
    }
    // A collocation inflects its first or last word ("attorneys_general", "ice_creams").
    const parts = word.split('_');
    if (parts.length > 1) {
      for (const i of [parts.length - 1, 0]) {
        for (const b of this.baseForms(parts[i]!, pos)) out.push(parts.map((p, j) => (j === i ? b : p)).join('_'));
      }
    }
    return out.filter((b) => b !== word && this.lemmaLines.has(b));
  }

  private entry(lemma: string, only?: PosLetter): WordEntry | null {
    const line = this.lemmaLines.get(lemma);
    if (line === undefined) return null;
    const [, primary = '', ...lists] = line.split('\t');
    const byPos = new Map<PosLetter, number[]>();
    POS_LETTERS.forEach((p, i) => {
      const list = lists[i] ? lists[i]!.split(',').map(Number) : [];
      if (list.length) byPos.set(p, list);
    });
    const order: Array<[PosLetter, number]> = [];
    if (only) {
      (byPos.get(only) ?? []).forEach((_, i) => order.push([only, i]));
    } else {
      const primaryPos = primary[0] as PosLetter;
      const primaryIndex = Number(primary.slice(1));
      if (byPos.has(primaryPos)) order.push([primaryPos, primaryIndex]);
      for (const p of POS_LETTERS) (byPos.get(p) ?? []).forEach((_, i) => (p === primaryPos && i === primaryIndex ? null : order.push([p, i])));
    }
    if (order.length === 0) return null;
    const senses = order.map(([p, i]) => this.sense(p, i, byPos.get(p)!));
    return { lemma, senses };
  }

  private sense(pos: PosLetter, index: number, list: number[]): WordSense {
    const line = this.synsetLines[list[index]!];
    if (line === undefined) throw new KnowledgeBaseFormatError(`WordNet knowledge base: synset ${list[index]} is missing; rebuild it with tools/demo-model/build-kb.mjs`);
    const [, forms = '', definition = '', ...examples] = line.split('\t');
    return {
      pos: POS_NAME[pos],
      senseNumber: index + 1,
      senseCount: list.length,
      definition,
      examples,
      synonyms: forms.split(' ').filter(Boolean).map((f) => f.replace(/_/g, ' ')),
    };
  }
}

/** A word as typed -> WordNet's key: lower case, spaces to '_', curly apostrophes straightened. */
export function normalizeWord(word: string): string {
  return word
    .trim()
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/\s+/g, '_');
}

/** Reads the knowledge-base file's bytes (gzip-compressed, or already plain text) into a WordNetKb. */
export async function parseWordNetKbBytes(bytes: Uint8Array): Promise<WordNetKb> {
  const gzip = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  let text: string;
  if (gzip) {
    // A server may already have undone the compression (Content-Encoding); only gzip bytes are inflated.
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
    text = await new Response(stream).text();
  } else {
    text = new TextDecoder().decode(bytes);
  }
  return WordNetKb.parse(text);
}
