// The project's own model package: a folder holding `manifest.json` and weight shards
// `shard-00000.bin`, `shard-00001.bin`, ... of at most `shardSize` bytes (64 MiB by default), plus
// config.json and the tokenizer files copied from the source model.
//
// Every canonical tensor (weightRecipes' paths: 'embedding', 'layers.3.qkv.weight', ...) is stored as
// one to three parts, exactly the buffers the engine uploads:
//   f32: data (little-endian float32, row-major)
//   q4:  packed, scales[, mins]   (layouts in src/quant/types.ts)
//   q8:  packed, scales
// Each part starts at a 256-byte aligned offset of its shard (zero padding in between), so a shard
// can be handed to the GPU as is and a part's bytes are a ready typed array. A part that does not fit
// in the rest of the current shard starts a new shard; a part larger than a whole shard continues at
// offset 0 of the following shard(s), each of which it fills completely. Tensors are written in
// weightRecipes order, so reading them in that order walks the shards once, front to back.
//
// This module is browser-safe: writing goes through a PackageSink (node-package-sink.ts writes a
// folder), reading through ModelFiles (a folder, a URL, the IndexedDB cache).
import { GlmError, InvalidArgumentError, ShardIntegrityError } from '../errors';
import { sha256Hex } from '../loader/sha256';
import { normalizeConfig, type GlmConfig } from '../model/config';
import type { HostWeight, LoadWeightsOptions } from '../model/weights';
import type { ModelWeights } from '../model/weights-types';
import { groupsPerRowOf, halfPairWords, Q4_WORDS_PER_GROUP, Q8_WORDS_PER_GROUP } from '../quant/types';
import type { QuantizedTensor } from '../quant/types';
import { qxWords, type QxLayout, type QxTensor } from '../quant/qx';
import { assembleWeights, checkWeight } from './assemble';
import { memoryByteSource, TruncatedFileError } from './byte-source';
import { describeJson } from './describe';
import type { ByteSource, ModelFiles } from './byte-source';
import { TensorNotFoundError, similarNames } from './safetensors';
import { assembleVisionWeights, type VisionConfig, type VisionWeights } from '../model/vision';

export const PACKAGE_FORMAT = 'glm-webgpu-package';
export const PACKAGE_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Every part starts at a multiple of this many bytes (GPU upload friendly: >= any copy alignment WebGPU asks for). */
export const PART_ALIGNMENT = 256;
export const DEFAULT_SHARD_SIZE = 64 * 1024 * 1024;
/** Smallest shard size accepted (tests use tiny shards to exercise the spanning rules). */
export const MIN_SHARD_SIZE = 4096;
/** A knowledge base for the engine's retrieval step (src/knowledge): its descriptor and the demo's WordNet file. */
export const KNOWLEDGE_FILES = ['knowledge.json', 'knowledge-wordnet.bin'] as const;
/** Tokenizer and generation files copied next to the shards when the source has them. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json'] as const;
/**
 * Files copied next to the shards when the source has them. config.json (the same object as the
 * manifest's `config`) is among them so that code which checks for a model folder by its config.json
 * accepts a package too.
 */
export const EXTRA_FILES = ['config.json', ...TOKENIZER_FILES, 'generation_config.json', ...KNOWLEDGE_FILES] as const;

/** manifest.json has a format or version this build does not read. */
export class UnsupportedPackageVersionError extends GlmError {
  override name = 'UnsupportedPackageVersionError';
}

/** manifest.json is not a well-formed package manifest (bad JSON, missing fields, parts outside shards). */
export class PackageFormatError extends GlmError {
  override name = 'PackageFormatError';
}

export type PackageDType = 'f32' | 'q4' | 'q8' | 'qx';
export type PackageQuant = 'none' | 'q4' | 'q8';
export type PartName = 'data' | 'packed' | 'scales' | 'mins' | 'supers' | 'subs';

/** Where a part's bytes are: `byteLength` bytes from `offset` of shard number `shard`, continuing at offset 0 of the next shards. */
export interface PartRef {
  shard: number;
  offset: number;
  byteLength: number;
}

