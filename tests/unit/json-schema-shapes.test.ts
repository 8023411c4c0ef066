// JSON mode over more schema shapes than json-constraint.test.ts's person (issue #19): nested arrays of
// objects, enums of numbers, optional properties, additionalProperties: false, empty objects and arrays,
// strings with escapes and non-ASCII text. A random-weight model samples at temperature 1; every reply
// must parse and validate with Ajv (an independent validator). Keywords outside the subset are named errors.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { GlmEngine } from '../../src/runtime/engine';
import { compileSchema } from '../../src/runtime/json-constraint';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';

/** Seeds per schema: enough for each shape's branches (optional keys present/absent, every enum value) to come up. */
const SEEDS = 12;

const SHAPES: Record<string, Record<string, unknown>> = {
  'nested arrays of objects': {
    type: 'object',
    properties: {
      rows: {
        type: 'array', maxItems: 3,
        items: { type: 'object', properties: { id: { type: 'integer' }, cells: { type: 'array', maxItems: 2, items: { type: 'object', properties: { v: { type: 'number' } }, required: ['v'] } } }, required: ['id', 'cells'] },
      },
    },
    required: ['rows'],
  },
  'enums of numbers, mixed enums and const': {
    type: 'object',
    properties: { level: { enum: [1, 2.5, -3, 0] }, mixed: { enum: ['a', 7, null, true, { k: [1] }] }, version: { const: 2 }, unit: { type: 'integer', enum: [10, 20] } },
    required: ['level', 'mixed', 'version', 'unit'],
    additionalProperties: false,
  },
  'optional properties only, additionalProperties false': {
    type: 'object',
    properties: { a: { type: 'string', maxLength: 5 }, b: { type: 'boolean' }, c: { type: ['integer', 'null'] }, d: { type: 'object', properties: { e: { type: 'null' } }, additionalProperties: false } },
    additionalProperties: false,
  },
  'empty object and empty array': {
    type: 'object',
    properties: { none: { type: 'object', properties: {}, additionalProperties: false }, empty: { type: 'array', maxItems: 0 }, anything: { type: 'array', items: {}, maxItems: 2 } },
    required: ['none', 'empty', 'anything'],
    additionalProperties: false,
  },
  'strings: escapes, non-ASCII, length bounds': {
    type: 'object',
    properties: { text: { type: 'string', minLength: 3, maxLength: 10 }, list: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 3 }, minItems: 2, maxItems: 3 } },
    required: ['text', 'list'],
  },
  'top-level array of small objects': {
    type: 'array', minItems: 1, maxItems: 3, items: { type: 'object', properties: { k: { enum: ['x', 'y'] }, n: { type: 'number' } }, required: ['k'], additionalProperties: false },
  },
  // String keywords apply to the string branch of a type list only.
  'top-level scalar union': { type: ['number', 'string', 'boolean', 'null'], maxLength: 6 },
};

/** Tokens that hold a quote, a backslash, a control character or non-ASCII text: biased up in the strings case so escapes and UTF-8 come up. */
const isAwkward = (text: string) => [...text].some((c) => c === '"' || c === '\\' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7f);
const hasEscaped = (text: string) => [...text].some((c) => c === '"' || c === '\\' || c.charCodeAt(0) < 0x20);
const hasNonAscii = (text: string) => [...text].some((c) => c.charCodeAt(0) > 0x7f);
const STRINGS = 'strings: escapes, non-ASCII, length bounds';
/** Bias on the awkward tokens: strong enough that they win often, the mask still removing the invalid ones. */
const AWKWARD_BIAS = 6;

describe('JSON mode: every schema shape parses and validates (random-weight model, temperature 1)', () => {
  let engine: GlmEngine;
  let awkwardBias: Record<string, number>;
  beforeAll(async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const specials = new Set(Object.values(tok.specialIds));
    awkwardBias = {};
    for (let id = 0; id < tok.vocabSize; id++) if (!specials.has(id) && isAwkward(tok.decode([id]))) awkwardBias[id] = AWKWARD_BIAS;
    const dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-json-shapes-')), 'random'), { seed: 23 });
    engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
  });

  for (const [label, schema] of Object.entries(SHAPES)) {
    it(label, async () => {
      const validate = new Ajv({ strict: false }).compile(schema);
      const seen = new Set<string>();
      const values: unknown[] = [];
      for (let seed = 0; seed < SEEDS; seed++) {
        const r = await engine.generate({
          messages: [{ role: 'user', content: `${label} ${seed}` }],
          response_format: { type: 'json_schema', json_schema: { name: 'shape', schema } },
          temperature: 1,
          seed,
          max_tokens: 120,
          ...(label === STRINGS ? { logit_bias: awkwardBias } : {}),
        });
        const text = r.choices[0]!.message.content;
        let value: unknown;
        expect(() => (value = JSON.parse(text)), `seed ${seed}: ${text}`).not.toThrow();
        expect(validate(value), `seed ${seed}: ${text} ${JSON.stringify(validate.errors)}`).toBe(true);
        expect(r.choices[0]!.finish_reason, `seed ${seed}: ${text}`).toBe('stop');
        seen.add(text);
        values.push(value);
      }
      if (label === STRINGS) {
        // The replies did go through escapes and multi-byte characters (else this case would test little).
        const texts = values.flatMap((v) => { const o = v as { text: string; list: string[] }; return [o.text, ...o.list]; });
        expect(texts.some(hasEscaped), JSON.stringify(texts)).toBe(true);
        expect(texts.some(hasNonAscii), JSON.stringify(texts)).toBe(true);
      }
      // A sampler stuck on one reply would make the check above weak.
      expect(seen.size).toBeGreaterThan(1);
    }, 300_000);
  }
});

describe('JSON mode: schema keywords outside the subset are named errors', () => {
  it('each keyword apps use that the checker cannot enforce is an UnsupportedSchemaError naming it', () => {
    const cases: Array<[keyword: string, schema: Record<string, unknown>]> = [
      ['pattern', { type: 'string', pattern: '^a' }],
      ['format', { type: 'string', format: 'date-time' }],
      ['minimum', { type: 'number', minimum: 0 }],
      ['exclusiveMaximum', { type: 'integer', exclusiveMaximum: 9 }],
      ['multipleOf', { type: 'integer', multipleOf: 2 }],
      ['uniqueItems', { type: 'array', uniqueItems: true }],
      ['prefixItems', { type: 'array', prefixItems: [{ type: 'string' }] }],
      ['minProperties', { type: 'object', minProperties: 1 }],
      ['patternProperties', { type: 'object', patternProperties: { '^x': { type: 'string' } } }],
      ['oneOf', { oneOf: [{ type: 'string' }, { type: 'integer' }] }],
      ['allOf', { allOf: [{ type: 'string' }] }],
      ['not', { not: { type: 'null' } }],
      ['$ref', { type: 'object', properties: { a: { $ref: '#/definitions/a' } } }],
      ['$defs', { type: 'object', $defs: { a: { type: 'string' } } }],
      // A keyword of none of the listed types is an error too, not dropped with the types it does not fit.
      ['maxLength', { type: ['number', 'null'], maxLength: 3 }],
    ];
    for (const [keyword, schema] of cases) {
      expect(() => compileSchema(schema), keyword).toThrow(expect.objectContaining({ name: 'UnsupportedSchemaError', message: expect.stringContaining(keyword) }));
    }
  });
});
