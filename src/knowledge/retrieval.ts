// Knowledge-base retrieval: the step before the chat template that finds the word a question is about,
// looks it up, and hands the entry to the model as an `observation` message (the role GLM-4's format
// uses for tool results), so a small model only has to read and phrase the facts:
//
//   <|user|>\nWhat does 'volcano' mean?<|observation|>\n[WordNet 3.0] volcano, noun (sense 1 of 2)\n...<|assistant|>\n...
//
// Every user message of a conversation gets the same observation each time it is rendered (retrieval is
// a pure function of the message), so a follow-up request reuses the cached prefix.
//
// The observation text is the contract between this file and the demo model's training data
// (tools/demo-model/make-data.mjs renders its examples with these functions): change one, retrain the other.
import type { WordEntry, WordNetKb, WordNetPos, WordSense } from './wordnet';

export const WORDNET_SOURCE = 'WordNet 3.0';

/** What the retrieval step found for one user message (returned with the reply, so a page can cite it). */
export interface KnowledgeHit {
  /** The knowledge base, e.g. "WordNet 3.0". */
  source: string;
  /** The words the question asks about, as the user wrote them. */
  words: string[];
  /** The lemma found for each word (null: not in the knowledge base). */
  lemmas: Array<string | null>;
  /** The text given to the model as the observation. */
  entry: string;
}

/** What a question asks: the words it is about and, when it names one, the part of speech. */
export interface KnowledgeQuery {
  words: string[];
  pos?: WordNetPos;
  /** From the first quote to the last, when that differs from `words` (a lemma with an apostrophe: 'all saints' day'). */
  wholeQuote?: string;
}

/** Answers to senses beyond the first, listed briefly so "the other meaning" questions have something to read. */
const MAX_OTHER_SENSES = 2;
const MAX_WORD_CHARS = 60;
const MAX_WORDS_IN_PHRASE = 8;

// Small talk the demo answers without a lookup ("Hello", "who are you?", "thanks").
const SMALL_TALK = /^(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day)|thanks|thank you|thx|bye|goodbye|ok|okay|yes|no|who are you|what are you|what can you do|how are you|help)\b/i;

const POS_WORDS: Record<string, WordNetPos> = { noun: 'noun', verb: 'verb', adjective: 'adjective', adverb: 'adverb', adj: 'adjective', adv: 'adverb' };

// Quoted words: 'x', "x", ‘x’, “x” (an apostrophe inside a word, as in "what's", is not a quote).
const QUOTED = /(?:^|[\s(:,;])(?:'([^'\n]{1,80}?)'|"([^"\n]{1,80}?)"|\u2018([^\u2019\n]{1,80}?)\u2019|\u201c([^\u201d\n]{1,80}?)\u201d)(?=$|[\s?.!,:;)])/g;

// Unquoted question shapes, tried in order; group 1 (and 2 for "difference") is the subject.
const SHAPES: RegExp[] = [
  /\bdifference between (?:the words? )?(.+?) and (.+?)[?.!]*$/i,
  /\bwhat (?:does|do|did) (?:the word )?(.+?) mean\b/i,
  /\b(?:meanings? of|definitions? of|synonyms? (?:of|for)|antonyms? (?:of|for)|examples? (?:of|for|with)|sentence with|another word for) (?:the word )?(.+?)[?.!]*$/i,
  /^(?:please )?(?:define|explain|describe) (?:the word )?(.+?)[?.!]*$/i,
  /^(?:please )?use (?:the word )?(.+?) in a sentence[?.!]*$/i,
  /^(?:what|who) (?:is|are|was|were) (.+?)[?.!]*$/i,
  /^what'?s (.+?)[?.!]*$/i,
  /^(?:tell me about|meaning of) (.+?)[?.!]*$/i,
];