export interface PackageTensor {
  dtype: PackageDType;
  /** f32: the tensor's shape. q4/q8/qx: [rows, cols]. */
  shape: number[];
  parts: Partial<Record<PartName, PartRef>>;
  /** qx only (GGUF K-quants and Q5 blocks, src/quant/qx.ts): code width and scale layout. */
  qx?: QxLayout;
}

export interface PackageFile {
  file: string;
  bytes: number;
  /** Lowercase hex SHA-256 of the file's bytes. */
  sha256: string;
}

export interface PackageManifest {
  format: typeof PACKAGE_FORMAT;
  version: typeof PACKAGE_VERSION;
  /** The model's original config.json object (for a GGUF source: one synthesized from its metadata). */
  config: Record<string, unknown>;
  /** normalizeConfig(config) when the package was written; informative, readers normalize `config` again. */
  normalized: GlmConfig;
  quant: PackageQuant;
  /** Names of the tokenizer files copied alongside (a subset of `files`). */
  tokenizer: string[];
  /** Every non-shard file of the package besides manifest.json, with its size and hash. */
  files: PackageFile[];
  alignment: number;
  shardSize: number;
  /** Canonical path -> tensor, in write order. A tied lm head has no entry (it is the embedding). */
  tensors: Record<string, PackageTensor>;
  shards: PackageFile[];
  /** Sum of the shard sizes. */
  totalBytes: number;
  /** Informative: what it was converted from and by what. */
  source?: { kind: string; location: string };
  createdBy?: string;
}

// ---- validation ----

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Shard and extra file names: a plain file name, never a path (a manifest from a server must not reach outside its folder). */
const SAFE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkFileList(value: unknown, what: string, where: string): PackageFile[] {
  if (!Array.isArray(value)) throw new PackageFormatError(`${where}: "${what}" must be an array`);
  return value.map((f, i) => {
    if (!isObject(f) || typeof f.file !== 'string' || !SAFE_FILE_NAME.test(f.file) || !isCount(f.bytes) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw new PackageFormatError(`${where}: ${what}[${i}] must be {file: a plain file name, bytes: integer, sha256: 64 lowercase hex digits}, got ${describeJson(f, 120)}`);
    }
    return { file: f.file, bytes: f.bytes, sha256: f.sha256 };
  });
}

/**
 * Parses and checks a manifest (text or parsed JSON). Format and version are checked first, so that a
 * package from a newer build fails with UnsupportedPackageVersionError, not with a confusing schema error.
 */
