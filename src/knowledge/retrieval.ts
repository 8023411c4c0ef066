// Knowledge-base retrieval: the step before the chat template that finds the word a question is about and
// what it asks (a meaning, synonyms, an example, the parts of speech, a difference), looks the word up, and
// hands the entry to the model as an `observation` message (the role GLM-4's format uses for tool
// results), so a small model only has to read and phrase the facts:
//
//   <|user|>\nWhat does 'volcano' mean?<|observation|>\n[WordNet 3.0] volcano, noun (sense 1 of 2)\n...
//   \nAsked: the meaning of 'volcano'.<|assistant|>\n...
//
// The last line names what was asked in one fixed form, so the model reads what to answer from the
// observation instead of having to understand every wording of a question.
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
  /** What the question asks for. */
  ask: KnowledgeAsk;
  /** The text given to the model as the observation (the entry, then an "Asked: ..." line). */
  entry: string;
}

/**
 * What a question asks for: a word's meaning, its synonyms, an example sentence, its parts of speech, or
 * the difference between two words. The retrieval step tells the model (the observation's last line), so
 * the model does not have to recognise every way of asking.
 */
export type KnowledgeAsk = 'meaning' | 'synonyms' | 'example' | 'partsOfSpeech' | 'difference';

/** What a question asks: the words it is about, what about them, and, when it names one, the part of speech. */
export interface KnowledgeQuery {
  words: string[];
  ask: KnowledgeAsk;
  pos?: WordNetPos;
  /** From the first quote to the last, when that differs from `words` (a lemma with an apostrophe: 'all saints' day'). */
  wholeQuote?: string;
}

/** Answers to senses beyond the first, listed briefly so "the other meaning" questions have something to read. */
const MAX_OTHER_SENSES = 2;
/** Synonyms collected over all senses for a synonym question (a thesaurus answer, not only the first sense's). */
const MAX_SYNONYMS = 8;
const MAX_WORD_CHARS = 60;
const MAX_WORDS_IN_PHRASE = 8;

// Small talk the demo answers without a lookup ("Hello", "who are you?", "thanks").
const SMALL_TALK = /^(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day)|thanks|thank you|thx|bye|goodbye|ok|okay|yes|no|who are you|what are you|what can you do|how are you|help)\b/i;
const ABOUT_WORDS = /\bmean|defin|synonym|example|sentence|part of speech|parts of speech|difference/i;

const POS_WORDS: Record<string, WordNetPos> = { noun: 'noun', verb: 'verb', adjective: 'adjective', adverb: 'adverb', adj: 'adjective', adv: 'adverb' };
const POS_NAMES = 'noun|verb|adjective|adverb';
// "as a noun", "used as a verb", "the noun sense/meaning of", "(verb)": a meaning restricted to one part of speech.
const POS_PHRASE = new RegExp(`\\s*\\b(?:used )?as an? (${POS_NAMES}|adj|adv)\\b|\\b(${POS_NAMES}) (?:senses?|meanings?|definitions?)\\b|\\s*\\((${POS_NAMES})\\)`, 'i');

// Quoted words: 'x', "x", ‘x’, “x” (an apostrophe inside a word, as in "what's", is not a quote).
const QUOTED = /(?:^|[\s(:,;])(?:'([^'\n]{1,80}?)'|"([^"\n]{1,80}?)"|\u2018([^\u2019\n]{1,80}?)\u2019|\u201c([^\u201d\n]{1,80}?)\u201d)(?=$|[\s?.!,:;)])/g;

// What is asked, by its keywords, tried in order (no keyword: the meaning).
const ASKS: Array<[KnowledgeAsk, RegExp]> = [
  ['difference', /\bdifferen(?:ce|t)\b|\bdiffers?\b|\s(?:vs\.?|versus)\s|^compare\b/i],
  ['synonyms', /\bsynonym|\banother word\b|\bother words?\b|\bsimilar words?\b|\bwords? (?:like|similar to|that means?)\b|\bsame meaning as\b|\bthesaurus\b/i],
  ['partsOfSpeech', new RegExp(`\\bparts? of speech\\b|^is (?:the word )?.+? an? (?:${POS_NAMES})\\b(?! sense| meaning)|\\b(?:${POS_NAMES}) or an? (?:${POS_NAMES})\\b`, 'i')],
  ['example', /\bexamples?\b|\bin a sentence\b|\bin sentences\b|\bsentences? (?:with|using|for)\b|^(?:how (?:do|can|should|would) (?:i|you|we|one) )?use\b|^how (?:is|are) .+ used\b|^how to use\b|\bused in a sentence\b/i],
];

