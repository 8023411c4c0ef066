// Constrained decoding for JSON mode (response_format json_object / json_schema, and the arguments of a
// forced tool call): before each draw, every token whose bytes would not keep the reply a valid prefix of
// a JSON value matching the schema is masked out, and the end-of-reply token is allowed only once the
// value is complete. Whatever the model samples then parses and validates.
//
// The checker is a byte-level pushdown automaton with immutable states (a linked stack of frames), so
// one state can be stepped along many tokens without copies. The vocabulary is walked in sorted byte
// order (VocabBytes): tokens sharing a prefix share the states stepped along it, and a rejected prefix
// skips every token that starts with it.
//
// Termination: every state knows the fewest bytes that complete it (minClose). A token is allowed only if,
// after it, the tokens left can still close the value (one byte per token at worst) and end the reply,
// so a reply that starts with enough room always finishes as valid JSON, even from a random model.
//
// The output is compact JSON (no whitespace between tokens of the grammar), without exponents in numbers
// and without \u escapes in strings: a subset of JSON, so still valid JSON.
import { UnsupportedSchemaError } from '../errors';

// ---------------------------------------------------------------------------------------------------------
// Schema -> nodes
// ---------------------------------------------------------------------------------------------------------

type Node =
  | { k: 'any'; depth: number }
  | { k: 'obj'; props: Array<{ name: string; key: Uint8Array; node: Node }>; required: ReadonlySet<string>; extra: Node | null; min: number }
  | { k: 'arr'; items: Node; minItems: number; maxItems: number; min: number }
  | { k: 'str'; minLength: number; maxLength: number }
  | { k: 'num'; integer: boolean }
  | { k: 'bool' }
  | { k: 'null' }
  | { k: 'lit'; values: Uint8Array[]; min: number }
  | { k: 'union'; options: Node[]; min: number };

/** Free-form JSON (json_object mode, objects without properties) nests at most this deep. */
const ANY_MAX_DEPTH = 4;
/** Digits and signs of one number, enough for any float64 written without exponent noise. */
const MAX_NUMBER_BYTES = 24;

/** Annotation keywords: they do not constrain the value, so ignoring them is exact. */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$schema', '$id', '$comment', 'strict']);
const KEYWORDS: Record<string, ReadonlySet<string>> = {
  object: new Set(['type', 'properties', 'required', 'additionalProperties']),
  array: new Set(['type', 'items', 'minItems', 'maxItems']),
  string: new Set(['type', 'minLength', 'maxLength']),
  number: new Set(['type']),
  integer: new Set(['type']),
  boolean: new Set(['type']),
  null: new Set(['type']),
};

const encoder = new TextEncoder();

function minLen(node: Node): number {
  switch (node.k) {
    case 'any':
    case 'num':
      return 1;
    case 'obj':
    case 'arr':
    case 'lit':
    case 'union':
      return node.min;
    case 'str':
      return 2 + node.minLength;
    case 'bool':
      return 4;
    case 'null':
      return 4;
  }
}

function fail(path: string, message: string): never {
  throw new UnsupportedSchemaError(`JSON schema at ${path || '(root)'}: ${message}`);
}

function nonNegativeInt(value: unknown, path: string, keyword: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(path, `${keyword} must be a non-negative integer`);
  return value;
}

