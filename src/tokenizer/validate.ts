// Checks a tokenizer.json before @huggingface/tokenizers sees it (issue #18). That library trusts its input:
// an id of 1e9 makes it size arrays by the id, a merge that is not a string throws a bare TypeError, and a
// pre-tokenizer regex such as `(a+)+$` backtracks for ever on a long input, freezing the worker. Everything
// here is a TokenizerError (or TokenizerLimitError) naming what is wrong and where.
import { TokenizerError, TokenizerLimitError } from './errors';
import { MAX_TOKEN_ID } from './types';
import { describeJson } from '../formats/describe';

/** Longest regex source accepted in a tokenizer (GLM-4's split pattern is 120 characters). */
export const MAX_TOKENIZER_REGEX_LENGTH = 4096;

function checkId(id: unknown, where: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
    throw new TokenizerError(`tokenizer.json ${where}: token id ${describeJson(id)} is not a non-negative integer`);
  }
  if (id > MAX_TOKEN_ID) throw new TokenizerLimitError(`tokenizer.json ${where}: token id ${id} is above the largest token id this engine accepts (${MAX_TOKEN_ID})`);
  return id;
}

/** Throws unless `json` (a parsed tokenizer.json) has sane ids, merges and regexes. */
export function validateTokenizerJson(json: Record<string, unknown>): void {
  const model = json.model as Record<string, unknown>;
  const idToken = new Map<number, string>();
  const vocab = model.vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], ...], the index is the id.
    if (vocab.length > MAX_TOKEN_ID + 1) throw new TokenizerLimitError(`tokenizer.json has ${vocab.length} vocabulary entries; at most ${MAX_TOKEN_ID + 1} are accepted`);
    vocab.forEach((entry, i) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        throw new TokenizerError(`tokenizer.json model.vocab[${i}] must be a [piece, score] pair`);
      }
      idToken.set(i, entry[0]);
    });
  } else if (vocab !== undefined) {
    if (vocab === null || typeof vocab !== 'object') throw new TokenizerError('tokenizer.json model.vocab must be an object of token -> id');
    const entries = Object.entries(vocab as Record<string, unknown>);
    if (entries.length > MAX_TOKEN_ID + 1) throw new TokenizerLimitError(`tokenizer.json has ${entries.length} vocabulary entries; at most ${MAX_TOKEN_ID + 1} are accepted`);
    for (const [token, raw] of entries) {
      const id = checkId(raw, `model.vocab[${JSON.stringify(token.slice(0, 40))}]`);
      const other = idToken.get(id);
      if (other !== undefined) throw new TokenizerError(`tokenizer.json model.vocab gives id ${id} to both ${JSON.stringify(other)} and ${JSON.stringify(token)}`);
      idToken.set(id, token);
    }
  }
  const merges = model.merges;
  if (merges !== undefined) {
    if (!Array.isArray(merges)) throw new TokenizerError('tokenizer.json model.merges must be an array');
    if (merges.length > MAX_TOKEN_ID + 1) throw new TokenizerLimitError(`tokenizer.json has ${merges.length} merges; at most ${MAX_TOKEN_ID + 1} are accepted`);
    merges.forEach((m, i) => {
      const ok = typeof m === 'string' ? m.includes(' ') : Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string';
      if (!ok) throw new TokenizerError(`tokenizer.json model.merges[${i}] is ${describeJson(m, 60)}, not "left right" or ["left", "right"]`);
    });
  }
  const added = json.added_tokens;
  if (added !== undefined) {
    if (!Array.isArray(added)) throw new TokenizerError('tokenizer.json added_tokens must be an array');
    const addedIds = new Set<number>();
    added.forEach((t, i) => {
      const { id: raw, content } = (t ?? {}) as { id?: unknown; content?: unknown };
      if (typeof content !== 'string') throw new TokenizerError(`tokenizer.json added_tokens[${i}] has no "content" string`);
      const id = checkId(raw, `added_tokens[${i}] (${JSON.stringify(content.slice(0, 40))})`);
      if (addedIds.has(id)) throw new TokenizerError(`tokenizer.json added_tokens lists id ${id} twice`);
      addedIds.add(id);
      // An added token may repeat a vocabulary entry (Llama's <s>), but not take another token's id.
      const inVocab = idToken.get(id);
      if (inVocab !== undefined && inVocab !== content) {
        throw new TokenizerError(`tokenizer.json added token ${JSON.stringify(content)} has id ${id}, which the vocabulary gives to ${JSON.stringify(inVocab)}`);
      }
    });
  }
  forEachRegex(json, '', (pattern, where) => checkSafeRegex(pattern, where));
}

/** Calls `visit` for every `{"Regex": "..."}` pattern (normalizer, pre_tokenizer, decoder, wherever it sits). */
function forEachRegex(value: unknown, path: string, visit: (pattern: string, where: string) => void, depth = 0): void {
  if (depth > 64 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => forEachRegex(v, `${path}[${i}]`, visit, depth + 1));
    return;
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'model' && path === '') continue;
    if (key === 'Regex') {
      if (typeof v !== 'string') throw new TokenizerError(`tokenizer.json ${path}.Regex must be a string`);
      visit(v, `${path}.Regex`);
    } else forEachRegex(v, path === '' ? key : `${path}.${key}`, visit, depth + 1);
  }
}

