// Node twin of the IndexedDB conversion target: a Hub model (or GGUF URL) converted into a package
// folder of the Node cache (~/.cache/glm-webgpu/<id>/ or --cache-dir). Shards are written by the
// package sink (hashed while written); the checkpoint is a file beside them; manifest.json comes last,
// so a folder with a manifest is a finished package and one without is resumed.
import { mkdir, readdir, readFile, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelFiles } from '../formats/byte-source';
import { nodeModelFiles } from '../formats/node-files';
import { nodePackageSink } from '../formats/node-package-sink';
import { MANIFEST_FILE, type PackageSink, type ShardSink } from '../formats/package';
import { CHECKPOINT_FILE, type ConversionCheckpoint, type ConversionTarget } from './convert-cache';
import { defaultCacheDir } from './node-cache';

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

export async function nodeConversionTarget(id: string, cacheDir = defaultCacheDir()): Promise<ConversionTarget> {
  const dir = path.join(path.resolve(cacheDir), id);
  const checkpointPath = path.join(dir, CHECKPOINT_FILE);
  await mkdir(dir, { recursive: true });
  let sink: PackageSink | null = null;
  const open = new Set<ShardSink>();
  // The folder sink refuses a folder that already holds a package: create it only when converting.
  const lazySink: PackageSink = {
    location: dir,
    async createFile(name) {
      const file = await (sink ??= await nodePackageSink(dir)).createFile(name);
      open.add(file);
      return {
        write: (bytes) => file.write(bytes),
        close: () => (open.delete(file), file.close()),
      };
    },
    async writeManifest(text) {
      sink ??= await nodePackageSink(dir);
      await sink.writeManifest(text);
      await unlink(checkpointPath).catch(() => {});
    },
  };
  return {
    location: dir,
    sink: lazySink,
    async finished(): Promise<ModelFiles | null> {
      return (await exists(path.join(dir, MANIFEST_FILE))) ? nodeModelFiles(dir) : null;
    },
    async readCheckpoint() {
      try {
        return JSON.parse(await readFile(checkpointPath, 'utf8')) as ConversionCheckpoint;
      } catch {
        return null;
      }
    },
    async writeCheckpoint(checkpoint) {
      await writeFile(`${checkpointPath}.tmp`, JSON.stringify(checkpoint));
      await rename(`${checkpointPath}.tmp`, checkpointPath);
    },
    async hasShard(file) {
      const info = await stat(path.join(dir, file.file)).catch(() => null);
      return info !== null && info.size === file.bytes;
    },
    async clear(keep) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!keep.includes(name) && name !== MANIFEST_FILE) await unlink(path.join(dir, name)).catch(() => {});
      }
    },
    async release() {
      // The shard a failed conversion was writing: closed here, deleted by the next clear().
      for (const file of open) await file.close().catch(() => {});
      open.clear();
    },
    async availableBytes() {
      const fs = await statfs(path.resolve(cacheDir)).catch(() => null);
      return fs ? Number(fs.bavail) * Number(fs.bsize) : null;
    },
  };
}