/** Compiles a JSON schema into checker nodes; a keyword outside the supported subset is an UnsupportedSchemaError. */
export function compileSchema(schema: unknown, path = ''): Node {
  if (schema === true || (schema !== null && typeof schema === 'object' && Object.keys(schema).every((k) => ANNOTATIONS.has(k)))) {
    return { k: 'any', depth: 0 };
  }
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) fail(path, 'a schema must be an object');
  const s = schema as Record<string, unknown>;
  if ('enum' in s || 'const' in s) {
    for (const key of Object.keys(s)) {
      if (!ANNOTATIONS.has(key) && key !== 'enum' && key !== 'const' && key !== 'type') fail(path, `"${key}" next to enum/const is not supported`);
    }
    const values = 'const' in s ? [s.const] : s.enum;
    if (!Array.isArray(values) || values.length === 0) fail(path, 'enum must be a non-empty array');
    const bytes = values.map((v) => encoder.encode(JSON.stringify(v)));
    return { k: 'lit', values: bytes, min: Math.min(...bytes.map((b) => b.length)) };
  }
  const type = s.type;
  if (Array.isArray(type)) {
    if (type.length === 0) fail(path, 'type must not be an empty array');
    // Each listed type takes the keywords that apply to it ({type: ["string", "null"], maxLength: 5});
    // a keyword that applies to none of them is still an error (in the loop below, for the first type).
    const applies = (key: string, t: unknown) => key === 'type' || ANNOTATIONS.has(key) || (typeof t === 'string' && KEYWORDS[t]?.has(key));
    const orphan = Object.keys(s).find((key) => !type.some((t) => applies(key, t)));
    const options = type.map((t) => {
      const own = Object.fromEntries(Object.entries(s).filter(([key]) => key === orphan || applies(key, t)));
      return compileSchema({ ...own, type: t }, path);
    });
    return { k: 'union', options, min: Math.min(...options.map(minLen)) };
  }
  if (typeof type !== 'string') {
    // `properties` without `type` is an object schema in practice (OpenAI's examples write both).
    if ('properties' in s) return compileSchema({ ...s, type: 'object' }, path);
    const unknown = Object.keys(s).find((k) => !ANNOTATIONS.has(k));
    fail(path, `"${unknown}" is not supported (supported: type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, enum, const)`);
  }
  const allowed = KEYWORDS[type];
  if (!allowed) fail(path, `type "${type}" is not a JSON schema type`);
  for (const key of Object.keys(s)) {
    if (!allowed.has(key) && !ANNOTATIONS.has(key)) fail(path, `"${key}" is not supported for type "${type}"`);
  }
  switch (type) {
    case 'string': {
      const minLength = s.minLength === undefined ? 0 : nonNegativeInt(s.minLength, path, 'minLength');
      const maxLength = s.maxLength === undefined ? Infinity : nonNegativeInt(s.maxLength, path, 'maxLength');
      if (maxLength < minLength) fail(path, 'maxLength is below minLength');
      return { k: 'str', minLength, maxLength };
    }
    case 'number':
      return { k: 'num', integer: false };
    case 'integer':
      return { k: 'num', integer: true };
    case 'boolean':
      return { k: 'bool' };
    case 'null':
      return { k: 'null' };
    case 'array': {
      const items = s.items === undefined ? ({ k: 'any', depth: 1 } as Node) : compileSchema(s.items, `${path}/items`);
      const minItems = s.minItems === undefined ? 0 : nonNegativeInt(s.minItems, path, 'minItems');
      const maxItems = s.maxItems === undefined ? Infinity : nonNegativeInt(s.maxItems, path, 'maxItems');
      if (maxItems < minItems) fail(path, 'maxItems is below minItems');
      return { k: 'arr', items, minItems, maxItems, min: 2 + minItems * minLen(items) + Math.max(0, minItems - 1) };
    }
    default: {
      const properties = s.properties ?? {};
      if (properties === null || typeof properties !== 'object' || Array.isArray(properties)) fail(path, 'properties must be an object');
      const required = s.required ?? [];
      if (!Array.isArray(required) || !required.every((r) => typeof r === 'string')) fail(path, 'required must be an array of names');
      for (const r of required) if (!Object.hasOwn(properties, r)) fail(path, `required property "${r}" is not in properties`);
      const props = Object.entries(properties as Record<string, unknown>).map(([name, sub]) => ({
        name,
        key: encoder.encode(JSON.stringify(name)),
        node: compileSchema(sub, `${path}/properties/${name}`),
      }));
      // Declared properties only are generated when there are some (valid whether or not additional
      // ones are allowed); without properties, free keys with values of additionalProperties' schema.
      const extraSchema = s.additionalProperties;
      if (extraSchema === false && props.length === 0) {
        return { k: 'lit', values: [encoder.encode('{}')], min: 2 };
      }
      const extra = props.length > 0 ? null : extraSchema === undefined || extraSchema === true ? ({ k: 'any', depth: 1 } as Node) : compileSchema(extraSchema, `${path}/additionalProperties`);
      const requiredSet = new Set(required as string[]);
      let min = 2;
      let count = 0;
      for (const p of props) {
        if (!requiredSet.has(p.name)) continue;
        min += p.key.length + 1 + minLen(p.node);
        count++;
      }
      min += Math.max(0, count - 1);
      return { k: 'obj', props, required: requiredSet, extra, min };
    }
  }
}

