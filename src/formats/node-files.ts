// Node-only ByteSource and ModelFiles over the local file system. Reads go through a FileHandle at
// explicit positions, so a 20 GB checkpoint costs only the bytes of the tensors actually read.

import { open, readFile, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { checkReadRange, MissingFileError, TruncatedFileError } from './byte-source';
import type { ByteSource, ModelFiles } from './byte-source';

// FileHandle.read takes at most 2^31-1 bytes per call; stay well under it.
const MAX_READ_CHUNK = 1 << 30;

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export async function fileByteSource(filePath: string): Promise<ByteSource> {
  const name = path.resolve(filePath);
  let handle: FileHandle;
  try {
    handle = await open(name, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MissingFileError(`file "${name}" does not exist`, { cause: err });
    throw err;
  }
  let size: number;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new MissingFileError(`"${name}" is not a regular file`);
    size = info.size;
  } catch (err) {
    await handle.close();
    throw err;
  }
  return {
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
}

/**
 * ModelFiles over a directory. The directory is checked lazily (only when a file is missing) so that
 * the happy path costs no extra system calls and the factory stays synchronous.
 */
export interface NodeModelFilesOptions {
  /** Skip the package shards' SHA-256 check while loading: only for a folder you trust (see ModelFiles.shardsVerified). */
  trustShards?: boolean;
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
      const full = resolveInside(name);
      try {
        return await fileByteSource(full);
      } catch (err) {
        if (err instanceof MissingFileError) return missing(name, err);
        if (errnoCode(err) === 'ENOTDIR') return missing(name, err);
        throw err;
      }
    },
  };
}