export function parseManifest(input: string | unknown, where = MANIFEST_FILE): PackageManifest {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (err) {
      throw new PackageFormatError(`${where}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }
  if (!isObject(raw)) throw new PackageFormatError(`${where}: must be a JSON object`);
  if (raw.format !== PACKAGE_FORMAT || raw.version !== PACKAGE_VERSION) {
    const got = raw.format === PACKAGE_FORMAT ? `version ${describeJson(raw.version)}` : `format ${describeJson(raw.format ?? null)}, version ${describeJson(raw.version ?? null)}`;
    throw new UnsupportedPackageVersionError(
      `${where}: this is a package of ${got}, but this build of glm-webgpu reads only format "${PACKAGE_FORMAT}" version ${PACKAGE_VERSION}. ` +
        'Re-convert the model with this build (glm-webgpu convert --model SOURCE --out DIR) or update glm-webgpu.',
    );
  }
  if (!isObject(raw.config)) throw new PackageFormatError(`${where}: "config" must be the model's config.json object`);
  if (raw.quant !== 'none' && raw.quant !== 'q4' && raw.quant !== 'q8') throw new PackageFormatError(`${where}: "quant" must be none, q4 or q8, got ${describeJson(raw.quant)}`);
  if (!isCount(raw.shardSize) || raw.shardSize < 1) throw new PackageFormatError(`${where}: "shardSize" must be a positive integer`);
  if (raw.alignment !== PART_ALIGNMENT) throw new PackageFormatError(`${where}: "alignment" must be ${PART_ALIGNMENT} (the package format's part alignment), got ${describeJson(raw.alignment)}`);
  const shards = checkFileList(raw.shards, 'shards', where);
  const files = checkFileList(raw.files ?? [], 'files', where);
  if (!Array.isArray(raw.tokenizer) || !raw.tokenizer.every((t) => typeof t === 'string' && files.some((f) => f.file === t))) {
    throw new PackageFormatError(`${where}: "tokenizer" must list names that appear in "files"`);
  }
  const names = new Set<string>([MANIFEST_FILE]);
  for (const f of [...shards, ...files]) {
    if (names.has(f.file)) throw new PackageFormatError(`${where}: file "${f.file}" is listed twice`);
    names.add(f.file);
  }
  if (!isObject(raw.tensors)) throw new PackageFormatError(`${where}: "tensors" must be an object`);
  const tensors: Record<string, PackageTensor> = {};
  for (const [path, t] of Object.entries(raw.tensors)) {
    tensors[path] = checkTensor(path, t, shards, where);
  }
  checkPartsDisjoint(tensors, shards, where);
  const totalBytes = shards.reduce((s, f) => s + f.bytes, 0);
  return {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    config: raw.config,
    normalized: raw.normalized as GlmConfig,
    quant: raw.quant,
    tokenizer: raw.tokenizer as string[],
    files,
    alignment: raw.alignment,
    shardSize: raw.shardSize,
    tensors,
    shards,
    totalBytes,
    ...(isObject(raw.source) ? { source: raw.source as { kind: string; location: string } } : {}),
    ...(typeof raw.createdBy === 'string' ? { createdBy: raw.createdBy } : {}),
  };
}

const PARTS_OF: Record<PackageDType, { required: PartName[]; optional: PartName[] }> = {
  f32: { required: ['data'], optional: [] },
  q4: { required: ['packed', 'scales'], optional: ['mins'] },
  q8: { required: ['packed', 'scales'], optional: [] },
  qx: { required: ['packed', 'supers'], optional: ['subs'] },
};

/** Bytes each part must have for a tensor of this dtype and shape. */
export function expectedPartBytes(dtype: PackageDType, shape: readonly number[], part: PartName, qx?: QxLayout): number {
  if (dtype === 'f32') return 4 * shape.reduce((a, b) => a * b, 1);
  const groups = shape[0]! * groupsPerRowOf(shape[1]!);
  if (dtype === 'qx') {
    const w = qxWords(shape[0]!, shape[1]!, qx!);
    return 4 * (part === 'packed' ? w.packed : part === 'supers' ? w.supers : w.subs);
  }
  if (part === 'packed') return groups * (dtype === 'q4' ? Q4_WORDS_PER_GROUP : Q8_WORDS_PER_GROUP) * 4;
  return halfPairWords(groups) * 4;
}

function checkTensor(path: string, t: unknown, shards: PackageFile[], where: string): PackageTensor {
  const at = `${where}: tensor "${path}"`;
  if (!isObject(t) || (t.dtype !== 'f32' && t.dtype !== 'q4' && t.dtype !== 'q8' && t.dtype !== 'qx')) throw new PackageFormatError(`${at}: dtype must be f32, q4, q8 or qx`);
  const dtype = t.dtype;
  const qx = dtype === 'qx' ? checkQxLayout(t.qx, at) : undefined;
  if (!Array.isArray(t.shape) || !t.shape.every((d) => isCount(d) && d > 0) || (dtype !== 'f32' && t.shape.length !== 2)) {
    throw new PackageFormatError(`${at}: shape must be positive integers (two of them for q4/q8), got ${describeJson(t.shape)}`);
  }
  const shape = t.shape as number[];
  if (!isObject(t.parts)) throw new PackageFormatError(`${at}: "parts" must be an object`);
  const { required, optional } = PARTS_OF[dtype];
  const parts: Partial<Record<PartName, PartRef>> = {};
  for (const [name, ref] of Object.entries(t.parts)) {
    if (!required.includes(name as PartName) && !optional.includes(name as PartName)) throw new PackageFormatError(`${at}: unexpected part "${name}" for dtype ${dtype}`);
    if (!isObject(ref) || !isCount(ref.shard) || !isCount(ref.offset) || !isCount(ref.byteLength)) {
      throw new PackageFormatError(`${at}: part "${name}" must be {shard, offset, byteLength} of non-negative integers`);
    }
    const want = expectedPartBytes(dtype, shape, name as PartName, qx);
    if (ref.byteLength !== want) throw new PackageFormatError(`${at}: part "${name}" is ${ref.byteLength} bytes, shape [${shape}] of ${dtype} needs ${want}`);
    if (ref.offset % PART_ALIGNMENT !== 0) throw new PackageFormatError(`${at}: part "${name}" starts at offset ${ref.offset} of shard ${ref.shard}, not a multiple of ${PART_ALIGNMENT}; the manifest is corrupt`);
    if (ref.shard >= shards.length) throw new PackageFormatError(`${at}: part "${name}" is in shard ${ref.shard}, but there are ${shards.length} shards`);
    // The part must end inside the shards that follow it.
    let left = ref.byteLength;
    let shard = ref.shard;
    let offset = ref.offset;
    while (shard < shards.length) {
      const avail = shards[shard]!.bytes - offset;
      if (avail < 0) break;
      if (left <= avail) {
        left = 0;
        break;
      }
      left -= avail;
      shard++;
      offset = 0;
    }
    if (left > 0) throw new PackageFormatError(`${at}: part "${name}" runs past the end of the last shard`);
    parts[name as PartName] = { shard: ref.shard, offset: ref.offset, byteLength: ref.byteLength };
  }
  for (const name of required) if (!parts[name]) throw new PackageFormatError(`${at}: missing part "${name}"`);
  if (qx && qx.hasSubs !== (parts.subs !== undefined)) throw new PackageFormatError(`${at}: part "subs" must be present exactly when qx.hasSubs is true`);
  return { dtype, shape: [...shape], parts, ...(qx ? { qx } : {}) };
}

/** A qx tensor's layout record (issue #14), checked field by field. */
function checkQxLayout(v: unknown, at: string): QxLayout {
  if (
    !isObject(v) ||
    (v.bits !== 4 && v.bits !== 5 && v.bits !== 6) ||
    (v.subgroup !== 16 && v.subgroup !== 32) ||
    (v.superGroups !== 1 && v.superGroups !== 8) ||
    typeof v.hasMins !== 'boolean' ||
    typeof v.hasSubs !== 'boolean'
  ) {
    throw new PackageFormatError(`${at}: dtype qx needs "qx": {bits: 4|5|6, subgroup: 16|32, superGroups: 1|8, hasMins, hasSubs}, got ${JSON.stringify(v)?.slice(0, 120)}`);
  }
  return { bits: v.bits, subgroup: v.subgroup, superGroups: v.superGroups, hasMins: v.hasMins, hasSubs: v.hasSubs };
}

// Two parts sharing bytes would load one tensor's data as another's, silently; a writer never does that.
// Shards laid end to end are one byte space (a spanning part continues at offset 0 of the next shard).
function checkPartsDisjoint(tensors: Record<string, PackageTensor>, shards: PackageFile[], where: string): void {
  const shardStart: number[] = [];
  let total = 0;
  for (const f of shards) {
    shardStart.push(total);
    total += f.bytes;
  }
  const ranges: { label: string; begin: number; end: number }[] = [];
  for (const [path, t] of Object.entries(tensors)) {
    for (const [name, ref] of Object.entries(t.parts)) {
      if (ref.byteLength === 0) continue;
      const begin = shardStart[ref.shard]! + ref.offset;
      ranges.push({ label: `tensor "${path}" part "${name}" (shard ${ref.shard}, offset ${ref.offset})`, begin, end: begin + ref.byteLength });
    }
  }
  ranges.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.begin < ranges[i - 1]!.end) {
      throw new PackageFormatError(`${where}: ${ranges[i - 1]!.label} and ${ranges[i]!.label} overlap; the manifest is corrupt`);
    }
  }
}