/** The words a question is about, or null when it is not a question about words (small talk, empty). */
export function parseQuestion(question: string): KnowledgeQuery | null {
  const text = question.trim().slice(0, 500);
  if (!text) return null;
  const posMatch = /\bas an? (noun|verb|adjective|adverb|adj|adv)\b|\b(noun|verb|adjective|adverb) (?:sense|meaning)\b/i.exec(text);
  const pos = posMatch ? POS_WORDS[(posMatch[1] ?? posMatch[2])!.toLowerCase()] : undefined;
  const withPos = (words: string[]): KnowledgeQuery | null => {
    const kept = words.map(cleanSubject).filter((w): w is string => w !== null);
    if (kept.length === 0) return null;
    return pos ? { words: kept, pos } : { words: kept };
  };

  const quoted = [...text.matchAll(QUOTED)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
  if (quoted.length) {
    const query = withPos(quoted.slice(0, 2));
    const whole = /(?:^|[\s(:,;])'(.{1,80})'(?=$|[\s?.!,:;)])/.exec(text)?.[1];
    if (query && whole && whole !== query.words[0] && /'/.test(whole) && !/' and '/.test(whole)) query.wholeQuote = whole;
    return query;
  }
  if (SMALL_TALK.test(text) && !/\bmean|defin|synonym|example/i.test(text)) return null;
  for (const shape of SHAPES) {
    const m = shape.exec(text.replace(/\s+as an? (noun|verb|adjective|adverb)\b/i, ''));
    if (m) return withPos(m.slice(1).filter((g): g is string => g !== undefined));
  }
  // A bare word or short phrase ("volcano", "ice cream?").
  const bare = text.replace(/[?.!]+$/, '');
  if (/^[\p{L}\p{N}'-]+(?: [\p{L}\p{N}'-]+){0,2}$/u.test(bare)) return withPos([bare]);
  return null;
}

/** Trims quotes, punctuation and "the word"; null when what is left is not a plausible word or phrase. */
function cleanSubject(raw: string): string | null {
  const s = raw
    .trim()
    .replace(/^["'\u2018\u201c]+|["'\u2019\u201d?!,:;]+$/g, '')
    .replace(/^(?:the word|the term)\s+/i, '')
    .trim();
  if (!s || s.length > MAX_WORD_CHARS || s.split(/\s+/).length > MAX_WORDS_IN_PHRASE) return null;
  // Words, numbers, and the punctuation WordNet lemmas use ("a.m.", "rock 'n' roll", "t-shirt").
  if (!/[\p{L}\p{N}]/u.test(s) || !/^[\p{L}\p{N}\s'.\-/]+$/u.test(s)) return null;
  return s;
}

/** A leading article is part of some lemmas ("a priori", "the hague") and not of others ("a volcano"). */
const ARTICLE = /^(?:an?|the)\s+/i;

/** Capital first letter and a final period: how a definition reads as a sentence. */
export function asSentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const s = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

function senseHeader(word: string, s: WordSense): string {
  return `${word}, ${s.pos} (sense ${s.senseNumber} of ${s.senseCount})`;
}

/**
 * The observation for one word: the first sense in full (definition on its own line, so the model copies
 * it token for token; an example and synonyms when WordNet has them), then a line for each of up to two
 * further senses.
 */
export function renderEntry(word: string, entry: WordEntry | null, source = WORDNET_SOURCE, otherSenses = MAX_OTHER_SENSES): string {
  if (!entry) return `[${source}] no entry for '${word}'.`;
  const [first, ...rest] = entry.senses;
  const lines = [`[${source}] ${senseHeader(word, first!)}`, asSentence(first!.definition)];
  if (first!.examples.length) lines.push(`Example: "${first!.examples[0]}"`);
  const synonyms = first!.synonyms.filter((s) => s.toLowerCase() !== entry.lemma.replace(/_/g, ' ') && s.toLowerCase() !== word.toLowerCase());
  if (synonyms.length) lines.push(`Synonyms: ${synonyms.join(', ')}.`);
  for (const s of rest.slice(0, otherSenses)) lines.push(`Also ${s.pos}: ${asSentence(s.definition)}`);
  return lines.join('\n');
}

/** Retrieval over a WordNet knowledge base: question -> the observation the model reads, or null. */
export class WordNetRetriever {
  constructor(readonly kb: WordNetKb, readonly source = WORDNET_SOURCE) {}

  retrieve(question: string): KnowledgeHit | null {
    const query = parseQuestion(question);
    if (!query) return null;
    const find = (w: string) => this.kb.lookup(w, query.pos) ?? (query.pos ? this.kb.lookup(w) : null);
    if (query.wholeQuote && find(query.wholeQuote)) query.words = [query.wholeQuote];
    // Each word as the answer will name it: without a final period or an article when only that finds it
    // ("Define bicycle." is about 'bicycle', "a.m." keeps its period; "a glacier" is 'glacier', "a priori" stays).
    const found = query.words.map((w): [string, WordEntry | null] => {
      const candidates = [w, w.replace(/\.$/, ''), w.replace(ARTICLE, ''), w.replace(ARTICLE, '').replace(/\.$/, '')];
      for (const c of new Set(candidates)) {
        const e = find(c);
        if (e) return [c, e];
      }
      return [candidates[3]!, null];
    });
    const words = found.map(([w]) => w);
    return {
      source: this.source,
      words,
      lemmas: found.map(([, e]) => e?.lemma ?? null),
      // Two words (a "difference" question): their first senses only, to keep the prompt short.
      entry: found.map(([w, e]) => renderEntry(w, e, this.source, words.length > 1 ? 0 : MAX_OTHER_SENSES)).join('\n'),
    };
  }
}
