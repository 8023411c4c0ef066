// The API reference (`npm run docs`, TypeDoc over the TSDoc comments of the public entry points) builds
// without a warning: no broken {@link}, no unresolvable type. Validation only; nothing is written.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { REPO, sh } from './pack';

describe('pkg: API reference', () => {
  it('typedoc validates the public API with no warnings', () => {
    const out = sh(process.execPath, [join(REPO, 'node_modules/typedoc/bin/typedoc'), '--emit', 'none', '--treatWarningsAsErrors'], { cwd: REPO });
    expect(out).not.toMatch(/\[warning\]|\[error\]/);
  });
});
