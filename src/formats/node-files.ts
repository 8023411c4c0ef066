// Node-only ByteSource and ModelFiles over the local file system. Reads go through a FileHandle at
// explicit positions, so a 20 GB checkpoint costs only the bytes of the tensors actually read.

import type { BigIntStats } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, ShardIntegrityError } from '../errors';
import { defaultCacheDir } from '../loader/node-cache';
import { checkReadRange, MissingFileError, TruncatedFileError } from './byte-source';
import type { ByteSource, CheckedShard, ModelFiles } from './byte-source';
import { hashFileOnThread } from './node-shard-hasher';
import { fileIdentity, isRacy, SHARD_STAMP_FILE, shardStamps } from './shard-stamps';

// FileHandle.read takes at most 2^31-1 bytes per call; stay well under it.
const MAX_READ_CHUNK = 1 << 30;

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export async function fileByteSource(filePath: string): Promise<ByteSource> {
  return (await openFile(filePath)).source;
}

/** A file's ByteSource with its fstat at opening and a way to fstat it again (the shard check's identity). */
async function openFile(filePath: string): Promise<{ source: ByteSource; stats: BigIntStats; restat(): Promise<BigIntStats> }> {
  const name = path.resolve(filePath);
  let handle: FileHandle;
  try {
    handle = await open(name, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MissingFileError(`file "${name}" does not exist`, { cause: err });
    throw err;
  }
  let stats: BigIntStats;
  try {
    stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) throw new MissingFileError(`"${name}" is not a regular file`);
  } catch (err) {
    await handle.close();
    throw err;
  }
  const size = Number(stats.size);
  const source: ByteSource = {
    name,
    size,
    async read(offset, length) {
      checkReadRange(name, size, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      // A positional read may return fewer bytes than asked; loop until the range is complete.
      while (done < length) {
        const chunk = Math.min(length - done, MAX_READ_CHUNK);
        const { bytesRead } = await handle.read(out, done, chunk, offset + done);
        if (bytesRead === 0) {
          throw new TruncatedFileError(
            `${name}: wanted bytes ${offset}..${offset + length} but the file ended after ${offset + done} bytes ` +
              `(it was ${size} bytes when opened; it shrank)`,
          );
        }
        done += bytesRead;
      }
      return out;
    },
    async close() {
      await handle.close();
    },
  };
  return { source, stats, restat: () => handle.stat({ bigint: true }) };
}

/**
 * ModelFiles over a directory. The directory is checked lazily (only when a file is missing) so that
 * the happy path costs no extra system calls and the factory stays synchronous.
 */
export interface NodeModelFilesOptions {
  /** Skip the package shards' SHA-256 check while loading: only for a folder you trust (see ModelFiles.shardsVerified). */
  trustShards?: boolean;
  /**
   * The stamp file that lets a later load skip hashing shards that are unchanged since they were hashed
   * (see shard-stamps.ts); default <cache dir>/shard-stamps.json (~/.cache/glm-webgpu or GLM_WEBGPU_CACHE_DIR).
   * false: keep no stamps, hash every shard on every load.
   */
  shardStamps?: string | false;
  /** Milliseconds since the epoch, for telling whether a file changed too recently to be trusted by its stat (tests move it). */
  clock?: () => number;
}

export function nodeModelFiles(dir: string, options: NodeModelFilesOptions = {}): ModelFiles {
  const location = path.resolve(dir);

  const resolveInside = (name: string): string => {
    const full = path.resolve(location, name);
    const relative = path.relative(location, full);
    // Shard names come from index.json inside downloaded folders; never let one point outside the folder.
    if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
      throw new InvalidArgumentError(`file name "${name}" is not inside model folder "${location}"`);
    }
    return full;
  };

  const checkFolder = async (): Promise<void> => {
    let info;
    try {
      info = await stat(location);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw new MissingFileError(`model folder "${location}" does not exist`, { cause: err });
      }
      throw err;
    }
    if (!info.isDirectory()) throw new MissingFileError(`model folder "${location}" is a file, not a folder`);
  };

  const missing = async (name: string, cause: unknown): Promise<never> => {
    await checkFolder();
    throw new MissingFileError(`missing file "${name}" in model folder "${location}"`, { cause });
  };

  const openInside = async (name: string): Promise<Awaited<ReturnType<typeof openFile>>> => {
    const full = resolveInside(name);
    try {
      return await openFile(full);
    } catch (err) {
      if (err instanceof MissingFileError) return missing(name, err);
      if (errnoCode(err) === 'ENOTDIR') return missing(name, err);
      throw err;
    }
  };

  const stamps = options.shardStamps === false ? null : shardStamps(options.shardStamps ?? path.join(defaultCacheDir(), SHARD_STAMP_FILE));
  const clock = options.clock ?? Date.now;

  /**
   * A shard's parts are read by range, as without the check, while a worker thread hashes the same file
   * (or its stamp says it is unchanged since it was hashed). Both rest on the file's identity: the
   * worker hashes only a file with the identity this handle saw, and close() fails the load if the
   * identity changed while the parts were read, so the bytes served are the bytes hashed.
   */
  const openChecked = async (name: string): Promise<CheckedShard> => {
    const { source, stats, restat } = await openInside(name);
    // Changed moments ago: a write within the timestamp granularity could go unseen, so hash what is read.
    if (isRacy(stats, clock())) return { source, sha256: null };
    const identity = fileIdentity(stats);
    const changed = (when: string) =>
      new ShardIntegrityError(`${source.name} changed ${when}; load the package again once nothing is writing to it`);
    const checked: ByteSource = {
      ...source,
      async close() {
        let now: BigIntStats;
        try {
          now = await restat();
        } finally {
          await source.close!();
        }
        if (fileIdentity(now) !== identity) throw changed('while its parts were being read');
      },
    };
    const known = await stamps?.lookup(source.name, identity);
    if (known) return { source: checked, sha256: Promise.resolve(known) };
    const sha256 = hashFileOnThread(source.name, identity).then(async (result) => {
      if ('changed' in result) throw changed('while it was being hashed');
      await stamps?.record(source.name, identity, result.sha256);
      return result.sha256;
    });
    return { source: checked, sha256 };
  };

  return {
    location,
    ...(options.trustShards ? { shardsVerified: true } : {}),
    async exists(name) {
      const full = resolveInside(name);
      try {
        return (await stat(full)).isFile();
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err;
        await checkFolder();
        return false;
      }
    },
    async readText(name) {
      const full = resolveInside(name);
      try {
        return await readFile(full, 'utf8');
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return missing(name, err);
        throw err;
      }
    },
    async open(name) {
      return (await openInside(name)).source;
    },
    openChecked,
  };
}
