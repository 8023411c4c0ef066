// Model -> package converter, streaming: loadModelFolder reads one canonical tensor at a time and the
// `convert` callback quantizes it and appends it to the current shard, so the whole model is never in
// memory (peak: the largest tensor, as float32, plus its quantized form). Any folder loadModelFolder
// reads converts: a Hugging Face checkpoint, a GGUF file, another package. Browser-safe: the output goes
// through a PackageSink (node-package-sink.ts writes a folder).
import type { ModelFiles } from './byte-source';
import { loadModelFolder } from '../model/load';
import { InvalidArgumentError } from '../errors';
import { quantizeWeightAt, type QuantChoice } from '../model/quantize-weights';
import { EXTRA_FILES, MANIFEST_FILE, PackageWriter, TOKENIZER_FILES, type PackageFile, type PackageManifest, type PackageSink, type WriterCheckpoint } from './package';

export interface ConvertProgress {
  tensorsDone: number;
  tensorsTotal: number;
  path: string;
  bytesWritten: number;
  shards: number;
}

export interface ConvertOptions {
  quant: QuantChoice;
  /** Maximum shard size in bytes (default 64 MiB). */
  shardSize?: number;
  onProgress?(p: ConvertProgress): void;
  createdBy?: string;
  /** Continue an interrupted conversion: its tensors are not read from `files` again (src/loader/convert-cache.ts). */
  resumeFrom?: WriterCheckpoint;
  /** After each closed shard: what resumeFrom needs to continue from there. */
  onCheckpoint?(checkpoint: WriterCheckpoint): void | Promise<void>;
}

/** Copies the tokenizer and generation files the source has; returns their entries for the manifest. */
async function copyExtraFiles(files: ModelFiles, sink: PackageSink): Promise<PackageFile[]> {
  const copied: PackageFile[] = [];
  for (const name of EXTRA_FILES) {
    if (!(await files.exists(name))) continue;
    const source = await files.open(name);
    try {
      const out = await sink.createFile(name);
      // Tokenizer files are a few MB at most; read in 16 MiB pieces anyway.
      for (let o = 0; o < source.size; o += 1 << 24) await out.write(await source.read(o, Math.min(1 << 24, source.size - o)));
      const { bytes, sha256 } = await out.close();
      copied.push({ file: name, bytes, sha256 });
    } finally {
      await source.close?.();
    }
  }
  return copied;
}

export async function convertModel(files: ModelFiles, sink: PackageSink, options: ConvertOptions): Promise<PackageManifest> {
  const writer = new PackageWriter(sink, {
    shardSize: options.shardSize,
    ...(options.resumeFrom ? { resumeFrom: options.resumeFrom } : {}),
    ...(options.onCheckpoint ? { onShardClosed: options.onCheckpoint } : {}),
  });
  // The format the matrices really have: a source already quantized keeps its format. A glm-webgpu
  // package converted "to q8" must not be labelled q8 (issue #16), so re-quantizing a package into
  // another format is refused; a GGUF file's quantized tensors (a per-tensor mix by nature) keep their
  // own formats beside the requested one, as the Hub cache does.
  const fromPackage = await files.exists(MANIFEST_FILE);
  let stored: 'q4' | 'q8' | null = null;
  const model = await loadModelFolder<null>(files, {
    skip: (path) => writer.has(path),
    convert: async (w, path) => {
      const out = quantizeWeightAt(w, path, options.quant);
      if (out.dtype === 'q4' || out.dtype === 'q8') {
        if (fromPackage && options.quant !== 'none' && out.dtype !== options.quant) {
          throw new InvalidArgumentError(
            `${path} is already quantized as ${out.dtype} in ${files.location}: it cannot become ${options.quant} (re-quantizing does not bring back ` +
              `precision). Convert from the float checkpoint, or pass --quant ${out.dtype} (or none) to keep it as it is.`,
          );
        }
        stored ??= out.dtype;
      }
      await writer.addTensor(path, out);
      return null;
    },
    onProgress: (done, total, path) =>
      options.onProgress?.({ tensorsDone: done, tensorsTotal: total, path, bytesWritten: writer.bytesWritten, shards: writer.shardCount }),
  });
  const extra = await copyExtraFiles(files, sink);
  return writer.finish({
    config: model.rawConfig,
    normalized: model.config,
    quant: options.quant === 'none' && stored ? stored : options.quant,
    files: extra,
    tokenizer: extra.filter((f) => (TOKENIZER_FILES as readonly string[]).includes(f.file)).map((f) => f.file),
    source: { kind: model.format ?? 'safetensors', location: files.location },
    ...(options.createdBy ? { createdBy: options.createdBy } : {}),
  });
}