/** json_object mode: any JSON object. */
export function anyObjectNode(): Node {
  return { k: 'obj', props: [], required: new Set(), extra: { k: 'any', depth: 1 }, min: 2 };
}

// ---------------------------------------------------------------------------------------------------------
// The automaton
// ---------------------------------------------------------------------------------------------------------

type ObjNode = Extract<Node, { k: 'obj' }>;
type ArrNode = Extract<Node, { k: 'arr' }>;

type Frame =
  /** Awaiting the first byte of a value. */
  | { t: 'val'; node: Node }
  /**
   * Inside a string (a value, or a free object key). Its bytes must be well-formed UTF-8 (so that the
   * decoded text has exactly `chars` characters): `cont` continuation bytes are still due, the next one
   * in [lo, hi] (tighter after E0, ED, F0, F4: no overlong forms, surrogates or code points past U+10FFFF).
   */
  | { t: 'str'; min: number; max: number; chars: number; esc: boolean; key: boolean; cont: number; lo: number; hi: number }
  /** Matching one of several fixed byte strings (true/false/null, enum values, declared keys). */
  | { t: 'lit'; cands: Uint8Array[]; pos: number; keyNames: string[] | null }
  | { t: 'num'; integer: boolean; text: string }
  /** phase: open (after '{'), comma (after ','), colon (key read), value (value in progress), next (after a value). */
  | { t: 'obj'; node: ObjNode; seen: readonly string[]; phase: 'open' | 'comma' | 'colon' | 'value' | 'next'; cur: Node | null; depth: number }
  | { t: 'arr'; node: ArrNode; count: number; phase: 'open' | 'comma' | 'value' | 'next' };

interface Stack {
  readonly f: Frame;
  readonly up: Stack | null;
}

/** A checker state: null once the value is complete. */
export type JsonState = Stack | null;
const REJECT = Symbol('reject');
type StepResult = JsonState | typeof REJECT;

const DIGIT = (b: number) => b >= 0x30 && b <= 0x39;
const NUMBER_PREFIX = /^-?(0|[1-9][0-9]*)?(\.[0-9]*)?$/;
const INTEGER_PREFIX = /^-?(0|[1-9][0-9]*)?$/;
const NUMBER_DONE = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

function anyAt(depth: number): Node {
  return { k: 'any', depth };
}

/** The frame a value of `node` becomes after its first byte `b`, or REJECT. */
function start(node: Node, b: number): Frame | typeof REJECT {
  switch (node.k) {
    case 'str':
      return b === 0x22 ? { t: 'str', min: node.minLength, max: node.maxLength, chars: 0, esc: false, key: false, cont: 0, lo: 0x80, hi: 0xbf } : REJECT;
    case 'num':
      return b === 0x2d || DIGIT(b) ? { t: 'num', integer: node.integer, text: String.fromCharCode(b) } : REJECT;
    case 'bool':
      return startLit([encoder.encode('true'), encoder.encode('false')], b, null);
    case 'null':
      return startLit([encoder.encode('null')], b, null);
    case 'lit':
      return startLit(node.values, b, null);
    case 'obj':
      return b === 0x7b ? { t: 'obj', node, seen: [], phase: 'open', cur: null, depth: 0 } : REJECT;
    case 'arr':
      return b === 0x5b ? { t: 'arr', node, count: 0, phase: 'open' } : REJECT;
    case 'union':
      for (const o of node.options) {
        const f = start(o, b);
        if (f !== REJECT) return f;
      }
      return REJECT;
    case 'any': {
      if (b === 0x22) return { t: 'str', min: 0, max: Infinity, chars: 0, esc: false, key: false, cont: 0, lo: 0x80, hi: 0xbf };
      if (b === 0x2d || DIGIT(b)) return { t: 'num', integer: false, text: String.fromCharCode(b) };
      if (b === 0x74 || b === 0x66) return startLit([encoder.encode('true'), encoder.encode('false')], b, null);
      if (b === 0x6e) return startLit([encoder.encode('null')], b, null);
      if (node.depth >= ANY_MAX_DEPTH) return REJECT;
      if (b === 0x7b) return { t: 'obj', node: { k: 'obj', props: [], required: new Set(), extra: anyAt(node.depth + 1), min: 2 }, seen: [], phase: 'open', cur: null, depth: node.depth };
      if (b === 0x5b) return { t: 'arr', node: { k: 'arr', items: anyAt(node.depth + 1), minItems: 0, maxItems: Infinity, min: 2 }, count: 0, phase: 'open' };
      return REJECT;
    }
  }
}

