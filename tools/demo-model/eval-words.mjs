// The demo evaluation's word lists, shared by make-data.mjs (which keeps them out of training) and
// evaluate-kb.mjs (which asks about them). Deterministic: a fixed seed and the knowledge base's own order.
//
//   random:  300 lemmas drawn with seed 20261207 from every WordNet lemma that has a noun, verb or
//            adjective sense (147,306 lemmas, 143,000 of them such)
//   common:  the 100 single-word lemmas whose primary sense SemCor tags most often ("common words by frequency")
//   madeUp:  50 pronounceable made-up words (seed 777) that the knowledge base does not know, even after
//            WordNet's suffix rules
export const EVAL_SEED = 20261207;
export const MADE_UP_SEED = 777;

/**
 * mulberry32: a small seeded generator, the same sequence in every JavaScript engine. Kept here rather than
 * imported from the engine's sampler: the word lists must stay the same words (they were held out of the
 * shipped model's training) whatever becomes of the sampler's random stream.
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CONSONANTS = 'bcdfghjklmnprstvwxz';
const VOWELS = 'aeiou';
const ENDINGS = ['', '', 'x', 'k', 'n', 'sh', 'th', 'rk', 'mp', 'nt'];

/** A pronounceable made-up word of 2-3 syllables (e.g. "florbix"-like). */
export function madeUpWord(rand) {
  const pick = (s) => s[Math.floor(rand() * s.length)];
  let w = '';
  const syllables = 2 + Math.floor(rand() * 2);
  for (let i = 0; i < syllables; i++) {
    w += pick(CONSONANTS);
    if (rand() < 0.3) w += pick('lr');
    w += pick(VOWELS);
  }
  return w + pick(ENDINGS);
}

/** Made-up words the knowledge base does not know (`kb.lookup(w) === null`), `n` of them, distinct. */
export function madeUpWords(kb, n, seed, exclude = new Set()) {
  const rand = seededRandom(seed);
  const out = new Set();
  while (out.size < n) {
    const w = madeUpWord(rand);
    if (w.length >= 5 && !exclude.has(w) && !out.has(w) && kb.lookup(w) === null) out.add(w);
  }
  return [...out];
}

export function evalWords(kb) {
  const all = kb.lemmas();
  const nva = all.filter((l) => kb.hasPos(l, ['noun', 'verb', 'adjective']));
  const rand = seededRandom(EVAL_SEED);
  const random = new Set();
  while (random.size < 300) random.add(nva[Math.floor(rand() * nva.length)]);
  const common = all
    .filter((l) => /^[a-z]+$/.test(l) && kb.hasPos(l, ['noun', 'verb', 'adjective']))
    .map((l) => [l, kb.tagCount(l)])
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 100)
    .map(([l]) => l);
  const madeUp = madeUpWords(kb, 50, MADE_UP_SEED);
  return { random: [...random], common, madeUp };
}
