// Hugging Face Hub references: what `engine.load('THUDM/glm-edge-1.5b-chat')` and the CLI's
// `--model org/repo` accept, turned into the URLs the Hub serves files from.
//
//   org/repo, org/repo@rev, hf:org/repo           -> the repo's folder at `main` (or rev)
//   https://huggingface.co/org/repo[/tree/rev]    -> the same
//   https://huggingface.co/org/repo/resolve/rev/  -> the same
//   https://<host>/<org>/<repo>/resolve/<rev>/x.gguf (or /blob/) -> one GGUF file
//   any other http(s) URL ending in .gguf          -> one GGUF file
//
// Files are read from `<endpoint>/<org>/<repo>/resolve/<rev>/<file>`; the Hub answers the large ones
// with a redirect to its file CDN, which fetch follows (both send CORS headers, and both honour Range).
// Browser-safe: no Node imports.
import { InvalidArgumentError } from '../errors';
import type { ModelFiles } from '../formats/byte-source';
import { ggufModelFiles } from '../formats/gguf';
import { httpModelFiles, NetworkError } from '../formats/http-files';
import { TruncatedFileError } from '../formats/byte-source';
import { defaultSleep } from './fetch';
import type { PackageQuant } from '../formats/package';
import { normalizeConfig } from '../model/config';
import { tensorSizes } from '../planner/sizes';
import { convertIntoCache, type ConversionProgress, type ConversionTarget, type ConvertIntoCacheResult } from './convert-cache';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

/** What a Hub (or Hub-like) reference points at. */
export interface HubSource {
  kind: 'folder' | 'gguf';
  /** Folder URL the files are read from, ending with "/" (for a GGUF: the folder holding it). */
  baseUrl: string;
  /** GGUF only: the file name inside baseUrl. */
  file?: string;
  /** "org/repo" when known (null for a plain .gguf URL elsewhere). */
  repo: string | null;
  revision: string;
  /** Shown in progress and errors. */
  label: string;
}

import { HUB_NAME as NAME, HUB_REPO_ID as REPO_ID, isHubRepoId } from './hub-id';

export { isHubRepoId };

function endpointHost(endpoint: string): string {
  return new URL(endpoint).host;
}