// ---- writing ----

/** One output file being written. */
export interface ShardSink {
  write(bytes: Uint8Array): Promise<void>;
  /** Finishes the file and returns its size and lowercase hex SHA-256. */
  close(): Promise<{ bytes: number; sha256: string }>;
}

/** Where a package goes (a folder under Node; anything else that can take files). */
export interface PackageSink {
  readonly location: string;
  createFile(name: string): Promise<ShardSink>;
  /** Written last: a folder without manifest.json is never mistaken for a package. */
  writeManifest(text: string): Promise<void>;
}

export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.bin`;
}

function partsOf(w: HostWeight): [PartName, Uint8Array][] {
  const bytes = (a: Float32Array | Uint32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (w.dtype === 'f32') return [['data', bytes(w.data)]];
  if (w.dtype === 'qx') return [['packed', bytes(w.packed)], ['supers', bytes(w.supers)], ...(w.subs ? [['subs', bytes(w.subs)] as [PartName, Uint8Array]] : [])];
  const out: [PartName, Uint8Array][] = [
    ['packed', bytes(w.packed)],
    ['scales', bytes(w.scales)],
  ];
  if (w.dtype === 'q4' && w.mins) out.push(['mins', bytes(w.mins)]);
  return out;
}

export interface PackageWriterOptions {
  shardSize?: number;
  /**
   * Called after each shard is closed (its sink's close() returned), with what a later conversion
   * needs to continue from here (see WriterCheckpoint). Awaited before writing goes on.
   */
  onShardClosed?(checkpoint: WriterCheckpoint): void | Promise<void>;
  /** Continue after the closed shards of an interrupted conversion (the same source, quant and shard size). */
  resumeFrom?: WriterCheckpoint;
}

/**
 * A conversion's progress at a shard boundary: the closed shards and the tensors whose parts all lie in
 * them. A writer resumed from it opens the next shard and takes the tensors that follow. A tensor that
 * had begun in the last closed shard is written again in full (its first bytes stay unused in that shard).
 */
export interface WriterCheckpoint {
  shardSize: number;
  shards: PackageFile[];
  tensors: Record<string, PackageTensor>;
}

/**
 * Appends tensors to shards as they come (one tensor in memory at a time), then writes the manifest.
 * Used by the converter through loadModelFolder's `convert` callback.
 */
export class PackageWriter {
  readonly shardSize: number;
  private readonly tensors: Record<string, PackageTensor> = {};
  private readonly shards: PackageFile[] = [];
  private current: ShardSink | null = null;
  private offset = 0;
  private readonly zeros = new Uint8Array(PART_ALIGNMENT);
  /** Tensor path -> the last shard its bytes went to (for checkpoints). */
  private readonly lastShardOf = new Map<string, number>();

  constructor(
    private readonly sink: PackageSink,
    private readonly options: PackageWriterOptions = {},
  ) {
    const size = options.shardSize ?? DEFAULT_SHARD_SIZE;
    if (!Number.isSafeInteger(size) || size < MIN_SHARD_SIZE || size % PART_ALIGNMENT !== 0) {
      throw new InvalidArgumentError(`shard size must be an integer of at least ${MIN_SHARD_SIZE} bytes and a multiple of ${PART_ALIGNMENT}, got ${size}`);
    }
    this.shardSize = size;
    const resume = options.resumeFrom;
    if (resume) {
      if (resume.shardSize !== size) throw new InvalidArgumentError(`package writer: cannot resume a conversion of shard size ${resume.shardSize} with shard size ${size}`);
      this.shards.push(...resume.shards.map((f) => ({ ...f })));
      for (const [path, t] of Object.entries(resume.tensors)) {
        this.tensors[path] = structuredClone(t);
        this.lastShardOf.set(path, this.shards.length - 1);
      }
    }
  }

  /** The tensors already in the package (a resumed conversion skips reading them again). */
  has(path: string): boolean {
    return Object.hasOwn(this.tensors, path);
  }

  /** Closed shards and the tensors complete within them. */
  checkpoint(): WriterCheckpoint {
    const tensors: Record<string, PackageTensor> = {};
    for (const [path, t] of Object.entries(this.tensors)) if ((this.lastShardOf.get(path) ?? Infinity) < this.shards.length) tensors[path] = structuredClone(t);
    return { shardSize: this.shardSize, shards: this.shards.map((f) => ({ ...f })), tensors };
  }

  get shardCount(): number {
    return this.shards.length + (this.current ? 1 : 0);
  }

  get bytesWritten(): number {
    return this.shards.reduce((s, f) => s + f.bytes, 0) + (this.current ? this.offset : 0);
  }

  private async openShard(): Promise<void> {
    this.current = await this.sink.createFile(shardFileName(this.shards.length));
    this.offset = 0;
  }

  private async closeShard(): Promise<void> {
    if (!this.current) return;
    const { bytes, sha256 } = await this.current.close();
    if (bytes !== this.offset) throw new GlmError(`package writer: ${shardFileName(this.shards.length)} has ${bytes} bytes, expected ${this.offset}`);
    this.shards.push({ file: shardFileName(this.shards.length), bytes, sha256 });
    this.current = null;
    await this.options.onShardClosed?.(this.checkpoint());
  }

  private async writePart(data: Uint8Array): Promise<PartRef> {
    if (!this.current) await this.openShard();
    const aligned = Math.ceil(this.offset / PART_ALIGNMENT) * PART_ALIGNMENT;
    if (this.offset > 0 && aligned + data.byteLength > this.shardSize) {
      await this.closeShard();
      await this.openShard();
    } else if (aligned > this.offset) {
      await this.current!.write(this.zeros.subarray(0, aligned - this.offset));
      this.offset = aligned;
    }
    const ref: PartRef = { shard: this.shards.length, offset: this.offset, byteLength: data.byteLength };
    let done = 0;
    while (done < data.byteLength) {
      if (this.offset === this.shardSize) {
        await this.closeShard();
        await this.openShard();
      }
      const n = Math.min(data.byteLength - done, this.shardSize - this.offset);
      await this.current!.write(data.subarray(done, done + n));
      this.offset += n;
      done += n;
    }
    return ref;
  }

  async addTensor(path: string, weight: HostWeight): Promise<void> {
    if (Object.hasOwn(this.tensors, path)) throw new InvalidArgumentError(`package writer: tensor "${path}" added twice`);
    const entry: PackageTensor = {
      dtype: weight.dtype,
      shape: weight.dtype === 'f32' ? [...weight.shape] : [weight.rows, weight.cols],
      parts: {},
      ...(weight.dtype === 'qx'
        ? { qx: { bits: weight.bits, subgroup: weight.subgroup, superGroups: weight.superGroups, hasMins: weight.hasMins, hasSubs: weight.subs !== undefined } }
        : {}),
    };
    for (const [name, bytes] of partsOf(weight)) entry.parts[name] = await this.writePart(bytes);
    this.tensors[path] = entry;
    this.lastShardOf.set(path, this.shards.length);
  }

  /** Closes the last shard and writes manifest.json; returns the manifest. */
  async finish(meta: {
    config: Record<string, unknown>;
    normalized: GlmConfig;
    quant: PackageQuant;
    files: PackageFile[];
    tokenizer: string[];
    source?: { kind: string; location: string };
    createdBy?: string;
  }): Promise<PackageManifest> {
    await this.closeShard();
    const manifest: PackageManifest = {
      format: PACKAGE_FORMAT,
      version: PACKAGE_VERSION,
      ...(meta.createdBy ? { createdBy: meta.createdBy } : {}),
      ...(meta.source ? { source: meta.source } : {}),
      config: meta.config,
      normalized: meta.normalized,
      quant: meta.quant,
      tokenizer: meta.tokenizer,
      files: meta.files,
      alignment: PART_ALIGNMENT,
      shardSize: this.shardSize,
      totalBytes: this.shards.reduce((s, f) => s + f.bytes, 0),
      shards: this.shards,
      tensors: this.tensors,
    };
    // Parse our own output: a writer bug shows here, not when a user loads the package.
    parseManifest(JSON.parse(JSON.stringify(manifest)), `${this.sink.location}/${MANIFEST_FILE}`);
    await this.sink.writeManifest(`${JSON.stringify(manifest, null, 1)}\n`);
    return manifest;
  }
}

// ---- reading ----

export interface OpenedPackage {
  manifest: PackageManifest;
  config: GlmConfig;
  files: ModelFiles;
}

export async function openPackage(files: ModelFiles): Promise<OpenedPackage> {
  const manifest = parseManifest(await files.readText(MANIFEST_FILE), `${files.location}/${MANIFEST_FILE}`);
  return { manifest, config: normalizeConfig(manifest.config), files };
}

/**
 * Reads parts shard by shard. A shard's ByteSource is closed as soon as a later shard is needed, so a
 * ModelFiles that holds a whole shard in memory (the IndexedDB cache) holds one at a time.
 */
class PartReader {
  private open: { index: number; source: ByteSource } | null = null;
  /** Shard checks still running, awaited by finish(). */
  private pendingChecks: Promise<void>[] = [];
  /** The generic checks among them, each holding its shard's bytes: at most MAX_PENDING_HASHES. */
  private heldShards: Promise<void>[] = [];
  private failure: unknown = null;

  constructor(
    private readonly pkg: OpenedPackage,
    private readonly where: string,
  ) {}

  private async source(index: number): Promise<ByteSource> {
    if (this.open?.index === index) return this.open.source;
    // A shard that failed its check fails the load now, not after reading the rest.
    if (this.failure !== null) throw this.failure;
    await this.close();
    const shard = this.pkg.manifest.shards[index]!;
    const files = this.pkg.files;
    const label = `${this.where}/${shard.file}`;
    // A ModelFiles that checks shards its own way (a local folder: hashed on other threads, or stamped).
    const opened = !files.shardsVerified && files.openChecked ? await files.openChecked(shard.file) : null;
    let source = opened?.source ?? (await files.open(shard.file));
    if (source.size !== shard.bytes) {
      opened?.sha256?.catch(() => {});
      await source.close?.();
      throw new TruncatedFileError(
        `${this.where}/${shard.file}: the manifest says ${shard.bytes} bytes but the file has ${source.size}; ` +
          (source.size < shard.bytes ? 'it was cut short (download or copy it again)' : 'it is not the shard this manifest describes'),
      );
    }
    if (opened?.sha256) this.track(opened.sha256.then((hash) => checkShardHash(hash, shard, label)));
    else if (!files.shardsVerified) {
      const { bytes, check } = await readAndHashShard(source, shard, label);
      this.track(check);
      this.heldShards.push(check);
      if (this.heldShards.length > MAX_PENDING_HASHES) await this.heldShards.shift();
      source = memoryByteSource(bytes, label);
    }
    this.open = { index, source };
    return source;
  }

  private track(check: Promise<void>): void {
    // Never an unhandled rejection: a failed check is reported by finish() (or dropped with a load that failed anyway).
    check.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.pendingChecks.push(check);
  }

  /** Closes the open shard and waits for every shard's check: throws ShardIntegrityError if one does not match. */
  async finish(): Promise<void> {
    await this.close();
    const pending = this.pendingChecks;
    this.pendingChecks = [];
    this.heldShards = [];
    await Promise.all(pending);
  }

  async read(ref: PartRef): Promise<Uint8Array<ArrayBuffer>> {
    const shards = this.pkg.manifest.shards;
    const first = await this.source(ref.shard);
    if (ref.offset + ref.byteLength <= shards[ref.shard]!.bytes) return first.read(ref.offset, ref.byteLength);
    const out = new Uint8Array(ref.byteLength);
    let done = 0;
    let index = ref.shard;
    let offset = ref.offset;
    while (done < ref.byteLength) {
      const n = Math.min(ref.byteLength - done, shards[index]!.bytes - offset);
      out.set(await (await this.source(index)).read(offset, n), done);
      done += n;
      index++;
      offset = 0;
    }
    return out;
  }

  async close(): Promise<void> {
    const open = this.open;
    this.open = null;
    await open?.source.close?.();
  }
}

/**
 * Reads a whole shard (at most shardSize, 64 MiB by default) and serves its parts from memory while its
 * SHA-256 is computed (WebCrypto works off the JS thread) and compared with the manifest's: the load
 * fails with ShardIntegrityError before it returns if any shard differs, so every byte a model gets from
 * a package was checked, on every load path. Parts are read front to back: each shard is read and hashed once.
 */
async function readAndHashShard(source: ByteSource, shard: PackageFile, label: string): Promise<{ bytes: Uint8Array<ArrayBuffer>; check: Promise<void> }> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await source.read(0, source.size);
  } finally {
    await source.close?.();
  }
  // digest() takes its own copy of the bytes, so the parts can be handed out while it runs.
  return { bytes, check: sha256Hex(bytes).then((hash) => checkShardHash(hash, shard, label)) };
}

function checkShardHash(hash: string, shard: PackageFile, label: string): void {
  if (hash !== shard.sha256) {
    throw new ShardIntegrityError(
      `${label}: SHA-256 ${hash} does not match the manifest's ${shard.sha256}; the shard is corrupt or does not belong to this package ` +
        '(copy or download it again; for a folder you trust, loading without this check is an explicit option: trustShards / --trust-shards)',
    );
  }
}

