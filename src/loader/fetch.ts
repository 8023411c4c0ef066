// Fetching package files over real networks: retries with exponential backoff on network errors,
// 5xx, 408 and 429; the body streamed into a buffer of the size the manifest announces (progress per
// chunk, short bodies detected); a stall timeout and a deadline per request (timeouts.ts); the SHA-256
// checked before the bytes are handed on. Shared by the
// browser loader (IndexedDB) and the Node cache (a folder).
import { MissingFileError, TruncatedFileError } from '../formats/byte-source';
import type { PackageFile } from '../formats/package';
import { DownloadError, ShardHashMismatchError } from './errors';
import { sha256Hex } from './sha256';
import { readChunks, withRequestTimeouts, type RequestTimeouts } from './timeouts';
import { DownloadTimeoutError } from '../errors';

export interface RetryOptions {
  /** Extra attempts after the first (default 4). */
  retries?: number;
  /** First backoff delay; doubles per attempt with full jitter (default 500 ms, at most 8 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface FetchEnv {
  fetch: typeof fetch;
  /** Resolves after `ms`, rejects when `signal` aborts. Tests pass an instant one. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export interface FetchFileOptions extends RetryOptions, RequestTimeouts {
  signal?: AbortSignal;
  /** Bytes received (negative: bytes of a failed attempt taken back). */
  onBytes?(delta: number): void;
  onRetry?(info: { url: string; attempt: number; error: unknown; delayMs: number }): void;
}

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function defaultFetchEnv(): FetchEnv {
  return { fetch: (...args) => globalThis.fetch(...args), sleep: defaultSleep, random: Math.random };
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** Errors that mean "try again": the network, a short body, a bad hash, a busy or broken server. */
class Retryable extends Error {
  constructor(readonly inner: unknown) {
    super('retryable');
  }
}

const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function backoff(attempt: number, opts: RetryOptions, env: FetchEnv): number {
  const base = opts.backoffMs ?? 500;
  const cap = opts.maxBackoffMs ?? 8000;
  return Math.round(Math.min(cap, base * 2 ** attempt) * (0.5 + env.random() / 2));
}

/** The body into a buffer of exactly `expected` bytes (null: whatever the server sends). */
async function readBody(
  res: Response, expected: number | null, url: string, progress: () => void, onBytes: (n: number) => void,
): Promise<Uint8Array<ArrayBuffer>> {
  if (expected === null) {
    const parts: Uint8Array[] = [];
    await readChunks(res, progress, (chunk) => {
      onBytes(chunk.byteLength);
      parts.push(chunk);
    });
    const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return out;
  }
  const out = new Uint8Array(expected);
  let got = 0;
  let extra = 0;
  await readChunks(res, progress, (value) => {
    onBytes(value.byteLength);
    const fit = Math.min(value.byteLength, expected - got);
    if (fit > 0) out.set(value.subarray(0, fit), got);
    got += fit;
    extra += value.byteLength - fit;
  });
  if (extra > 0) {
    throw new ShardHashMismatchError(`${url}: the server sent ${expected + extra} bytes, the manifest says ${expected}; the file on the server is not the one the manifest describes`);
  }
  if (got < expected) {
    throw new TruncatedFileError(`${url}: the body ended after ${got} of ${expected} bytes (connection cut or file truncated on the server)`);
  }
  return out;
}

async function attempt(
  url: string,
  init: RequestInit,
  env: FetchEnv,
  expected: PackageFile | null,
  onBytes: (n: number) => void,
  opts: FetchFileOptions,
): Promise<Uint8Array<ArrayBuffer>> {
  // The stall timeout and the deadline cover the request and its body, not the hashing after it.
  const body = await withRequestTimeouts(url, opts, opts.signal, async (signal, progress) => {
    let res: Response;
    try {
      res = await env.fetch(url, { ...init, signal });
    } catch (err) {
      throw new Retryable(err);
    }
    progress();
    if (!res.ok) {
      // Drain nothing: cancel the body so the connection is released.
      void res.body?.cancel().catch(() => {});
      const err = new DownloadError(`${url}: HTTP ${res.status} ${res.statusText}`.trim());
      if (RETRY_STATUS.has(res.status)) throw new Retryable(err);
      if (res.status === 404 || res.status === 410) throw new MissingFileError(`${url}: not found on the server (HTTP ${res.status}); check the package URL`);
      throw err;
    }
    try {
      return await readBody(res, expected?.bytes ?? null, url, progress, onBytes);
    } catch (err) {
      throw new Retryable(err);
    }
  }).catch((err: unknown) => {
    // A timeout is worth another attempt, like any network failure.
    throw err instanceof DownloadTimeoutError ? new Retryable(err) : err;
  });
  if (expected === null) return body;
  const hash = await sha256Hex(body);
  if (hash !== expected.sha256) {
    throw new Retryable(new ShardHashMismatchError(`${url}: SHA-256 ${hash} does not match the manifest's ${expected.sha256}`));
  }
  return body;
}

/**
 * Downloads `url`. With `expected` the body must have exactly `expected.bytes` bytes and hash to
 * `expected.sha256`; a mismatch, a short body, a network error or a retryable status is retried
 * with backoff. A 404 is not retried. Aborting `signal` stops at once with its reason.
 */
export async function fetchFile(
  url: string,
  expected: PackageFile | null,
  env: FetchEnv,
  opts: FetchFileOptions = {},
  init: RequestInit = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const retries = opts.retries ?? 4;
  let last: unknown;
  for (let i = 0; i <= retries; i++) {
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    let received = 0;
    const onBytes = (n: number) => {
      received += n;
      opts.onBytes?.(n);
    };
    try {
      return await attempt(url, init, env, expected, onBytes, opts);
    } catch (err) {
      if (received !== 0) opts.onBytes?.(-received);
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      if (!(err instanceof Retryable)) throw err;
      last = err.inner;
      if (i < retries) {
        const delayMs = backoff(i, opts, env);
        opts.onRetry?.({ url, attempt: i + 1, error: last, delayMs });
        await env.sleep(delayMs, opts.signal);
      }
    }
  }
  const attempts = `${retries + 1} attempt${retries === 0 ? '' : 's'}`;
  if (last instanceof ShardHashMismatchError) {
    throw new ShardHashMismatchError(`${last.message} (after ${attempts}); the package on the server is inconsistent with its manifest (re-upload it) or something on the way alters it`, { cause: last });
  }
  if (last instanceof DownloadTimeoutError) {
    throw new DownloadTimeoutError(`${last.message} (after ${attempts})`, { cause: last });
  }
  if (last instanceof TruncatedFileError) {
    throw new TruncatedFileError(`${last.message} (after ${attempts})`, { cause: last });
  }
  const why = last instanceof Error ? `${last.name}: ${last.message}` : String(last);
  throw new DownloadError(`could not download ${url} after ${attempts}: ${why}. Check the network connection and try again; files already downloaded are kept.`, { cause: last });
}

/** "https://host/models/glm/manifest.json" or "https://host/models/glm" -> "https://host/models/glm/". */
export function packageBaseUrl(url: string, relativeTo?: string): string {
  const abs = new URL(url, relativeTo ?? (typeof location !== 'undefined' ? location.href : undefined));
  abs.hash = '';
  abs.search = '';
  let href = abs.href;
  if (href.endsWith('/manifest.json')) href = href.slice(0, -'manifest.json'.length);
  if (!href.endsWith('/')) href += '/';
  return href;
}

/** A cache id from a package URL: host, port and path with every other character replaced by "_". */
export function modelIdFromUrl(base: string): string {
  const u = new URL(base);
  const raw = `${u.host}${u.pathname}`.replace(/\/+$/, '');
  return raw.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '') || 'model';
}

