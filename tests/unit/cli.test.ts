import { describe, expect, it } from 'vitest';
import { run, EXIT_OK, EXIT_USAGE } from '../../src/cli/main';

describe('glm-webgpu CLI entry', () => {
  it('--help exits 0', async () => {
    expect(await run(['--help'])).toBe(EXIT_OK);
  });
  it('an unknown subcommand is a usage error (exit 2)', async () => {
    expect(await run(['no-such-command'])).toBe(EXIT_USAGE);
  });
});
