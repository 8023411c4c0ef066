// A short, bounded rendering of an untrusted JSON value for error messages. JSON.stringify is not safe
// here: a header nested 100,000 deep overflows the stack (a bare RangeError instead of the named error
// being built), and a huge array costs its whole size just to be cut to 80 characters.

const MAX_DEPTH = 6;

export function describeJson(value: unknown, max = 80): string {
  const out: string[] = [];
  let length = 0;
  const push = (s: string): boolean => {
    out.push(s);
    length += s.length;
    return length <= max;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return push(String(v));
    if (typeof v === 'string') return push(JSON.stringify(v.length > max ? v.slice(0, max) : v));
    if (typeof v !== 'object') return push(String(v));
    if (depth >= MAX_DEPTH) return push(Array.isArray(v) ? '[...]' : '{...}');
    if (Array.isArray(v)) {
      if (!push('[')) return false;
      for (let i = 0; i < v.length; i++) if ((i > 0 && !push(',')) || !walk(v[i], depth + 1)) return false;
      return push(']');
    }
    if (!push('{')) return false;
    let first = true;
    for (const key in v) {
      if (!Object.hasOwn(v, key)) continue;
      if ((!first && !push(',')) || !push(`${JSON.stringify(key.slice(0, max))}:`) || !walk((v as Record<string, unknown>)[key], depth + 1)) return false;
      first = false;
    }
    return push('}');
  };
  walk(value, 0);
  const text = out.join('');
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
