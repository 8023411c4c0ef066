// Gemv4Params is declared once in WGSL (shaders/lib/gemv_params.wgsl) and written field by field from
// TypeScript (src/gpu/gemv-params.ts): the two lists must agree in order, name and type, or every decode
// GEMV reads its parameters shifted.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ParamWriter } from '../../src/gpu/buffers';
import { GEMV4_PARAM_FIELDS, writeGemv4Params } from '../../src/gpu/gemv-params';

const WGSL = readFileSync(fileURLToPath(new URL('../../shaders/lib/gemv_params.wgsl', import.meta.url)), 'utf8');

/** The [name, type] pairs of a WGSL struct, comments stripped. */
function structFields(source: string, name: string): [string, string][] {
  const body = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(source.replace(/\/\/[^\n]*/g, ''))?.[1];
  if (body === undefined) throw new Error(`struct ${name} not found`);
  return body
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f.length > 0)
    .map((f) => {
      const [field, type] = f.split(':').map((s) => s.trim());
      return [field!, type!];
    });
}

describe('Gemv4Params: WGSL struct and TypeScript writer', () => {
  it('have the same fields in the same order with the same types', () => {
    expect(structFields(WGSL, 'Gemv4Params')).toEqual(GEMV4_PARAM_FIELDS.map(([n, t]) => [n, t]));
  });

  it('the writer puts each value at its field offset with its type, zero for fields left out', () => {
    const view = new DataView(new ArrayBuffer(256));
    writeGemv4Params(new ParamWriter(view), { cols: 4096, residual_scale: 1.5, position: -3, tiles: 7 });
    const offset = (name: string) => 4 * GEMV4_PARAM_FIELDS.findIndex(([n]) => n === name);
    expect(view.getUint32(offset('cols'), true)).toBe(4096);
    expect(view.getFloat32(offset('residual_scale'), true)).toBe(1.5);
    expect(view.getInt32(offset('position'), true)).toBe(-3);
    expect(view.getUint32(offset('tiles'), true)).toBe(7);
    expect(view.getUint32(offset('n'), true)).toBe(0);
    expect(view.getUint32(offset('has_bias'), true)).toBe(0);
  });
});
