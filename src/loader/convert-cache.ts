// Convert a model straight into the package cache: a Hugging Face folder (safetensors, single or
// sharded) or a GGUF file, read with range requests, quantized tensor by tensor as the bytes arrive,
// and written into the cache one package shard at a time. The second load finds the finished package
// and reads nothing from the network; an interrupted conversion resumes after its last stored shard
// without reading the tensors in it again.
//
// The algorithm is target-neutral (convertIntoCache); a ConversionTarget says where shards and the
// checkpoint go: IndexedDB in the browser (indexedDbTarget, below), a folder under Node
// (src/loader/node-convert-cache.ts).
//
// Memory: one source tensor at a time (its bytes as read, its float32 form and its quantized form)
// plus the package shard being filled (at most shardSize, 64 MiB by default); never a whole
// safetensors/GGUF file. See the README ("Models from the Hugging Face Hub") for the peak per model.
import { InvalidArgumentError } from '../errors';
import type { ByteSource, ModelFiles } from '../formats/byte-source';
import { convertModel } from '../formats/convert';
import {
  DEFAULT_SHARD_SIZE,
  parseManifest,
  type PackageFile,
  type PackageManifest,
  type PackageQuant,
  type PackageSink,
  type PartRef,
  type ShardSink,
  type WriterCheckpoint,
} from '../formats/package';
import { cachedModelFiles, defaultLoaderEnv, entryKey, KEY_PREFIX, recordKey, type LoaderEnv, type ModelRecord } from './cache';
import { QuotaExceededError, formatBytes } from './errors';
import { MODEL_ID_PATTERN } from './fetch';
import { sha256Hex } from './sha256';

/** Where the conversion state lives next to the shards (an IndexedDB entry, a file in the cache folder). */
export const CHECKPOINT_FILE = 'conversion-checkpoint.json';

/** What a conversion stored so far, and of what: a checkpoint of another source or quant is not resumed. */
export interface ConversionCheckpoint extends WriterCheckpoint {
  kind: 'glm-webgpu-conversion';
  /** The source's location (URL) and the package quant. */
  source: string;
  quant: PackageQuant;
  /** Source bytes read up to this checkpoint (over all sessions), for progress after a resume. */
  bytesRead: number;
}

/** Where a converted package goes. */
export interface ConversionTarget {
  readonly location: string;
  /** The finished package when the target already holds one (nothing to fetch then). */
  finished(): Promise<ModelFiles | null>;
  /** The saved checkpoint, or null; it may list shards the target lost (convertIntoCache checks with hasShard). */
  readCheckpoint(): Promise<ConversionCheckpoint | null>;
  writeCheckpoint(checkpoint: ConversionCheckpoint): Promise<void>;
  /** True when shard `file` is stored with this size and hash. */
  hasShard(file: PackageFile): Promise<boolean>;
  /** Removes every stored file except `keep` (an interrupted shard, an older conversion). */
  clear(keep: readonly string[]): Promise<void>;
  /** Shards, tokenizer files, and the manifest last: writing the manifest marks the package finished. */
  sink: PackageSink;
  /** Free space, when the target can tell (checked before converting). */
  availableBytes?(): Promise<number | null>;
  /** Closes files left open by a conversion that failed midway (the shard being written). */
  release?(): Promise<void>;
}

export interface ConversionProgress {
  /** Source bytes read so far (over all sessions of this conversion) and the sources' total size. */
  bytesRead: number;
  bytesTotal: number;
  /** Read rate of this session, bytes per second (0 until something arrived). */
  rate: number;
  /** Seconds left at this rate; null when unknown. */
  etaSeconds: number | null;
  tensorsDone: number;
  tensorsTotal: number;
  /** Package shards stored so far, and package bytes written. */
  shardsWritten: number;
  bytesWritten: number;
  /** The tensor just converted. */
  path: string;
  /** True when this session started from a checkpoint. */
  resumed: boolean;
}

export interface ConvertIntoCacheOptions {
  quant: PackageQuant;
  /** Package shard size (default 64 MiB). */
  shardSize?: number;
  onProgress?(p: ConversionProgress): void;
  /** Estimated package size, checked against the target's free space first (the caller knows the config). */
  expectedBytes?: number;
  now?(): number;
}

export interface ConvertIntoCacheResult {
  files: ModelFiles;
  /** False when the finished package was already in the cache (nothing was read from the source). */
  converted: boolean;
  /** True when this conversion continued an interrupted one. */
  resumed: boolean;
  /** Source bytes read by this call. */
  bytesRead: number;
  manifest?: PackageManifest;
}