/** Shards whose hash may still be running while later shards are read (each holds its shard's bytes). */
const MAX_PENDING_HASHES = 2;

function words(bytes: Uint8Array<ArrayBuffer>): Uint32Array {
  // Reads hand out fresh buffers (byteOffset 0), so this is a view, not a copy.
  return bytes.byteOffset % 4 === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Uint32Array(bytes.slice().buffer);
}

async function readTensor(reader: PartReader, t: PackageTensor): Promise<HostWeight> {
  const part = (name: PartName) => reader.read(t.parts[name]!);
  if (t.dtype === 'f32') {
    const bytes = await part('data');
    const data = bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : new Float32Array(bytes.slice().buffer);
    return { dtype: 'f32', shape: [...t.shape], data };
  }
  const [rows, cols] = t.shape as [number, number];
  const packed = words(await part('packed'));
  if (t.dtype === 'qx') {
    const l = t.qx!;
    const qx: QxTensor = { dtype: 'qx', rows, cols, groupsPerRow: groupsPerRowOf(cols), bits: l.bits, subgroup: l.subgroup, superGroups: l.superGroups, hasMins: l.hasMins, packed, supers: words(await part('supers')) };
    if (l.hasSubs) qx.subs = words(await part('subs'));
    return qx;
  }
  const scales = words(await part('scales'));
  const q: QuantizedTensor =
    t.dtype === 'q4'
      ? { dtype: 'q4', rows, cols, groupsPerRow: groupsPerRowOf(cols), packed, scales, ...(t.parts.mins ? { mins: words(await part('mins')) } : {}) }
      : { dtype: 'q8', rows, cols, groupsPerRow: groupsPerRowOf(cols), packed, scales };
  return q;
}