/** Splits a URL path of the Hub's layout: /org/repo[/(resolve|blob|tree)/rev[/file]]. */
function hubPath(pathname: string): { repo: string; revision: string | null; rest: string } | null {
  const m = new RegExp(`^/(${NAME})/(${NAME})(?:/(resolve|blob|tree)/([^/]+)(/.*)?)?/?$`).exec(pathname);
  if (!m) return null;
  return { repo: `${m[1]}/${m[2]}`, revision: m[4] ? decodeURIComponent(m[4]) : null, rest: (m[5] ?? '').replace(/^\//, '') };
}

/**
 * Parses a Hub reference; returns null when `source` is not one (a package URL, a plain folder URL, a
 * local path), so callers fall back to their other sources.
 */
export function parseHubSource(source: string, endpoint = DEFAULT_HF_ENDPOINT): HubSource | null {
  const base = endpoint.replace(/\/+$/, '');
  const folder = (repo: string, revision: string, origin = base): HubSource => ({
    kind: 'folder',
    baseUrl: `${origin}/${repo}/resolve/${encodeURIComponent(revision)}/`,
    repo,
    revision,
    label: revision === DEFAULT_REVISION ? repo : `${repo}@${revision}`,
  });
  const id = REPO_ID.exec(source);
  if (id && !source.endsWith('.gguf')) return folder(`${id[1]}/${id[2]}`, id[3] ?? DEFAULT_REVISION);
  if (!/^https?:\/\//i.test(source)) return null;
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return null;
  }
  const onHub = url.host === endpointHost(base) || url.host === endpointHost(DEFAULT_HF_ENDPOINT);
  const layout = hubPath(url.pathname);
  // "/org/repo/..." names a repo only on the Hub itself or with a /resolve|blob|tree/<rev>/ part.
  const parts = layout && (onHub || layout.revision !== null) ? layout : null;
  if (/\.gguf$/i.test(url.pathname)) {
    const slash = url.pathname.lastIndexOf('/');
    const file = decodeURIComponent(url.pathname.slice(slash + 1));
    // /blob/ is the Hub's HTML view of a file; its bytes are under /resolve/.
    const dir = url.pathname.slice(0, slash + 1).replace(/^(\/[^/]+\/[^/]+)\/blob\//, '$1/resolve/');
    return {
      kind: 'gguf',
      baseUrl: `${url.origin}${dir}`,
      file,
      repo: parts?.repo ?? null,
      revision: parts?.revision ?? DEFAULT_REVISION,
      label: parts ? `${parts.repo}/${file}` : url.href,
    };
  }
  // A Hub-layout folder on any host (a mirror, a test server) when it names a revision; on the Hub
  // itself the bare repo page (https://huggingface.co/org/repo) too.
  if (!parts) return null;
  if (parts.rest !== '') return null; // a sub-folder or a single non-GGUF file: not a model folder we know
  return folder(parts.repo, parts.revision ?? DEFAULT_REVISION, url.origin);
}

export interface HubRetryOptions {
  /** Extra attempts of a failed range read (default 4). */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt (default 500). */
  backoffMs?: number;
}

/**
 * Range reads retried with backoff: a conversion reads gigabytes in hundreds of requests, and one
 * dropped connection or 5xx should cost a retry, not the conversion (which would resume, but later).
 */
function retryingReads(files: ModelFiles, options: HubRetryOptions): ModelFiles {
  const retries = options.retries ?? 4;
  const backoffMs = options.backoffMs ?? 500;
  return {
    ...files,
    location: files.location,
    async open(name) {
      const source = await files.open(name);
      return {
        ...source,
        name: source.name,
        size: source.size,
        async read(offset, length) {
          for (let attempt = 0; ; attempt++) {
            try {
              return await source.read(offset, length);
            } catch (err) {
              const transient = err instanceof NetworkError || err instanceof TruncatedFileError;
              if (!transient || attempt >= retries) throw err;
              await defaultSleep(backoffMs * 2 ** attempt * (0.5 + Math.random() / 2));
            }
          }
        },
      };
    },
  };
}

/** The Hub source as model files: a folder read with range requests (retried), or one GGUF file. */
export function hubModelFiles(source: HubSource, retry: HubRetryOptions = {}): ModelFiles {
  const http = retryingReads(httpModelFiles(source.baseUrl), retry);
  if (source.kind === 'folder') return http;
  return ggufModelFiles(() => http.open(source.file!), `${source.baseUrl}${source.file}`);
}

/**
 * The cache id of a converted Hub model (IndexedDB key part, Node cache folder name): repo, revision,
 * file and quant, plus the host when it is not the Hub, so two mirrors never share an entry.
 */
export function hubCacheId(source: HubSource, quant: PackageQuant): string {
  const host = new URL(source.baseUrl).host;
  const parts = [
    ...(host === endpointHost(DEFAULT_HF_ENDPOINT) ? [] : [host]),
    ...(source.repo ? [source.repo.replace('/', '--'), source.revision] : [new URL(source.baseUrl).pathname]),
    ...(source.kind === 'gguf' ? [source.file!] : []),
    quant,
  ];
  const id = `hf--${parts.join('--')}`.replace(/[^A-Za-z0-9._-]+/g, '_');
  if (id.length > 200) throw new InvalidArgumentError(`the model reference is too long to name a cache entry: ${source.label}`);
  return id;
}

/** The quant a Hub model is stored in when none is asked for: INT4 (already quantized GGUF tensors stay as they are). */
export const DEFAULT_HUB_QUANT: PackageQuant = 'q4';

export interface HubLoadOptions extends HubRetryOptions {
  quant?: PackageQuant;
  shardSize?: number;
  onProgress?(p: ConversionProgress): void;
}

/**
 * A Hub model as a cached package: converted into `target` on first use (resuming an interrupted
 * conversion), read from it afterwards without touching the network.
 */
export async function convertHubModel(source: HubSource, target: ConversionTarget, options: HubLoadOptions = {}): Promise<ConvertIntoCacheResult> {
  const quant = options.quant ?? DEFAULT_HUB_QUANT;
  const files = hubModelFiles(source, options);
  const finished = await target.finished();
  if (finished) return { files: finished, converted: false, resumed: false, bytesRead: 0 };
  // The package size from the config, so a model that cannot fit fails before any weight is fetched.
  let expectedBytes: number | undefined;
  try {
    expectedBytes = tensorSizes(normalizeConfig(await files.readText('config.json')), quant).totalBytes;
  } catch {
    expectedBytes = undefined; // the conversion itself reports a missing or bad config, with its name
  }
  return convertIntoCache(files, target, {
    quant,
    ...(options.shardSize !== undefined ? { shardSize: options.shardSize } : {}),
    ...(expectedBytes !== undefined ? { expectedBytes } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}