/** Shards go to our own cache; keeping a second copy in the HTTP cache would double the disk used. */
export const NO_STORE: RequestInit = { cache: 'no-store' };

export const MODEL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Downloads `files` from `base` with `concurrency` fetches in flight, each checked by fetchFile, and
 * hands every body to `keep` (store it, then record it). The first failure aborts the other downloads
 * and is thrown once all have stopped (or the caller's abort reason, when `signal` was aborted).
 * Shared by the browser loader (IndexedDB) and the Node cache (a folder).
 */
export async function downloadFiles<F extends PackageFile>(
  base: string,
  files: readonly F[],
  env: FetchEnv,
  options: FetchFileOptions & { concurrency: number },
  keep: (file: F, bytes: Uint8Array<ArrayBuffer>, stillQueued: readonly F[]) => Promise<void>,
): Promise<void> {
  if (files.length === 0) return;
  const inner = new AbortController();
  const onOuterAbort = () => inner.abort(abortReason(options.signal!));
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const queue = [...files];
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    while (queue.length > 0 && !failure) {
      const f = queue.shift()!;
      try {
        const bytes = await fetchFile(`${base}${f.file}`, f, env, { ...options, signal: inner.signal }, NO_STORE);
        await keep(f, bytes, queue);
      } catch (err) {
        if (!failure) {
          failure = { error: err };
          inner.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, Math.floor(options.concurrency)), files.length) }, worker));
  options.signal?.removeEventListener('abort', onOuterAbort);
  if (failure) throw options.signal?.aborted ? abortReason(options.signal) : (failure as { error: unknown }).error;
}