// Politeness and framing before the question itself ("Can you tell me", "Please", "I don't know").
const LEAD_IN = /^(?:(?:hi|hello|hey)\b[,!]?\s*|(?:can|could|would|will) you (?:please )?(?:tell me|explain|show me|give me|say)?\s*|please\s+|do you know\s+|i (?:want|would like|need) to know\s+|i(?:'d| would) like to know\s+|i (?:don't|do not|didn't) (?:know|understand)\s+|i wonder\s+|tell me\s+|show me\s+|quick question[:,]?\s*)+/i;

// Where the subject sits in a question, tried in order; group 1 (and 2 for a difference) is the subject.
const NOUNS_OF = 'meanings?|definitions?|defs?|synonyms?|antonyms?|examples?(?: sentences?)?|sentences?|another word|other words?|similar words?|words? similar|parts? of speech';
const SHAPES: RegExp[] = [
  /\bdifference between (?:the words? )?(.+?) and (.+)$/i,
  /^(?:how (?:is|are) )(.+?) different from (.+)$/i,
  /^how (?:does|do) (.+?) differ from (.+)$/i,
  /^(.+?) (?:vs\.?|versus) (.+)$/i,
  /^compare (.+?) (?:and|with|to) (.+)$/i,
  /^what do you mean by (.+)$/i,
  /^what (?:does|do|did) (.+?) (?:mean|means|stand for)\b/i,
  /^what(?:'s| is) meant by (.+)$/i,
  /\bwhat (.+?) (?:means|stands for)$/i,
  new RegExp(`^(?:what(?:'s| is| are| was)|give me|give|list|show me|find|any)?\\s*(?:the |a |an |a few |few |some |any |more |other )?(?:${NOUNS_OF})(?: to| of| for| with| using| like| similar to| that means?)? (.+)$`, 'i'),
  /^(.+?) used in (?:a )?sentences?$/i,
  /^(?:how (?:do|can|should|would) (?:i|you|we|one) |how to )?use (.+?)(?: in (?:a )?sentences?)?$/i,
  new RegExp(`^(.+?),? (?:${NOUNS_OF}|in a sentence|in sentences)$`, 'i'),
  /^(?:define|explain|describe|definition) (.+)$/i,
  /^how (?:is|are) (.+?) used$/i,
  new RegExp(`^is (.+?) an? (?:${POS_NAMES})\\b`, 'i'),
  /^(?:what|which) parts? of speech (?:is|are|does) (.+?)(?: have)?$/i,
  /^(?:what|who)(?:'s|s| is| are| was| were) (.+)$/i,
  /^(?:about|meaning of) (.+)$/i,
];

/** The words a question is about, or null when it is not a question about words (small talk, empty). */
export function parseQuestion(question: string): KnowledgeQuery | null {
  const text = question.trim().slice(0, 500);
  if (!text) return null;
  let ask: KnowledgeAsk = ASKS.find(([, re]) => re.test(text))?.[0] ?? 'meaning';
  const posMatch = ask === 'partsOfSpeech' ? null : POS_PHRASE.exec(text);
  const posWord = posMatch ? (posMatch[1] ?? posMatch[2] ?? posMatch[3])!.toLowerCase() : undefined;
  const pos = posWord ? POS_WORDS[posWord] : undefined;
  const query = (words: string[], quoted = false): KnowledgeQuery | null => {
    const kept = words.map((w) => cleanSubject(w, quoted)).filter((w): w is string => w !== null);
    if (kept.length === 0) return null;
    // Two words are compared; one word is never a difference question.
    if (kept.length === 2) ask = 'difference';
    else if (ask === 'difference') ask = 'meaning';
    return pos ? { words: kept, ask, pos } : { words: kept, ask };
  };

  const quoted = [...text.matchAll(QUOTED)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
  if (quoted.length) {
    const found = query(quoted.slice(0, 2), true);
    const whole = /(?:^|[\s(:,;])'(.{1,80})'(?=$|[\s?.!,:;)])/.exec(text)?.[1];
    if (found && whole && whole !== found.words[0] && /'/.test(whole) && !/' and '/.test(whole)) found.wholeQuote = whole;
    return found;
  }
  if (SMALL_TALK.test(text) && !ABOUT_WORDS.test(text)) return null;
  const core = text
    .replace(POS_PHRASE, (_m, _as, senseOf: string | undefined) => (senseOf ? ' meaning' : ' '))
    .replace(/[?.!]+$/, '')
    .replace(/,?\s+(?:please|for me|thanks|thank you)$/i, '')
    .replace(LEAD_IN, '')
    .replace(/\s+/g, ' ')
    .trim();
  for (const shape of SHAPES) {
    const m = shape.exec(core);
    if (m) return query(m.slice(1).filter((g): g is string => g !== undefined));
  }
  // A bare word or short phrase ("volcano", "ice cream?").
  if (/^[\p{L}\p{N}'-]+(?: [\p{L}\p{N}'-]+){0,2}$/u.test(core)) return query([core]);
  return null;
}

/** Trims quotes, punctuation and "the word"; null when what is left is not a plausible word or phrase. */
function cleanSubject(raw: string, quoted: boolean): string | null {
  // Framing words next to an unquoted subject ("the word X", "X in a sentence"); a quote is kept as written ('by no means').
  if (!quoted) raw = raw.replace(/^(?:the (?:word|term|phrase|verb|noun|adjective|adverb)s?)\s+/i, '').replace(/\s+(?:in (?:a )?sentences?|in english|please|mean|means)$/i, '');
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

const withArticle = (pos: WordNetPos) => (pos === 'adjective' || pos === 'adverb' ? `an ${pos}` : `a ${pos}`);

/** The observation's last line: what the question asks, naming the word(s) as the answer should. */
export function askedLine(ask: KnowledgeAsk, words: readonly string[], pos?: WordNetPos): string {
  const [a = '', b = ''] = words;
  switch (ask) {
    case 'difference':
      return `Asked: the difference between '${a}' and '${b}'.`;
    case 'synonyms':
      return `Asked: synonyms of '${a}'.`;
    case 'example':
      return `Asked: an example sentence with '${a}'.`;
    case 'partsOfSpeech':
      return `Asked: the parts of speech of '${a}'.`;
    default:
      return pos ? `Asked: the meaning of '${a}' as ${withArticle(pos)}.` : `Asked: the meaning of '${a}'.`;
  }
}

/** Every part of speech a word has, with its number of senses: "noun (16 senses), verb (41 senses)". */
function partsOfSpeech(entry: WordEntry): string {
  const counts = new Map<WordNetPos, number>();
  for (const s of entry.senses) counts.set(s.pos, s.senseCount);
  return (['noun', 'verb', 'adjective', 'adverb'] as const)
    .filter((p) => counts.has(p))
    .map((p) => `${p} (${counts.get(p)} sense${counts.get(p) === 1 ? '' : 's'})`)
    .join(', ');
}

/**
 * The observation for one word: the first sense in full (definition on its own line, so the model copies
 * it token for token; an example and synonyms when WordNet has them), then what the question needs beyond
 * it: a line for each of up to two further senses (a meaning), the synonyms of every sense (synonyms), the
 * first example of any sense when the first has none (an example), or the parts of speech.
 */
export function renderEntry(word: string, entry: WordEntry | null, source = WORDNET_SOURCE, otherSenses = MAX_OTHER_SENSES, ask: KnowledgeAsk = 'meaning'): string {
  if (!entry) return `[${source}] no entry for '${word}'.`;
  const [first, ...rest] = entry.senses;
  const lines = [`[${source}] ${senseHeader(word, first!)}`, asSentence(first!.definition)];
  const example = ask === 'example' ? entry.senses.find((s) => s.examples.length)?.examples[0] : first!.examples[0];
  if (example) lines.push(`Example: "${example}"`);
  const isWord = (s: string) => s.toLowerCase() === entry.lemma.replace(/_/g, ' ') || s.toLowerCase() === word.toLowerCase();
  const synonyms = ask === 'synonyms' ? [...new Set(entry.senses.flatMap((s) => s.synonyms.filter((x) => !isWord(x))))].slice(0, MAX_SYNONYMS) : first!.synonyms.filter((s) => !isWord(s));
  if (synonyms.length) lines.push(`Synonyms: ${synonyms.join(', ')}.`);
  if (ask === 'partsOfSpeech') lines.push(`Parts of speech: ${partsOfSpeech(entry)}.`);
  else if (ask === 'meaning') for (const s of rest.slice(0, otherSenses)) lines.push(`Also ${s.pos}: ${asSentence(s.definition)}`);
  return lines.join('\n');
}

/** Retrieval over a WordNet knowledge base: question -> the observation the model reads, or null. */
export class WordNetRetriever {
  constructor(readonly kb: WordNetKb, readonly source = WORDNET_SOURCE) {}

  retrieve(question: string): KnowledgeHit | null {
    const query = parseQuestion(question);
    if (!query) return null;
    const find = (w: string) => this.kb.lookup(w, query.pos) ?? (query.pos ? this.kb.lookup(w) : null);
    // The quote read whole is one word (its inner apostrophes are not quotes), so not a difference.
    if (query.wholeQuote && find(query.wholeQuote)) {
      query.words = [query.wholeQuote];
      if (query.ask === 'difference') query.ask = 'meaning';
    }
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
    // An unquoted phrase of three or more words that WordNet does not know is a question about something
    // else ("What's the weather today?"), not an unknown word: no lookup, the model says what it can do.
    if (found.every(([w, e]) => e === null && w.split(/\s+/).length >= 3) && [...question.matchAll(QUOTED)].length === 0) return null;
    const words = found.map(([w]) => w);
    const { ask } = query;
    // The meaning asked as one part of speech is named only when the word has that part of speech.
    const pos = query.pos && found[0]?.[1]?.senses[0]?.pos === query.pos ? query.pos : undefined;
    // Two words (a "difference" question): their first senses only, to keep the prompt short.
    const blocks = found.map(([w, e]) => renderEntry(w, e, this.source, words.length > 1 ? 0 : MAX_OTHER_SENSES, ask === 'difference' ? 'meaning' : ask));
    return {
      source: this.source,
      words,
      lemmas: found.map(([, e]) => e?.lemma ?? null),
      ask,
      entry: [...blocks, askedLine(ask, words, pos)].join('\n'),
    };
  }
}
