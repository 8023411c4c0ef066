// Node-only: the stamps of package shards that were hashed already (issue #18), so that loading an
// unchanged local package again skips the SHA-256 pass, the way git's index skips re-reading unchanged
// files. A stamp is the file's identity as fstat sees it (device, inode, size, mtime and ctime in
// nanoseconds) with the SHA-256 its bytes had; a later load that finds the very same identity knows the
// bytes are unchanged since they were hashed. Any write, truncation, copy over it, rename onto it or
// utimes() changes the ctime at least, so the stamp no longer matches and the file is hashed again.
//
// The stamps live in one small JSON file in the user's cache folder (never inside the package folder,
// which may be read-only or shared). It is an optimisation only: a missing, unreadable or corrupt stamp
// file is ignored (every shard is hashed), and failing to write it only costs the next load its hashing.

import type { BigIntStats } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

const STAMP_FORMAT = 'glm-webgpu-shard-stamps';
const STAMP_VERSION = 1;
export const SHARD_STAMP_FILE = 'shard-stamps.json';
/** Oldest stamps are dropped past this many files (about 100 bytes each). */
const MAX_STAMPS = 4096;
/**
 * A file whose mtime or ctime is this close to "now" is "racy" (git's word): a second write within the
 * file system's timestamp granularity (up to 2 s on FAT, 1 s on HFS+ and some network file systems)
 * could leave every stat field as it was. Such a file is neither stamped nor trusted by identity.
 */
export const RACY_WINDOW_MS = 3000;

/** dev:ino:size:mtimeNs:ctimeNs of an fstat({ bigint: true }). */
export function fileIdentity(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** True when the file changed too recently for its identity to prove that it has not changed since. */
export function isRacy(s: BigIntStats, nowMs: number): boolean {
  const limit = BigInt(Math.floor(nowMs - RACY_WINDOW_MS)) * 1_000_000n;
  return s.mtimeNs >= limit || s.ctimeNs >= limit;
}

interface Stamp {
  identity: string;
  sha256: string;
}

function parseStamps(text: string): Map<string, Stamp> {
  const stamps = new Map<string, Stamp>();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return stamps;
  }
  if (typeof json !== 'object' || json === null) return stamps;
  const { format, version, files } = json as { format?: unknown; version?: unknown; files?: unknown };
  if (format !== STAMP_FORMAT || version !== STAMP_VERSION || typeof files !== 'object' || files === null || Array.isArray(files)) return stamps;
  for (const [file, value] of Object.entries(files as Record<string, unknown>)) {
    const s = value as { identity?: unknown; sha256?: unknown } | null;
    if (typeof s !== 'object' || s === null || typeof s.identity !== 'string' || typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) continue;
    stamps.set(file, { identity: s.identity, sha256: s.sha256 });
  }
  return stamps;
}

/** One stamp file, shared by every load in this process that names it. */
export class ShardStamps {
  private stamps: Promise<Map<string, Stamp>> | null = null;
  /** The save that is waiting to start (later stamps join it), and the one running. */
  private queued: Promise<void> | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  private load(): Promise<Map<string, Stamp>> {
    return (this.stamps ??= readFile(this.file, 'utf8').then(parseStamps, () => new Map<string, Stamp>()));
  }

  /** The SHA-256 recorded for this file if it still has the identity it had when it was hashed. */
  async lookup(file: string, identity: string): Promise<string | undefined> {
    const stamp = (await this.load()).get(file);
    return stamp?.identity === identity ? stamp.sha256 : undefined;
  }

  /** Records a file's hash (call only for a non-racy identity that held from before the hash to after it) and saves. */
  async record(file: string, identity: string, sha256: string): Promise<void> {
    const stamps = await this.load();
    stamps.delete(file);
    stamps.set(file, { identity, sha256 });
    return this.save();
  }

  /** Writes the stamps atomically (temporary file + rename); stamps recorded while a save runs share the next one. */
  private save(): Promise<void> {
    if (this.queued) return this.queued;
    const queued = this.running.then(async () => {
      this.queued = null;
      const stamps = await this.load();
      // Another process may have stamped other files since we read the file: keep theirs too.
      const onDisk = await readFile(this.file, 'utf8').then(parseStamps, () => new Map<string, Stamp>());
      for (const [file, stamp] of onDisk) if (!stamps.has(file)) stamps.set(file, stamp);
      while (stamps.size > MAX_STAMPS) stamps.delete(stamps.keys().next().value!);
      const text = `${JSON.stringify({ format: STAMP_FORMAT, version: STAMP_VERSION, files: Object.fromEntries(stamps) })}\n`;
      const temp = `${this.file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      try {
        await mkdir(path.dirname(this.file), { recursive: true });
        await writeFile(temp, text);
        await rename(temp, this.file);
      } catch {
        // Read-only or full cache folder: the next load hashes again, nothing worse.
        await unlink(temp).catch(() => {});
      }
    });
    this.queued = queued;
    this.running = queued;
    return queued;
  }
}

const byFile = new Map<string, ShardStamps>();

/** The process-wide ShardStamps of a stamp file. */
export function shardStamps(file: string): ShardStamps {
  const full = path.resolve(file);
  let stamps = byFile.get(full);
  if (!stamps) byFile.set(full, (stamps = new ShardStamps(full)));
  return stamps;
}
