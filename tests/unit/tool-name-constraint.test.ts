// tool_choice "required"'s name line (src/runtime/tool-name-constraint.ts) over a small made-up vocabulary:
// the mask keeps exactly the tokens that continue some `name\n`, never a stop id or a token past the newline.
import { describe, expect, it } from 'vitest';
import { ToolNameConstraint } from '../../src/runtime/tool-name-constraint';
import { VocabBytes } from '../../src/runtime/json-constraint';

const enc = new TextEncoder();
const PIECES = ['s', 'se', 'search', 'search\n', '\n', '\n{', 'get', '_', 'forecast', 'x', 'sea', 'rch'];
const STOP = PIECES.length; // a special token: no bytes
const vocab = new VocabBytes(PIECES.length + 1, [...PIECES.map((p) => enc.encode(p)), null]);

const allowed = (c: ToolNameConstraint) => {
  const mask = c.mask();
  return PIECES.filter((_, id) => (mask[id >>> 5]! >>> (id & 31)) & 1);
};

describe('ToolNameConstraint', () => {
  it('allows only prefixes of the name lines, step by step, and nothing once a line is whole', () => {
    const c = new ToolNameConstraint(['search', 'get_forecast'], vocab);
    expect(allowed(c)).toEqual(['s', 'se', 'search', 'search\n', 'get', 'sea']);
    expect((c.mask()[STOP >>> 5]! >>> (STOP & 31)) & 1).toBe(0);
    c.accept(enc.encode('sea'));
    expect(allowed(c)).toEqual(['rch']);
    c.accept(enc.encode('rch'));
    // The newline ends the line; "\n{" would run into the arguments, which the JSON constraint decodes.
    expect(allowed(c)).toEqual(['\n']);
    c.accept(enc.encode('\n'));
    expect(allowed(c)).toEqual([]);
  });

  it('a token off every line is refused by accept (the mask never offers it)', () => {
    const c = new ToolNameConstraint(['get_forecast'], vocab);
    c.accept(enc.encode('get'));
    expect(allowed(c)).toEqual(['_']);
    expect(() => c.accept(enc.encode('x'))).toThrow(/does not continue a tool name line/);
  });
});
