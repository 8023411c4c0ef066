// Node twin of the browser cache: the CLI downloads an http(s) package URL into a folder
// (default ~/.cache/glm-webgpu/<id>/, or --cache-dir) with the same checks as the browser: every file
// hashed before it is kept, retries with backoff, resume with only the missing files. The folder gets
// its manifest.json only once every file is there, so a partial folder is never loaded as a package.
//
// `.glm-webgpu-cache.json` remembers which files were verified (size, mtime, sha256), so a later run
// re-hashes only files that changed on disk.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DownloadTimeoutError, InvalidArgumentError } from '../errors';
import { MANIFEST_FILE, parseManifest, type PackageFile, type PackageManifest } from '../formats/package';
import { DownloadError, QuotaExceededError, formatBytes } from './errors';
import { defaultFetchEnv, downloadFiles, fetchFile, MODEL_ID_PATTERN, modelIdFromUrl, packageBaseUrl, type FetchEnv, type RetryOptions } from './fetch';
import type { DownloadProgress } from './cache';
import type { RequestTimeouts } from './timeouts';

export const STATE_FILE = '.glm-webgpu-cache.json';

export function defaultCacheDir(): string {
  return process.env.GLM_WEBGPU_CACHE_DIR || path.join(os.homedir(), '.cache', 'glm-webgpu');
}

export interface NodeDownloadOptions extends RetryOptions, RequestTimeouts {
  cacheDir?: string;
  id?: string;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?(p: DownloadProgress): void;
  env?: Partial<FetchEnv>;
}

export interface NodeDownloadResult {
  dir: string;
  id: string;
  manifest: PackageManifest;
  fetched: string[];
  fromCache: string[];
  offline: boolean;
}

interface CacheState {
  url: string;
  verified: Record<string, { bytes: number; sha256: string; mtimeMs: number }>;
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function statOrNull(file: string) {
  try {
    return await stat(file);
  } catch {
    return null;
  }
}

async function readState(dir: string): Promise<CacheState | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')) as CacheState;
  } catch {
    return null;
  }
}

/** Downloads (or resumes) a package into the cache folder and returns the folder. */
export async function downloadPackage(url: string, options: NodeDownloadOptions = {}): Promise<NodeDownloadResult> {
  const env: FetchEnv = { ...defaultFetchEnv(), ...options.env };
  const base = packageBaseUrl(url);
  const id = options.id ?? modelIdFromUrl(base);
  if (!MODEL_ID_PATTERN.test(id)) throw new InvalidArgumentError(`model id "${id}" must be letters, digits, ".", "_" or "-"`);
  const dir = path.join(path.resolve(options.cacheDir ?? defaultCacheDir()), id);
  await mkdir(dir, { recursive: true });

  let manifestText: string;
  let offline = false;
  try {
    manifestText = new TextDecoder().decode(await fetchFile(`${base}${MANIFEST_FILE}`, null, env, options));
  } catch (err) {
    // Offline with a complete copy: use it.
    if (!(err instanceof DownloadError || err instanceof DownloadTimeoutError)) throw err;
    try {
      manifestText = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
    } catch {
      throw err;
    }
    offline = true;
  }
  const manifest = parseManifest(manifestText, `${base}${MANIFEST_FILE}`);
  const files: PackageFile[] = [...manifest.shards, ...manifest.files];

  const state: CacheState = { url: base, verified: {} };
  const old = await readState(dir);
  const present: string[] = [];
  for (const f of files) {
    const full = path.join(dir, f.file);
    const info = await statOrNull(full);
    if (!info || info.size !== f.bytes) continue;
    const seen = old?.verified[f.file];
    const ok = seen && seen.sha256 === f.sha256 && seen.bytes === f.bytes && seen.mtimeMs === info.mtimeMs ? true : (await fileSha256(full)) === f.sha256;
    if (ok) {
      state.verified[f.file] = { bytes: f.bytes, sha256: f.sha256, mtimeMs: info.mtimeMs };
      present.push(f.file);
    }
  }
  const missing = files.filter((f) => !state.verified[f.file]);
  const needed = missing.reduce((s, f) => s + f.bytes, 0);

  let stateChain: Promise<void> = Promise.resolve();
  const saveState = () => {
    const text = JSON.stringify(state);
    stateChain = stateChain.then(() => writeFile(path.join(dir, STATE_FILE), text));
    return stateChain;
  };

  if (missing.length > 0) {
    // The folder is not a complete package until the end: no manifest.json meanwhile.
    await unlink(path.join(dir, MANIFEST_FILE)).catch(() => {});
    const fs = await statfs(dir).catch(() => null);
    if (fs) {
      const available = Number(fs.bavail) * Number(fs.bsize);
      if (needed > available) {
        throw new QuotaExceededError(`model "${id}" needs ${formatBytes(needed)} (${needed} bytes) in ${dir} but only ${formatBytes(available)} (${available} bytes) are free; free disk space or pass --cache-dir on a bigger disk`);
      }
    }
  }
  await saveState();

  const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
  let bytesDone = totalBytes - needed;
  let received = 0;
  const shardNames = new Set(manifest.shards.map((s) => s.file));
  let shardsDone = manifest.shards.filter((s) => state.verified[s.file]).length;
  const t0 = performance.now();
  let lastEmit = -Infinity;
  const emit = (file?: string) => {
    const now = performance.now();
    if (file === undefined && now - lastEmit < 200) return;
    lastEmit = now;
    const rate = now > t0 ? received / ((now - t0) / 1000) : 0;
    options.onProgress?.({
      bytesDone, bytesTotal: totalBytes, rate, etaSeconds: rate > 0 ? (totalBytes - bytesDone) / rate : null,
      shardsDone, shardsTotal: manifest.shards.length, ...(file !== undefined ? { file } : {}),
    });
  };

  const fetched: string[] = [];
  await downloadFiles(
    base,
    missing,
    env,
    {
      ...options,
      concurrency: options.concurrency ?? 4,
      onBytes: (n) => {
        received += n;
        bytesDone += n;
        emit();
      },
    },
    async (f, bytes) => {
      const full = path.join(dir, f.file);
      await writeFile(`${full}.partial`, bytes);
      await rename(`${full}.partial`, full);
      const info = await stat(full);
      state.verified[f.file] = { bytes: f.bytes, sha256: f.sha256, mtimeMs: info.mtimeMs };
      await saveState();
      fetched.push(f.file);
      if (shardNames.has(f.file)) shardsDone++;
      emit(f.file);
    },
  );
  await stateChain;
  await writeFile(path.join(dir, `${MANIFEST_FILE}.tmp`), manifestText);
  await rename(path.join(dir, `${MANIFEST_FILE}.tmp`), path.join(dir, MANIFEST_FILE));
  return { dir, id, manifest, fetched, fromCache: present, offline };
}