/** Every canonical weight of a package, one tensor at a time through `convert` (like loadWeights). */
/** GLM-4V: the vision tower's tensors of a package (stored under their canonical `vision.*` paths). */
export async function loadPackageVisionWeights<W = HostWeight>(
  v: VisionConfig,
  pkg: OpenedPackage,
  options: LoadWeightsOptions<W> = {},
): Promise<VisionWeights<W>> {
  const where = pkg.files.location;
  const reader = new PartReader(pkg, where);
  const convert = options.convert ?? ((w: HostWeight) => w as unknown as W);
  const vision = await assembleVisionWeights(v, async (path, shape) => {
    const t = pkg.manifest.tensors[path];
    if (!t) throw new TensorNotFoundError(`package "${where}" has no tensor "${path}" of the vision tower its config describes; convert the model again`);
    const w = await readTensor(reader, t);
    checkWeight(w, path, shape, `package "${where}"`);
    return convert(w, path);
  });
  await reader.finish();
  return vision;
}

export async function loadPackageWeights<W = HostWeight>(config: GlmConfig, pkg: OpenedPackage, options: LoadWeightsOptions<W> = {}): Promise<ModelWeights<W>> {
  const where = pkg.files.location;
  const reader = new PartReader(pkg, where);
  const tensors = pkg.manifest.tensors;
  let weights: ModelWeights<W>;
  try {
    weights = await assembleWeights(
      config,
      async (path, shape) => {
        const t = tensors[path];
        if (!t) {
          const similar = similarNames(path, Object.keys(tensors), 3);
          throw new TensorNotFoundError(`package "${where}" has no tensor "${path}" (similar: ${similar.map((s) => `"${s}"`).join(', ')}); it does not match its own config`);
        }
        const w = await readTensor(reader, t);
        checkWeight(w, path, shape, `package "${where}"`);
        return w;
      },
      options,
    );
  } catch (err) {
    // A shard that fails its hash explains whatever went wrong after it was read: report that instead.
    const integrity = await reader.finish().then(
      () => null,
      (e: unknown) => (e instanceof ShardIntegrityError ? e : null),
    );
    throw integrity ?? err;
  }
  await reader.finish();
  return weights;
}