function startLit(cands: Uint8Array[], b: number, keyNames: string[] | null): Frame | typeof REJECT {
  const keep: Uint8Array[] = [];
  const names: string[] = [];
  cands.forEach((c, i) => {
    if (c[0] === b) {
      keep.push(c);
      if (keyNames) names.push(keyNames[i]!);
    }
  });
  if (keep.length === 0) return REJECT;
  return { t: 'lit', cands: keep, pos: 1, keyNames: keyNames ? names : null };
}

/** A finished lit: the single candidate matched in full (none longer left). */
function litDone(f: Extract<Frame, { t: 'lit' }>): number {
  let ended = -1;
  for (let i = 0; i < f.cands.length; i++) {
    if (f.cands[i]!.length === f.pos) ended = i;
    else return -1; // a longer candidate is still possible
  }
  return ended;
}

function litCanEnd(f: Extract<Frame, { t: 'lit' }>): number {
  return f.cands.findIndex((c) => c.length === f.pos);
}

/** What a finished child hands to its parent: a key name (string) for keys, nothing for values. */
type Done = { key: string | null; isKey: boolean };

function finish(up: Stack | null, done: Done): StepResult {
  if (up === null) return done.isKey ? REJECT : null;
  const f = up.f;
  if (f.t === 'obj') {
    if (done.isKey) {
      const prop = done.key === null ? null : f.node.props.find((p) => p.name === done.key);
      const cur = prop ? prop.node : f.node.extra;
      if (cur === null) return REJECT;
      return { f: { ...f, seen: done.key === null ? f.seen : [...f.seen, done.key], phase: 'colon', cur }, up: up.up };
    }
    return { f: { ...f, phase: 'next', cur: null }, up: up.up };
  }
  if (f.t === 'arr') return { f: { ...f, phase: 'next' }, up: up.up };
  return REJECT;
}

/** Keys a declared-property object may still take. */
function unseenProps(f: Extract<Frame, { t: 'obj' }>) {
  return f.node.props.filter((p) => !f.seen.includes(p.name));
}

function requiredMissing(f: Extract<Frame, { t: 'obj' }>): boolean {
  for (const r of f.node.required) if (!f.seen.includes(r)) return true;
  return false;
}

