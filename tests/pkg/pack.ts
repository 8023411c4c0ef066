// Shared by the pkg tier: one `npm pack` of the built repository, and fresh copies of the examples
// installed from that tarball in temporary folders outside the repository.
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const EXAMPLES = resolve(REPO, 'examples');

/** Runs a command, returning stdout; on failure the error carries stdout and stderr. */
export function sh(cmd: string, args: string[], options: ExecFileSyncOptions & { cwd: string }): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, ...options }) as string;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${options.cwd}: ${e.message}\n--- stdout\n${e.stdout ?? ''}\n--- stderr\n${e.stderr ?? ''}`, { cause: err });
  }
}

/**
 * `npm pack` of the repository as it is built (dist/ must be fresh: `npm run build`). Scripts are
 * skipped, because prepack would build again; the pkg tier runs after the build of the e2e tier.
 */
export function packTarball(): { tarball: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'glm-pkg-'));
  sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: REPO });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack wrote no tarball into ${dir}`);
  return { tarball: join(dir, tgz), dir };
}

/**
 * Copies examples/<name> into a fresh temporary folder and installs the tarball there (plus the
 * example's own dependencies). `omitOptional` skips Dawn (the `webgpu` package), which browsers never use.
 */
export function installExample(name: string, tarball: string, opts: { omitOptional?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `glm-example-${name}-`));
  cpSync(join(EXAMPLES, name), dir, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
  const args = ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'];
  if (opts.omitOptional) args.push('--omit=optional');
  sh('npm', args, { cwd: dir });
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