/** Counts the bytes read through every source `files` opens, and their sizes. */
function countingFiles(files: ModelFiles, onRead: (n: number) => void, onOpen: (name: string, size: number) => void): ModelFiles {
  return {
    location: files.location,
    exists: (name) => files.exists(name),
    readText: (name) => files.readText(name),
    async open(name): Promise<ByteSource> {
      const source = await files.open(name);
      onOpen(name, source.size);
      return {
        name: source.name,
        size: source.size,
        async read(offset, length) {
          const bytes = await source.read(offset, length);
          onRead(bytes.byteLength);
          return bytes;
        },
        ...(source.close ? { close: () => source.close!() } : {}),
      };
    },
  };
}

/**
 * Makes the package of `files` (converted to `options.quant`) available in `target` and returns it as a
 * model folder. Already finished: returned at once, the source untouched. Interrupted before: resumed
 * after the last stored shard. Errors of the source (network, format) propagate; what was stored stays.
 */
export async function convertIntoCache(files: ModelFiles, target: ConversionTarget, options: ConvertIntoCacheOptions): Promise<ConvertIntoCacheResult> {
  const done = await target.finished();
  if (done) return { files: done, converted: false, resumed: false, bytesRead: 0 };
  const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE;
  const source = files.location;

  let checkpoint = await target.readCheckpoint();
  if (checkpoint && (checkpoint.kind !== 'glm-webgpu-conversion' || checkpoint.source !== source || checkpoint.quant !== options.quant || checkpoint.shardSize !== shardSize)) checkpoint = null;
  if (checkpoint) {
    // Keep the shards up to the first one the target lost; tensors after it are converted again.
    let kept = 0;
    while (kept < checkpoint.shards.length && (await target.hasShard(checkpoint.shards[kept]!))) kept++;
    if (kept < checkpoint.shards.length) {
      const shards = checkpoint.shards.slice(0, kept);
      const keptWhole = (p: PartRef) => p.shard < kept && lastShardOfPart(p, checkpoint!.shards) < kept;
      const tensors = Object.fromEntries(Object.entries(checkpoint.tensors).filter(([, t]) => Object.values(t.parts).every((p) => keptWhole(p!))));
      checkpoint = kept === 0 ? null : { ...checkpoint, shards, tensors };
    }
  }
  await target.clear(checkpoint ? [...checkpoint.shards.map((s) => s.file), CHECKPOINT_FILE] : []);

  if (options.expectedBytes !== undefined && target.availableBytes) {
    const needed = options.expectedBytes - (checkpoint?.shards.reduce((s, f) => s + f.bytes, 0) ?? 0);
    const available = await target.availableBytes();
    if (available !== null && needed > available) {
      throw new QuotaExceededError(
        `converting ${source} needs about ${formatBytes(needed)} (${needed} bytes) more storage in ${target.location} but only ${formatBytes(available)} (${available} bytes) are available; ` +
          'free space (delete cached models) and try again.',
      );
    }
  }

  const now = options.now ?? (() => (typeof performance !== 'undefined' ? performance.now() : Date.now()));
  const startBytes = checkpoint?.bytesRead ?? 0;
  const sizes = new Map<string, number>();
  let read = 0;
  const t0 = now();
  let lastEvent = { tensorsDone: 0, tensorsTotal: 0, path: '', shardsWritten: checkpoint?.shards.length ?? 0, bytesWritten: 0 };
  const emit = () => {
    const seconds = (now() - t0) / 1000;
    const rate = seconds > 0 ? read / seconds : 0;
    const bytesTotal = [...sizes.values()].reduce((a, b) => a + b, 0);
    const bytesRead = startBytes + read;
    options.onProgress?.({
      bytesRead,
      bytesTotal,
      rate,
      etaSeconds: rate > 0 ? Math.max(0, bytesTotal - bytesRead) / rate : null,
      ...lastEvent,
      resumed: checkpoint !== null,
    });
  };
  const counted = countingFiles(
    files,
    (n) => (read += n),
    (name, size) => sizes.set(name, size),
  );
  let manifest: PackageManifest;
  try {
    manifest = await convertModel(counted, target.sink, {
      quant: options.quant,
      shardSize,
      ...(checkpoint ? { resumeFrom: checkpoint } : {}),
      createdBy: 'glm-webgpu (converted into the cache)',
      onCheckpoint: (c) => target.writeCheckpoint({ ...c, kind: 'glm-webgpu-conversion', source, quant: options.quant, bytesRead: startBytes + read }),
      onProgress: (p) => {
        lastEvent = { tensorsDone: p.tensorsDone, tensorsTotal: p.tensorsTotal, path: p.path, shardsWritten: p.shards, bytesWritten: p.bytesWritten };
        emit();
      },
    });
  } finally {
    await target.release?.();
  }
  const finished = await target.finished();
  if (!finished) throw new InvalidArgumentError(`conversion into ${target.location} finished but the target does not list the package`);
  return { files: finished, converted: true, resumed: checkpoint !== null, bytesRead: read, manifest };
}