/**
 * Refuses regexes that a backtracking engine can take exponential time on. The rule (star height one): a group
 * repeated more than once (`*`, `+`, `{n,}`, `{n,m}` with m > 1) may hold neither a quantifier nor an
 * alternation, since `(a+)+`, `(a|a)*` or `(a?){30}` can match one string in exponentially many ways; and no
 * backreferences. Every pre-tokenizer pattern of a real GLM, GPT-2, Llama 3, Qwen or DeepSeek tokenizer passes:
 * they repeat character classes, never groups. Polynomial backtracking (`\s*[\r\n]+`) remains possible, bounded
 * by the prompt length.
 */
export function checkSafeRegex(pattern: string, where: string): void {
  if (pattern.length > MAX_TOKENIZER_REGEX_LENGTH) {
    throw new TokenizerLimitError(`tokenizer.json ${where}: a regex of ${pattern.length} characters; at most ${MAX_TOKENIZER_REGEX_LENGTH} are accepted`);
  }
  const refuse = (why: string): never => {
    throw new TokenizerLimitError(`tokenizer.json ${where}: the regex ${JSON.stringify(pattern.slice(0, 80))} ${why}, which can backtrack without end; this engine refuses such patterns`);
  };
  // One frame per open group: did its body hold a quantifier or an alternation?
  interface Frame {
    risky: boolean;
  }
  const stack: Frame[] = [{ risky: false }];
  /** What the last atom was: a group closing with risky content, something else, or nothing to quantify. */
  let last: 'riskyGroup' | 'atom' | 'none' = 'none';
  let i = 0;
  const quantifierAt = (at: number): { repeats: boolean; length: number } | undefined => {
    const c = pattern[at];
    if (c === '*' || c === '+') return { repeats: true, length: 1 };
    if (c === '?') return { repeats: false, length: 1 };
    if (c === '{') {
      const m = /^\{(\d*)(,(\d*))?\}/.exec(pattern.slice(at, at + 32));
      if (!m || (m[1] === '' && m[3] === undefined)) return undefined;
      const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      return { repeats: max > 1, length: m[0].length };
    }
    return undefined;
  };
  while (i < pattern.length) {
    const c = pattern[i]!;
    const q = quantifierAt(i);
    if (q !== undefined && last !== 'none') {
      if (q.repeats && last === 'riskyGroup') refuse('repeats a group that holds a quantifier or an alternation');
      stack[stack.length - 1]!.risky = true;
      i += q.length;
      // Lazy or possessive suffix.
      if (pattern[i] === '?' || pattern[i] === '+') i++;
      last = 'none';
      continue;
    }
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k' || next === 'g') refuse('uses a backreference');
      if ((next === 'p' || next === 'P') && pattern[i + 2] === '{') {
        const close = pattern.indexOf('}', i);
        i = close < 0 ? pattern.length : close + 1;
      } else if (next === 'x' && pattern[i + 2] === '{') {
        const close = pattern.indexOf('}', i);
        i = close < 0 ? pattern.length : close + 1;
      } else if (next === 'u' && pattern[i + 2] === '{') {
        const close = pattern.indexOf('}', i);
        i = close < 0 ? pattern.length : close + 1;
      } else i += 2;
      last = 'atom';
      continue;
    }
    if (c === '[') {
      // Skip the class (nested classes and escapes included); it is one atom.
      let depth = 0;
      let j = i;
      for (; j < pattern.length; j++) {
        const d = pattern[j];
        if (d === '\\') {
          j++;
          continue;
        }
        if (d === '[') depth++;
        else if (d === ']' && j > i + 1 && !(j === i + 2 && pattern[i + 1] === '^')) {
          depth--;
          if (depth === 0) break;
        }
      }
      i = j + 1;
      last = 'atom';
      continue;
    }
    if (c === '(') {
      stack.push({ risky: false });
      // Skip the group prefix: (?:  (?i:  (?=  (?!  (?<=  (?<!  (?<name>  (?P<name>
      i++;
      if (pattern[i] === '?') {
        const m = /^\?(P?<[A-Za-z_][A-Za-z0-9_]*>|<=|<!|[=!:>]|[a-zA-Z-]*:|[a-zA-Z-]*\))/.exec(pattern.slice(i, i + 40));
        i += m ? m[0].length : 1;
      }
      last = 'none';
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) refuse('has an unbalanced ")"');
      const frame = stack.pop()!;
      // A risky group makes its enclosing group risky too.
      if (frame.risky) stack[stack.length - 1]!.risky = true;
      last = frame.risky ? 'riskyGroup' : 'atom';
      i++;
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1]!.risky = true;
      last = 'none';
      i++;
      continue;
    }
    last = c === '^' || c === '$' ? 'none' : 'atom';
    i++;
  }
}