/** One byte. */
export function stepByte(state: JsonState, b: number): StepResult {
  if (state === null) return REJECT;
  const f = state.f;
  const up = state.up;
  switch (f.t) {
    case 'val': {
      const started = start(f.node, b);
      return started === REJECT ? REJECT : { f: started, up };
    }
    case 'str': {
      if (f.esc) {
        // \" \\ \/ \b \f \n \r \t (no \u: the subset stays simple and still valid JSON).
        if (![0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(b)) return REJECT;
        return { f: { ...f, esc: false }, up };
      }
      if (f.cont > 0) {
        if (b < f.lo || b > f.hi) return REJECT;
        return { f: { ...f, cont: f.cont - 1, lo: 0x80, hi: 0xbf }, up };
      }
      if (b === 0x22) return f.chars >= f.min ? finish(up, { key: null, isKey: f.key }) : REJECT;
      if (b < 0x20 || b === 0x7f) return REJECT;
      if (f.chars + 1 > f.max) return REJECT;
      if (b === 0x5c) return { f: { ...f, chars: f.chars + 1, esc: true }, up };
      if (b < 0x80) return { f: { ...f, chars: f.chars + 1 }, up };
      // A UTF-8 lead byte: how many continuation bytes follow, and the range of the first.
      let cont: number;
      let lo = 0x80;
      let hi = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) cont = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        cont = 2;
        if (b === 0xe0) lo = 0xa0;
        if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        cont = 3;
        if (b === 0xf0) lo = 0x90;
        if (b === 0xf4) hi = 0x8f;
      } else return REJECT;
      return { f: { ...f, chars: f.chars + 1, cont, lo, hi }, up };
    }
    case 'lit': {
      const keep: Uint8Array[] = [];
      const names: string[] = [];
      f.cands.forEach((c, i) => {
        if (c.length > f.pos && c[f.pos] === b) {
          keep.push(c);
          if (f.keyNames) names.push(f.keyNames[i]!);
        }
      });
      if (keep.length === 0) {
        // A shorter candidate that ended here (enum [1, 12] after "1"): the value is done, b goes up.
        const ended = litCanEnd(f);
        if (ended < 0) return REJECT;
        const after = finish(up, { key: f.keyNames ? f.keyNames[ended]! : null, isKey: f.keyNames !== null });
        return after === REJECT ? REJECT : stepByte(after, b);
      }
      const next: Extract<Frame, { t: 'lit' }> = { t: 'lit', cands: keep, pos: f.pos + 1, keyNames: f.keyNames ? names : null };
      const done = litDone(next);
      if (done >= 0) return finish(up, { key: next.keyNames ? next.keyNames[done]! : null, isKey: next.keyNames !== null });
      return { f: next, up };
    }
    case 'num': {
      const text = f.text + String.fromCharCode(b);
      // Within the length cap, and never at the cap unfinished (one more digit must still fit).
      const fits = text.length < MAX_NUMBER_BYTES || (text.length === MAX_NUMBER_BYTES && NUMBER_DONE.test(text));
      if (fits && (f.integer ? INTEGER_PREFIX : NUMBER_PREFIX).test(text)) return { f: { ...f, text }, up };
      if (!NUMBER_DONE.test(f.text)) return REJECT;
      const after = finish(up, { key: null, isKey: false });
      return after === REJECT ? REJECT : stepByte(after, b);
    }
    case 'obj': {
      switch (f.phase) {
        case 'open':
        case 'comma': {
          if (b === 0x7d) return f.phase === 'open' && !requiredMissing(f) ? finish(up, { key: null, isKey: false }) : REJECT;
          if (b !== 0x22) return REJECT;
          const self: Stack = { f: { ...f, phase: 'value' }, up };
          if (f.node.props.length > 0) {
            const left = unseenProps(f);
            if (left.length === 0) return REJECT;
            const lit = startLit(
              left.map((p) => p.key),
              b,
              left.map((p) => p.name),
            );
            return lit === REJECT ? REJECT : { f: lit, up: self };
          }
          return { f: { t: 'str', min: 0, max: Infinity, chars: 0, esc: false, key: true, cont: 0, lo: 0x80, hi: 0xbf }, up: self };
        }
        case 'colon':
          return b === 0x3a ? { f: { t: 'val', node: f.cur! }, up: { f: { ...f, phase: 'value' }, up } } : REJECT;
        case 'next':
          if (b === 0x7d) return requiredMissing(f) ? REJECT : finish(up, { key: null, isKey: false });
          if (b === 0x2c) {
            const more = f.node.props.length === 0 || unseenProps(f).length > 0;
            return more ? { f: { ...f, phase: 'comma' }, up } : REJECT;
          }
          return REJECT;
        default:
          return REJECT;
      }
    }
    case 'arr': {
      const { minItems, maxItems } = f.node;
      switch (f.phase) {
        case 'open':
          if (b === 0x5d) return minItems === 0 ? finish(up, { key: null, isKey: false }) : REJECT;
          if (maxItems === 0) return REJECT;
          return stepByte({ f: { t: 'val', node: f.node.items }, up: { f: { ...f, count: 1, phase: 'value' }, up } }, b);
        case 'comma':
          return stepByte({ f: { t: 'val', node: f.node.items }, up: { f: { ...f, count: f.count + 1, phase: 'value' }, up } }, b);
        case 'next':
          if (b === 0x5d) return f.count >= minItems ? finish(up, { key: null, isKey: false }) : REJECT;
          if (b === 0x2c) return f.count < maxItems ? { f: { ...f, phase: 'comma' }, up } : REJECT;
          return REJECT;
        default:
          return REJECT;
      }
    }
  }
}

