// Random access to the bytes of one file, and to the files of one model folder.
// Checkpoints are 4-20 GB, far past what one ArrayBuffer may hold in a browser, so readers ask for
// byte ranges instead of whole files. This module is browser-safe: the Node implementations live in
// node-files.ts so that bundling the web pages never pulls in node:fs.

import { GlmError, InvalidArgumentError } from '../errors';

/** A read asked for bytes past the end of a file (the file was cut short, or a header points past its end). */
export class TruncatedFileError extends GlmError {
  override name = 'TruncatedFileError';
}

/** A file (or the model folder itself) that a loader needs does not exist. */
export class MissingFileError extends GlmError {
  override name = 'MissingFileError';
}

export interface ByteSource {
  /** Shown in error messages: a path, a URL or a label. */
  readonly name: string;
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`, in a fresh buffer the caller owns. Typed as backed by a
   * plain ArrayBuffer because GPUQueue.writeBuffer and transferable postMessage refuse SharedArrayBuffer views.
   */
  read(offset: number, length: number): Promise<Uint8Array<ArrayBuffer>>;
  close?(): Promise<void>;
}

/** A model folder as a hub serves it: config.json, *.safetensors, tokenizer files. Names are relative to the folder. */
export interface ModelFiles {
  readonly location: string;
  /**
   * Package shards are checked against the manifest's SHA-256 as they are loaded (issue #18), unless
   * this is true: the files were checked already (the IndexedDB cache hashes each shard it reads, the
   * Node download cache each file it stores), or the caller trusts the folder and opted out explicitly
   * (nodeModelFiles(dir, { trustShards: true }), the CLI's --trust-shards).
   */
  readonly shardsVerified?: boolean;
  exists(name: string): Promise<boolean>;
  readText(name: string): Promise<string>;
  open(name: string): Promise<ByteSource>;
  /**
   * Opens a package shard that must be checked, for a ModelFiles that can check it better than reading
   * it whole and hashing those bytes (package.ts's generic way): see CheckedShard. Optional.
   */
  openChecked?(name: string): Promise<CheckedShard>;
}

/** A package shard opened by ModelFiles.openChecked. */
export interface CheckedShard {
  source: ByteSource;
  /**
   * The SHA-256 of the bytes `source` serves (hashed beside the reads, or known from a stamp of the
   * unchanged file); rejects with ShardIntegrityError if the file changed while it was read. Null: no
   * such check here (the file changed moments ago), so the caller hashes the bytes it reads itself.
   */
  sha256: Promise<string> | null;
}

/**
 * Shared argument and bounds check for every ByteSource, so all of them fail the same way:
 * InvalidArgumentError for nonsense ranges, TruncatedFileError for ranges past the end.
 */
export function checkReadRange(sourceName: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgumentError(
      `${sourceName}: read range must be non-negative integers, got offset ${offset}, length ${length}`,
    );
  }
  if (offset + length > size) {
    throw new TruncatedFileError(
      `${sourceName}: wanted bytes ${offset}..${offset + length} (${length} bytes) but the file is only ${size} bytes long`,
    );
  }
}

export function memoryByteSource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkReadRange(name, bytes.byteLength, offset, length);
      // A copy, not a view: callers own (and may transfer or mutate) what they get. Not bytes.slice():
      // on a Node Buffer that returns a view into Buffer's shared pool.
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, offset + length));
      return out;
    },
  };
}

/** A File from <input type=file> or drag and drop is a Blob; slicing it reads only that range from disk. */
export function blobByteSource(blob: Blob, name?: string): ByteSource {
  const label = name ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'blob');
  return {
    name: label,
    size: blob.size,
    async read(offset, length) {
      checkReadRange(label, blob.size, offset, length);
      const buffer = await blob.slice(offset, offset + length).arrayBuffer();
      if (buffer.byteLength !== length) {
        throw new TruncatedFileError(
          `${label}: wanted ${length} bytes at offset ${offset} but got ${buffer.byteLength} (the file changed on disk?)`,
        );
      }
      return new Uint8Array(buffer);
    },
  };
}

/** For tests and for browsers that already hold every file (a folder picked as File objects goes through Blobs instead). */
export function memoryModelFiles(record: Record<string, Uint8Array | string>, location = 'memory'): ModelFiles {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const lookup = (name: string): Uint8Array | string => {
    if (!Object.hasOwn(record, name)) {
      throw new MissingFileError(`missing file "${name}" in model folder "${location}"`);
    }
    return record[name]!;
  };
  return {
    location,
    async exists(name) {
      return Object.hasOwn(record, name);
    },
    async readText(name) {
      const content = lookup(name);
      return typeof content === 'string' ? content : decoder.decode(content);
    },
    async open(name) {
      const content = lookup(name);
      return memoryByteSource(typeof content === 'string' ? encoder.encode(content) : content, `${location}/${name}`);
    },
  };
}
