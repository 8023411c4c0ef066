// How the pages show the engine's retrieval step: the knowledge-base entry a reply was given (collapsed,
// under the reply) and the questions the demo suggests instead of "Ask anything".
import type { KnowledgeHit } from '../../index';
import { el } from './dom';

/** Questions the WordNet demo answers well (word meanings, senses, synonyms, examples, differences, unknown words). */
export const DEMO_SUGGESTIONS = [
  "What does 'volcano' mean?",
  "What's the difference between 'violin' and 'viola'?",
  "What does 'run' mean as a noun?",
  "What are synonyms of 'happy'?",
  "Use 'telescope' in a sentence.",
  "What does 'florbix' mean?",
];

/** "Source: WordNet 3.0 · volcano" with the entry the model read, collapsed. */
export function sourceDetails(hit: KnowledgeHit): HTMLDetailsElement {
  const names = hit.words.map((w, i) => (hit.lemmas[i] === null ? `no entry for '${w}'` : w)).join(', ');
  return el('details', { class: 'source' }, el('summary', {}, `Source: ${hit.source} · ${names}`), el('pre', {}, hit.entry));
}

/** Buttons that put a suggested question into the composer and send it. */
export function suggestionButtons(questions: readonly string[], ask: (q: string) => void): HTMLElement {
  const list = el('div', { class: 'suggestions', role: 'group', 'aria-label': 'Suggested questions' });
  for (const q of questions) {
    const b = el('button', { type: 'button', class: 'suggestion' }, q);
    b.addEventListener('click', () => ask(q));
    list.append(b);
  }
  return list;
}
