// What `--model` may name: a model folder (Hugging Face checkpoint or glm-webgpu package), a .gguf
// file, or an http(s) URL of a package (downloaded into the cache folder first, resuming and checking
// every file; see src/loader/node-cache.ts).
import path from 'node:path';
import type { ModelFiles } from '../formats/byte-source';
import { ggufModelFiles } from '../formats/gguf';
import { fileByteSource, nodeModelFiles } from '../formats/node-files';
import { formatBytes } from '../loader/errors';
import { downloadPackage } from '../loader/node-cache';

export interface ModelSourceOptions {
  cacheDir?: string;
  /** Progress lines for downloads (stderr by default; tests pass a no-op). */
  log?: (line: string) => void;
  /** Local package folders: skip the shard SHA-256 check (an explicit opt-out for folders you trust; --trust-shards). */
  trustShards?: boolean;
}

export function isPackageUrl(spec: string): boolean {
  return /^https?:\/\//i.test(spec);
}

export async function openModelSource(spec: string, options: ModelSourceOptions = {}): Promise<ModelFiles> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (isPackageUrl(spec)) {
    let lastPct = -1;
    const result = await downloadPackage(spec, {
      cacheDir: options.cacheDir,
      onProgress: (p) => {
        const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 100;
        if (p.file === undefined && pct < lastPct + 10) return;
        lastPct = pct;
        const eta = p.etaSeconds !== null && p.etaSeconds > 0 ? `, ${Math.ceil(p.etaSeconds)} s left` : '';
        log(`download: ${pct}% (${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${p.shardsDone}/${p.shardsTotal} shards, ${formatBytes(p.rate)}/s${eta})`);
      },
    });
    log(`download: ${result.fetched.length} files fetched, ${result.fromCache.length} from the cache${result.offline ? ' (offline: cached manifest)' : ''} -> ${result.dir}`);
    return nodeModelFiles(result.dir);
  }
  if (/\.gguf$/i.test(spec)) {
    const file = path.resolve(spec);
    return ggufModelFiles(() => fileByteSource(file), file);
  }
  return nodeModelFiles(spec, { trustShards: options.trustShards === true });
}
