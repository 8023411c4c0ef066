// What `--model` may name: a model folder (Hugging Face checkpoint or glm-webgpu package), a .gguf
// file, an http(s) URL of a package (downloaded into the cache folder first, resuming and checking
// every file; see src/loader/node-cache.ts), or a Hugging Face Hub repo id / Hub URL / .gguf URL
// (converted into the cache folder once, resumable; src/loader/hub.ts; HF_ENDPOINT picks a mirror).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ModelFiles } from '../formats/byte-source';
import { ggufModelFiles } from '../formats/gguf';
import { fileByteSource, nodeModelFiles } from '../formats/node-files';
import { formatBytes } from '../loader/errors';
import { downloadPackage } from '../loader/node-cache';
import { convertHubModel, DEFAULT_HF_ENDPOINT, hubCacheId, hubModelFiles, parseHubSource, DEFAULT_HUB_QUANT } from '../loader/hub';
import { nodeConversionTarget } from '../loader/node-convert-cache';
import type { PackageQuant } from '../formats/package';
import { SHARD_STAMP_FILE } from '../formats/shard-stamps';
import { catalogueModel } from '../runtime/catalogue';
import { ModelNeedsConversionError } from '../errors';

export interface ModelSourceOptions {
  cacheDir?: string;
  /** Progress lines for downloads (stderr by default; tests pass a no-op). */
  log?: (line: string) => void;
  /** Hub sources: the package quant they are converted to in the cache (default q4). */
  hubQuant?: PackageQuant;
  /** Hub sources: read the repo directly instead of converting it into the cache (`convert` does its own conversion). */
  hubDirect?: boolean;
  /** Hub base URL (default $HF_ENDPOINT or https://huggingface.co). */
  hfEndpoint?: string;
  /** Local package folders: skip the shard SHA-256 check (an explicit opt-out for folders you trust; --trust-shards). */
  trustShards?: boolean;
}

export function isPackageUrl(spec: string): boolean {
  return /^https?:\/\//i.test(spec);
}

export async function openModelSource(spec: string, options: ModelSourceOptions = {}): Promise<ModelFiles> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // A catalogue name stands for its Hub repo; a Hub reference, unless a local folder of that name
  // exists ("org/repo" could be a relative path).
  const listed = existsSync(spec) ? undefined : catalogueModel(spec);
  if (listed?.access === 'convert-first') throw new ModelNeedsConversionError(`${listed.title} (${listed.repo}): ${listed.notes}`);
  if (listed) spec = listed.repo;
  const hub = isPackageUrl(spec) || !existsSync(spec) ? parseHubSource(spec, options.hfEndpoint ?? (process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT)) : null;
  if (hub && options.hubDirect) return hubModelFiles(hub);
  if (hub) {
    const quant = options.hubQuant ?? DEFAULT_HUB_QUANT;
    const target = await nodeConversionTarget(hubCacheId(hub, quant), options.cacheDir);
    let lastPct = -1;
    const result = await convertHubModel(hub, target, {
      quant,
      onProgress: (p) => {
        const pct = p.tensorsTotal > 0 ? Math.floor((100 * p.tensorsDone) / p.tensorsTotal) : 0;
        if (pct < lastPct + 10 && p.tensorsDone !== p.tensorsTotal) return;
        lastPct = pct;
        const eta = p.etaSeconds !== null && p.etaSeconds > 0 ? `, ${Math.ceil(p.etaSeconds)} s left` : '';
        log(`${hub.label}: ${pct}% converted to ${quant} (${p.tensorsDone}/${p.tensorsTotal} tensors; ${formatBytes(p.bytesRead)} of ${formatBytes(p.bytesTotal)} downloaded, ${formatBytes(p.rate)}/s${eta}; ${p.shardsWritten} shards)${p.resumed ? ' [resumed]' : ''}`);
      },
    });
    log(result.converted ? `${hub.label}: converted into ${target.location} (${formatBytes(result.bytesRead)} downloaded${result.resumed ? ', resumed' : ''})` : `${hub.label}: from the cache ${target.location}`);
    return result.files;
  }
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
  // Stamps of shards hashed already go to the --cache-dir when one is given (else the default cache folder).
  const shardStamps = options.cacheDir ? path.join(options.cacheDir, SHARD_STAMP_FILE) : undefined;
  return nodeModelFiles(spec, { trustShards: options.trustShards === true, ...(shardStamps ? { shardStamps } : {}) });
}
