// JSON mode by constrained decoding: the checker's grammar and schema subset, and 200 seeded generations
// of a random-weight model that must all parse and validate (checked with Ajv, an independent validator).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { anyObjectNode, canEnd, compileSchema, initialState, JsonConstraint, minClose, REJECT, stepBytes, VocabBytes } from '../../src/runtime/json-constraint';
import { GlmEngine } from '../../src/runtime/engine';
import type { ChatCompletion } from '../../src/runtime/api-types';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { vocabularyBytes } from '../../src/tokenizer/token-bytes';

const enc = new TextEncoder();
const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 12 },
    nick: { type: 'string', minLength: 2, maxLength: 4 },
    age: { type: 'integer' },
    score: { type: 'number' },
    ok: { type: 'boolean' },
    nothing: { type: 'null' },
    color: { enum: ['red', 'green', 'blue'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 3 },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: ['string', 'null'] } }, required: ['city'], additionalProperties: false },
  },
  required: ['name', 'age', 'color', 'address'],
  additionalProperties: false,
};

function accepts(node: ReturnType<typeof compileSchema>, text: string): boolean {
  const s = stepBytes(initialState(node), enc.encode(text));
  return s !== REJECT && canEnd(s);
}
function prefixOk(node: ReturnType<typeof compileSchema>, text: string): boolean {
  return stepBytes(initialState(node), enc.encode(text)) !== REJECT;
}

