// The error catalogue (src/error-catalogue.ts): GLM_ERROR_NAMES, the error classes under src/ and the
// exports of the public entry must agree, so a page can rely on the documented names.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index';

const SRC = resolve(import.meta.dirname, '../../src');
const CLI_ONLY = ['UsageError', 'PackageExistsError'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Names of the classes declared `class X extends <something>Error` in src/ (GlmError itself aside). */
function declaredErrorClasses(): string[] {
  const names = new Set<string>();
  for (const file of sourceFiles(SRC)) {
    // GlmError itself, or one of its subclasses (TokenizerLimitError extends TokenizerError); not the built-in Error.
    for (const m of readFileSync(file, 'utf8').matchAll(/^export class (\w+) extends (\w+Error)\b/gm)) if (m[2] !== 'Error') names.add(m[1]!);
  }
  return [...names].sort();
}

describe('error catalogue', () => {
  it('lists every error class declared in src/, each once, and nothing else', () => {
    const listed = [...api.GLM_ERROR_NAMES];
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(declaredErrorClasses());
  });

  it('every listed error except the CLI-only ones is exported from the public entry, is a GlmError and carries its name', () => {
    const exported = api as unknown as Record<string, unknown>;
    for (const name of api.GLM_ERROR_NAMES) {
      if (CLI_ONLY.includes(name)) {
        expect(exported[name], `${name} is CLI-only and must stay out of the browser library`).toBeUndefined();
        continue;
      }
      const Ctor = exported[name] as (new (message: string) => Error) | undefined;
      expect(Ctor, `${name} is not exported from src/index.ts`).toBeTypeOf('function');
      const err = new Ctor!('probe');
      expect(err).toBeInstanceOf(api.GlmError);
      expect(err.name).toBe(name);
      expect(api.isGlmError(err, name)).toBe(true);
    }
  });

  it('every GlmError subclass the public entry exports is in the list', () => {
    const exportedErrors = Object.entries(api)
      .filter(([, v]) => typeof v === 'function' && v.prototype instanceof api.GlmError)
      .map(([k]) => k)
      .sort();
    expect(exportedErrors.filter((n) => !(api.GLM_ERROR_NAMES as readonly string[]).includes(n))).toEqual([]);
  });
});