function pairCost(p: { key: Uint8Array; node: Node }): number {
  return p.key.length + 1 + minLen(p.node);
}

/** Bytes still needed for the missing required pairs, `leadingComma` when a value precedes them. */
function missingCost(f: Extract<Frame, { t: 'obj' }>, leadingComma: boolean): number {
  let cost = 0;
  let n = 0;
  for (const p of f.node.props) {
    if (f.node.required.has(p.name) && !f.seen.includes(p.name)) {
      cost += pairCost(p);
      n++;
    }
  }
  if (n === 0) return 0;
  return cost + (leadingComma ? n : n - 1);
}

/** missingCost without `name` (the pair being written now, which comes first). */
function missingCostAfter(f: Extract<Frame, { t: 'obj' }>, name: string): number {
  let cost = 0;
  for (const p of f.node.props) {
    if (p.name !== name && f.node.required.has(p.name) && !f.seen.includes(p.name)) cost += pairCost(p) + 1;
  }
  return cost;
}

/**
 * Bytes that finish the object `parent` whose key is being read by `key` (a declared-key lit or a free
 * key string): the rest of the key, ':', the cheapest value, the missing required pairs and '}'.
 */
function keyCost(key: Frame, parent: Extract<Frame, { t: 'obj' }>): number {
  if (key.t === 'lit' && key.keyNames) {
    let best = Infinity;
    key.cands.forEach((c, i) => {
      const name = key.keyNames![i]!;
      const prop = parent.node.props.find((p) => p.name === name)!;
      best = Math.min(best, c.length - key.pos + 1 + minLen(prop.node) + missingCostAfter(parent, name) + 1);
    });
    return best;
  }
  if (key.t === 'str') return (key.esc ? 1 : 0) + key.cont + 1 + 1 + minLen(parent.node.extra!) + 1;
  return 0;
}

/** The fewest bytes that complete the value from `state` (0 when it is complete or may end here). */
export function minClose(state: JsonState): number {
  let total = 0;
  for (let s = state; s !== null; s = s.up) {
    const f = s.f;
    // A key in progress is costed together with its object (the value it will need depends on it).
    if ((f.t === 'lit' && f.keyNames) || (f.t === 'str' && f.key)) {
      const parent = s.up!.f as Extract<Frame, { t: 'obj' }>;
      total += keyCost(f, parent);
      s = s.up!;
      continue;
    }
    switch (f.t) {
      case 'val':
        total += minLen(f.node);
        break;
      case 'str':
        total += (f.esc ? 1 : 0) + f.cont + Math.max(0, f.min - f.chars) + 1;
        break;
      case 'lit': {
        let best = Infinity;
        for (const c of f.cands) best = Math.min(best, c.length - f.pos);
        total += best;
        break;
      }
      case 'num':
        total += NUMBER_DONE.test(f.text) ? 0 : 1;
        break;
      case 'obj':
        switch (f.phase) {
          case 'open':
            total += missingCost(f, false) + 1;
            break;
          case 'comma': {
            const missing = missingCost(f, false);
            if (missing > 0) total += missing + 1;
            else if (f.node.props.length === 0) total += 4 + 1; // "":0}
            else total += Math.min(...unseenProps(f).map(pairCost)) + 1;
            break;
          }
          case 'colon':
            total += 1 + minLen(f.cur!) + missingCost(f, true) + 1;
            break;
          case 'value':
          case 'next':
            total += missingCost(f, true) + 1;
            break;
        }
        break;
      case 'arr': {
        const itemLen = minLen(f.node.items);
        const missing = Math.max(0, f.node.minItems - f.count);
        if (f.phase === 'open') total += missing > 0 ? missing * itemLen + (missing - 1) + 1 : 1;
        else if (f.phase === 'comma') total += itemLen + Math.max(0, missing - 1) * (itemLen + 1) + 1;
        else total += missing * (itemLen + 1) + 1;
        break;
      }
    }
  }
  return total;
}