describe('json-constraint: the grammar', () => {
  const root = compileSchema(SCHEMA);

  it('accepts valid values and their prefixes, rejects invalid ones at the first bad byte', () => {
    const good = '{"name":"Ann","age":31,"color":"red","address":{"city":"Oslo","zip":null},"tags":["a","b"],"ok":true,"score":-1.5}';
    expect(accepts(root, good)).toBe(true);
    for (let i = 0; i < good.length; i++) expect(prefixOk(root, good.slice(0, i))).toBe(true);
    expect(prefixOk(root, '{"name":"Ann","age":3.5')).toBe(false); // integer
    expect(prefixOk(root, '{"color":"pink"')).toBe(false); // enum
    expect(prefixOk(root, '{"unknown"')).toBe(false); // additionalProperties false
    expect(prefixOk(root, '{"name":"Ann","name"')).toBe(false); // duplicate key
    expect(accepts(root, '{"name":"Ann","age":1,"color":"red"}')).toBe(false); // missing required address
    expect(prefixOk(root, '{"name":"Ann","age":1,"color":"red"}')).toBe(false);
    expect(prefixOk(root, '{"name":"aaaaaaaaaaaaa"')).toBe(false); // maxLength 12
    expect(prefixOk(root, '{"tags":["a","b","c","d"')).toBe(false); // maxItems 3
    expect(prefixOk(root, ' {')).toBe(false); // compact: no whitespace between tokens
  });

  it('json_object: any object, nested values of every type', () => {
    const any = anyObjectNode();
    expect(accepts(any, '{"a":[1,"x",{"b":null}],"c":false,"d":0.25}')).toBe(true);
    expect(accepts(any, '{}')).toBe(true);
    expect(prefixOk(any, '[')).toBe(false);
    expect(prefixOk(any, '{"a":01')).toBe(false);
    expect(prefixOk(any, '{"a":"x\ny"')).toBe(false); // raw control character in a string
    expect(accepts(any, '{"a":"x\\ny \\"q\\""}')).toBe(true);
  });

  it('minClose is the length of the shortest completion', () => {
    const cases: Array<[string, string]> = [
      ['', '{"name":"","age":0,"color":"red","address":{"city":""}}'],
      ['{"name":"Ann', '","age":0,"color":"red","address":{"city":""}}'],
      ['{"name":"Ann","age":12', ',"color":"red","address":{"city":""}}'],
      ['{"address":{"city":"X"},"name":"a","color":"gr', 'een","age":0}'],
      ['{"na', 'me":"","age":0,"color":"red","address":{"city":""}}'],
      ['{"name":"","age":0,"color":"red","address":{"ci', 'ty":""}}'],
    ];
    for (const [prefix, rest] of cases) {
      const s = stepBytes(initialState(root), enc.encode(prefix));
      expect(s).not.toBe(REJECT);
      expect(minClose(s as Exclude<typeof s, typeof REJECT>)).toBe(rest.length);
      expect(accepts(root, prefix + rest)).toBe(true);
    }
  });

  it('an unsupported schema keyword is a named error, never ignored', () => {
    for (const bad of [
      { type: 'string', pattern: '^a' },
      { type: 'string', format: 'email' },
      { type: 'integer', minimum: 3 },
      { anyOf: [{ type: 'string' }, { type: 'null' }] },
      { type: 'object', properties: { a: { $ref: '#/x' } } },
    ]) {
      expect(() => compileSchema(bad)).toThrow(expect.objectContaining({ name: 'UnsupportedSchemaError' }));
    }
    expect(() => compileSchema({ type: 'string', description: 'annotations are fine', title: 't' })).not.toThrow();
  });

  it('the token mask keeps exactly the tokens that continue the value, and the stop id only at the end', () => {
    const words = ['{', '{"', '"', 'name', '":"', 'Ann', '",', '"age', '":', '1', '2', '}', ' ', 'x', '"name":"'];
    const vocab = new VocabBytes(words.length + 1, [...words.map((w) => enc.encode(w)), null]);
    const stop = words.length;
    const c = new JsonConstraint(compileSchema({ type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name'] }), vocab, [stop]);
    const allowed = (m: Uint32Array) => words.map((w, i) => ((m[i >>> 5]! >>> (i & 31)) & 1 ? w : null)).filter((w) => w !== null);
    expect(allowed(c.mask(100))).toEqual(['{', '{"']);
    c.accept(enc.encode('{"'));
    expect(allowed(c.mask(100))).toEqual(['name']); // inside a key: only the declared names' bytes
    c.accept(enc.encode('name'));
    c.accept(enc.encode('":"'));
    c.accept(enc.encode('Ann'));
    c.accept(enc.encode('",'));
    c.accept(enc.encode('"age'));
    c.accept(enc.encode('":'));
    c.accept(enc.encode('1'));
    const m = c.mask(100);
    expect(allowed(m).sort()).toEqual(['1', '2', '}'].sort());
    expect((m[stop >>> 5]! >>> (stop & 31)) & 1).toBe(0);
    c.accept(enc.encode('}'));
    const end = c.mask(100);
    expect(allowed(end)).toEqual([]);
    expect((end[stop >>> 5]! >>> (stop & 31)) & 1).toBe(1);
  });

  it('with few tokens left only closing tokens stay allowed', () => {
    const words = ['{"a":"', 'x', '"}', '"', '}'];
    const vocab = new VocabBytes(words.length + 1, [...words.map((w) => enc.encode(w)), null]);
    const c = new JsonConstraint(compileSchema({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }), vocab, [5]);
    c.accept(enc.encode('{"a":"'));
    const allowed = (m: Uint32Array) => words.filter((_, i) => (m[i >>> 5]! >>> (i & 31)) & 1);
    expect(allowed(c.mask(50)).sort()).toEqual(['"', '"}', 'x', '}'].sort()); // '}' is a character of the string here
    // 2 tokens left: this one and the stop: it must close the value now.
    expect(allowed(c.mask(2))).toEqual(['"}']);
  });
});

describe('json-constraint: the mask over a real vocabulary', () => {
  it('equals stepping every token on its own (the prefix-sharing walk and the in-string shortcut skip nothing)', async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const bytes = vocabularyBytes(tok);
    const vocab = new VocabBytes(tok.vocabSize, bytes);
    const root = compileSchema(SCHEMA);
    for (const prefix of ['', '{"', '{"name":"Ann', '{"name":"Ann","age":1', '{"name":"中', '{"tags":["a",', '{"address":{"zip":n']) {
      for (const left of [100, 30, 12]) {
        const c = new JsonConstraint(root, vocab, [3000]);
        c.accept(enc.encode(prefix));
        const fast = c.mask(left);
        const start = stepBytes(initialState(root), enc.encode(prefix)) as Exclude<ReturnType<typeof stepBytes>, typeof REJECT>;
        const wanted = new Array<boolean>(tok.vocabSize).fill(false);
        for (let id = 0; id < tok.vocabSize; id++) {
          const b = bytes[id];
          if (!b) continue;
          const s = stepBytes(start, b);
          wanted[id] = s !== REJECT && minClose(s) <= left - 2;
        }
        // The stop id: when the value may end, or (a reply started too short) when nothing else fits.
        wanted[3000] = canEnd(start) || !wanted.some(Boolean);
        for (let id = 0; id < tok.vocabSize; id++) {
          const want = wanted[id];
          expect(((fast[id >>> 5]! >>> (id & 31)) & 1) === 1, `prefix ${prefix} left ${left} id ${id} ${JSON.stringify(tok.idToToken(id))}`).toBe(want);
        }
      }
    }
  });
});

describe('json-constraint: 200 seeded generations of a random-weight model all parse and validate', () => {
  let engine: GlmEngine;
  beforeAll(async () => {
    const dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-json-')), 'random'), { seed: 11 });
    engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
  });

  it('json_schema', async () => {
    const validate = new Ajv().compile(SCHEMA);
    let longest = 0;
    for (let seed = 0; seed < 200; seed++) {
      const r = (await engine.generate({
        messages: [{ role: 'user', content: `Person ${seed} as JSON` }],
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema: SCHEMA } },
        temperature: 1,
        seed,
        max_tokens: 80,
      })) as ChatCompletion;
      const text = r.choices[0]!.message.content;
      let value: unknown;
      expect(() => (value = JSON.parse(text)), `seed ${seed}: ${text}`).not.toThrow();
      expect(validate(value), `seed ${seed}: ${text} ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(r.choices[0]!.finish_reason).toBe('stop');
      longest = Math.max(longest, r.usage.completion_tokens);
    }
    expect(longest).toBeLessThanOrEqual(80);
  }, 600_000);

  it('json_object', async () => {
    for (let seed = 0; seed < 20; seed++) {
      const r = (await engine.generate({ messages: [{ role: 'user', content: 'json please' }], response_format: { type: 'json_object' }, temperature: 1, seed, max_tokens: 48 })) as ChatCompletion;
      const v = JSON.parse(r.choices[0]!.message.content) as unknown;
      expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
    }
  }, 300_000);
});
