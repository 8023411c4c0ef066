// When a demo reply counts as right: the match rule of evaluate.mjs and evaluate-questions.mjs (train.py's
// quick check has the same rule in Python; keep them in step).
//   first sentence = the text up to the first line break, then up to the first '.', '!' or '?' that is
//                    followed by whitespace and a capital letter (the whole line when there is none);
//   normalisation  = lower case, every run of characters other than a-z and 0-9 -> one space, trimmed.
export function firstSentence(text) {
  const line = text.trim().split('\n')[0];
  const m = /[.!?](?=\s+[A-Z])/.exec(line);
  return m ? line.slice(0, m.index + 1) : line;
}
export function normalise(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim().split(/\s+/).filter(Boolean).join(' ');
}
/** The answer's first sentence is the reference's (a gloss), after normalisation. */
export function matches(answer, reference) {
  return normalise(firstSentence(answer)) === normalise(firstSentence(reference));
}
/** The answer says the word is unknown instead of defining it. */
export const saysUnknown = (answer) => /^I don't know the word\b/.test(answer.trim());