/** The shard a part ends in (parts may run over several shards). */
function lastShardOfPart(ref: { shard: number; offset: number; byteLength: number }, shards: readonly PackageFile[]): number {
  let left = ref.byteLength;
  let shard = ref.shard;
  let offset = ref.offset;
  while (shard < shards.length && left > shards[shard]!.bytes - offset) {
    left -= shards[shard]!.bytes - offset;
    shard++;
    offset = 0;
  }
  return shard;
}

// ---- the browser target: IndexedDB, the same entries as the package cache (src/loader/cache.ts) ----

/**
 * The IndexedDB package cache as a conversion target: shards are entries `glm-webgpu:<id>:shard-…`,
 * the checkpoint an entry beside them, and the finished package a complete ModelRecord, so
 * listCachedModels, deleteCachedModel and cachedModelFiles treat it like any downloaded package.
 */
export function indexedDbTarget(id: string, sourceUrl: string, envOverrides: Partial<LoaderEnv> = {}): ConversionTarget {
  if (!MODEL_ID_PATTERN.test(id)) throw new InvalidArgumentError(`model id "${id}" must be letters, digits, ".", "_" or "-"`);
  const env = defaultLoaderEnv(envOverrides);
  const { store } = env;
  const prefix = `${KEY_PREFIX}:${id}:`;
  const location = `indexeddb:${KEY_PREFIX}:${id}`;
  const stored = new Map<string, { bytes: number; sha256: string }>();

  const put = async (name: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> => {
    try {
      await store.set(entryKey(id, name), bytes.buffer);
    } catch (err) {
      if (!(err instanceof Error && (err.name === 'QuotaExceededError' || /quota/i.test(err.message)))) throw err;
      throw new QuotaExceededError(`storing ${name} of model "${id}" (${bytes.byteLength} bytes) ran out of storage; free space (delete cached models) and load again: the conversion resumes after the last stored shard`, { cause: err });
    }
  };

  const sink: PackageSink = {
    location,
    async createFile(name): Promise<ShardSink> {
      // A shard is collected in memory (at most the shard size) and stored as one entry when closed.
      const chunks: Uint8Array[] = [];
      let size = 0;
      return {
        async write(bytes) {
          chunks.push(bytes.slice());
          size += bytes.byteLength;
        },
        async close() {
          const all = new Uint8Array(size);
          let at = 0;
          for (const c of chunks) {
            all.set(c, at);
            at += c.byteLength;
          }
          chunks.length = 0;
          const sha256 = await sha256Hex(all);
          await put(name, all);
          stored.set(name, { bytes: size, sha256 });
          return { bytes: size, sha256 };
        },
      };
    },
    async writeManifest(text) {
      const manifest = parseManifest(text, `${location}/manifest.json`);
      const record: ModelRecord = {
        kind: 'glm-webgpu-model',
        id,
        url: sourceUrl,
        manifest,
        stored: Object.fromEntries([...manifest.shards, ...manifest.files].map((f) => [f.file, { bytes: f.bytes, sha256: f.sha256 }])),
        complete: true,
        bytes: [...manifest.shards, ...manifest.files].reduce((s, f) => s + f.bytes, 0),
        updatedAt: Date.now(),
      };
      await store.set(recordKey(id), record);
      await store.del(entryKey(id, CHECKPOINT_FILE));
    },
  };

  return {
    location,
    sink,
    async finished() {
      const record = await store.get<ModelRecord>(recordKey(id));
      if (!record?.complete) return null;
      return cachedModelFiles(id, { env: envOverrides, url: record.url, manifest: parseManifest(record.manifest, `cached manifest.json of "${id}"`) });
    },
    async readCheckpoint() {
      const value = await store.get<ConversionCheckpoint>(entryKey(id, CHECKPOINT_FILE));
      return value && typeof value === 'object' && Array.isArray(value.shards) ? value : null;
    },
    async writeCheckpoint(checkpoint) {
      await store.set(entryKey(id, CHECKPOINT_FILE), checkpoint);
    },
    async hasShard(file) {
      // Present is enough here: every shard's hash is checked again when the package is read
      // (cachedModelFiles), without loading tens of 64 MiB entries just to resume.
      const mine = stored.get(file.file);
      if (mine) return mine.sha256 === file.sha256;
      return (await store.keys()).includes(entryKey(id, file.file));
    },
    async clear(keep) {
      const record = await store.get<ModelRecord>(recordKey(id));
      if (record && !record.complete) await store.del(recordKey(id));
      for (const key of await store.keys()) {
        if (key.startsWith(prefix) && !keep.includes(key.slice(prefix.length))) await store.del(key);
      }
    },
    async availableBytes() {
      const est = await env.storage?.estimate?.().catch(() => undefined);
      return est?.quota !== undefined ? Math.max(0, est.quota - (est.usage ?? 0)) : null;
    },
  };
}
