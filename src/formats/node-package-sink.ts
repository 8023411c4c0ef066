// Node PackageSink: writes a package folder. Each file is hashed while it is written (node:crypto,
// streaming), manifest.json is written last through a rename, and with `force` an existing package is
// replaced: its manifest goes first (so a crash never leaves a manifest over foreign shards) and shard
// files the new package does not use are removed at the end.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GlmError } from '../errors';
import { MANIFEST_FILE, type PackageSink, type ShardSink } from './package';

/** The output folder already holds a package and --force was not given. */
export class PackageExistsError extends GlmError {
  override name = 'PackageExistsError';
}

async function exists(file: string): Promise<boolean> {
  try {
    await (await open(file, 'r')).close();
    return true;
  } catch {
    return false;
  }
}

export async function nodePackageSink(dir: string, options: { force?: boolean } = {}): Promise<PackageSink> {
  const location = path.resolve(dir);
  const existing = await stat(location).catch(() => null);
  if (existing && !existing.isDirectory()) {
    throw new PackageExistsError(`"${location}" is a file, not a folder: --out names the package folder to create; choose a folder path`);
  }
  await mkdir(location, { recursive: true });
  const manifestPath = path.join(location, MANIFEST_FILE);
  if (await exists(manifestPath)) {
    if (!options.force) throw new PackageExistsError(`"${location}" already holds a package (${MANIFEST_FILE}); pass --force to replace it, or choose another --out folder`);
    await unlink(manifestPath);
  }
  const written = new Set<string>();
  return {
    location,
    async createFile(name): Promise<ShardSink> {
      const full = path.join(location, name);
      const handle = await open(full, 'w');
      const hash = createHash('sha256');
      let bytes = 0;
      written.add(name);
      return {
        async write(chunk) {
          let done = 0;
          while (done < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done);
            done += bytesWritten;
          }
          hash.update(chunk);
          bytes += chunk.byteLength;
        },
        async close() {
          await handle.close();
          return { bytes, sha256: hash.digest('hex') };
        },
      };
    },
    async writeManifest(text) {
      await writeFile(`${manifestPath}.tmp`, text);
      await rename(`${manifestPath}.tmp`, manifestPath);
      for (const name of await readdir(location)) {
        if (/^shard-\d{5,}\.bin$/.test(name) && !written.has(name)) await unlink(path.join(location, name));
      }
    },
  };
}