/** Whether the reply may end here: the value is complete (or a top-level number/enum may stop). */
export function canEnd(state: JsonState): boolean {
  if (state === null) return true;
  if (state.up !== null) return false;
  const f = state.f;
  if (f.t === 'num') return NUMBER_DONE.test(f.text);
  if (f.t === 'lit') return litCanEnd(f) >= 0;
  return false;
}

export function initialState(root: Node): JsonState {
  return { f: { t: 'val', node: root }, up: null };
}

/** Steps along a token's bytes; REJECT as soon as one byte is not allowed. */
export function stepBytes(state: JsonState, bytes: Uint8Array): JsonState | typeof REJECT {
  let s: StepResult = state;
  for (let i = 0; i < bytes.length; i++) {
    s = stepByte(s as JsonState, bytes[i]!);
    if (s === REJECT) return REJECT;
  }
  return s;
}

export { REJECT };

// ---------------------------------------------------------------------------------------------------------
// The vocabulary side
// ---------------------------------------------------------------------------------------------------------

/** Sorted token ids and the common prefix of each with the one before (for the prefix-sharing walk). */
interface SortedIds {
  order: Int32Array;
  shared: Int32Array;
}

function sortByBytes(ids: number[], bytes: ReadonlyArray<Uint8Array | null>): SortedIds {
  const cmp = (a: Uint8Array, b: Uint8Array) => {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  ids.sort((x, y) => cmp(bytes[x]!, bytes[y]!));
  const shared = new Int32Array(ids.length);
  for (let i = 1; i < ids.length; i++) {
    const a = bytes[ids[i - 1]!]!;
    const b = bytes[ids[i]!]!;
    let j = 0;
    while (j < a.length && j < b.length && a[j] === b[j]) j++;
    shared[i] = j;
  }
  return { order: Int32Array.from(ids), shared };
}

/** Characters of `b` when it is plain string content (whole UTF-8 characters, no quote, backslash or control), else -1. */
function plainChars(b: Uint8Array): number {
  let chars = 0;
  for (let i = 0; i < b.length; ) {
    const x = b[i]!;
    if (x < 0x20 || x === 0x22 || x === 0x5c || x === 0x7f) return -1;
    const n = x < 0x80 ? 1 : x >= 0xc2 && x <= 0xdf ? 2 : x >= 0xe0 && x <= 0xef ? 3 : x >= 0xf0 && x <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > b.length) return -1;
    // Only the simple continuation range is taken as plain; the rarer lead bytes go through the walk.
    if (n > 1 && (x === 0xe0 || x === 0xed || x === 0xf0 || x === 0xf4)) return -1;
    for (let j = 1; j < n; j++) if (b[i + j]! < 0x80 || b[i + j]! > 0xbf) return -1;
    chars++;
    i += n;
  }
  return chars;
}

/**
 * Every token's bytes, sorted, for the prefix-sharing walk; special tokens and byte-less ids are left
 * out. Tokens that are plain string content are also listed apart with their character counts: inside
 * a string (most steps of a JSON reply) they are allowed by counting, not by stepping their bytes.
 */
export class VocabBytes {
  readonly all: SortedIds;
  /** Tokens that are not plain string content, sorted (the only ones walked inside a string). */
  readonly special: SortedIds;
  readonly plainIds: Int32Array;
  readonly plainCharCounts: Int32Array;
  constructor(
    readonly vocabSize: number,
    readonly bytes: ReadonlyArray<Uint8Array | null>,
  ) {
    const ids: number[] = [];
    const other: number[] = [];
    const plain: number[] = [];
    const counts: number[] = [];
    bytes.forEach((b, id) => {
      if (!b || b.length === 0) return;
      ids.push(id);
      const c = plainChars(b);
      if (c > 0) {
        plain.push(id);
        counts.push(c);
      } else other.push(id);
    });
    this.all = sortByBytes(ids, bytes);
    this.special = sortByBytes(other, bytes);
    this.plainIds = Int32Array.from(plain);
    this.plainCharCounts = Int32Array.from(counts);
  }
}

/**
 * The grammar state of one reply: feed it the sampled ids, ask it for the mask of the next one.
 * `stopIds` are allowed exactly when the value may end.
 */
export class JsonConstraint {
  private state: JsonState;

  constructor(
    root: Node,
    private readonly vocab: VocabBytes,
    private readonly stopIds: readonly number[],
  ) {
    this.state = initialState(root);
  }

  get complete(): boolean {
    return this.state === null;
  }

  /** Fewest tokens (one byte each at worst, plus the end token) a reply needs from here. */
  tokensNeeded(): number {
    return minClose(this.state) + 1;
  }

  /**
   * Bit i of the mask (word i >> 5, bit i & 31) is set when id i may come next with `tokensLeft` tokens
   * left in the reply (this one included).
   */
  mask(tokensLeft: number): Uint32Array {
    const mask = new Uint32Array(Math.ceil(this.vocab.vocabSize / 32));
    const set = (id: number) => (mask[id >>> 5]! |= 1 << (id & 31));
    const ending = canEnd(this.state);
    if (ending) for (const id of this.stopIds) set(id);
    // After this token, tokensLeft - 1 remain: one for the end token, the rest one byte each at worst.
    const room = tokensLeft - 2;
    const top = this.state?.f;
    if (this.state !== null && room >= 0) {
      let walk = this.vocab.all;
      if (top && top.t === 'str' && !top.esc && top.cont === 0) {
        // Plain tokens in a string: allowed while the string stays within maxLength and the rest fits.
        const base = minClose(this.state);
        const short = Math.max(0, top.min - top.chars);
        const { plainIds, plainCharCounts } = this.vocab;
        for (let j = 0; j < plainIds.length; j++) {
          const c = plainCharCounts[j]!;
          if (top.chars + c <= top.max && base - Math.min(c, short) <= room) set(plainIds[j]!);
        }
        walk = this.vocab.special;
      }
      const { order, shared } = walk;
      const bytes = this.vocab.bytes;
      // states[d] = the state after the first d bytes of the current token.
      const states: Array<JsonState> = [this.state];
      let valid = 1; // states[0..valid-1] are for the current prefix
      for (let i = 0; i < order.length; i++) {
        const id = order[i]!;
        const b = bytes[id]!;
        valid = Math.min(valid, shared[i]! + 1);
        let ok = true;
        for (let d = valid - 1; d < b.length; d++) {
          const next = stepByte(states[d]!, b[d]!);
          if (next === REJECT) {
            ok = false;
            // Skip every following token with this rejected prefix (they sort right after).
            while (i + 1 < order.length && shared[i + 1]! > d) i++;
            break;
          }
          states[d + 1] = next;
          valid = d + 2;
        }
        if (ok && minClose(states[b.length]!) <= room) set(id);
      }
    }
    // Nothing fits the room left (a reply started too short): let it end rather than overrun.
    if (mask.every((w) => w === 0)) for (const id of this.stopIds) set(id);
    return mask;
  }

  /** Advances past a sampled id (stop ids end the reply and are not fed). */
  accept(bytes: Uint8Array | null): void {
    if (bytes === null) return;
    const next = stepBytes(this.state, bytes);
    // The mask only allows tokens that step; a rejected one means the caller sampled outside the mask.
    if (next === REJECT) throw new Error('JsonConstraint.accept: the token does not continue the JSON value');
    this.state = next;
  }
}
