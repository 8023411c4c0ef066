// A model folder on a web server (or the page's own origin) as ModelFiles: small files with GET,
// big ones read in byte ranges (HTTP Range), so a multi-GB safetensors file never sits in memory.
// Every request runs under a stall timeout and a deadline (DownloadTimeoutError, see loader/timeouts.ts).
import { MissingFileError, checkReadRange, type ByteSource, type ModelFiles } from './byte-source';
import { GlmError } from '../errors';
import { readChunks, withRequestTimeouts, type RequestTimeouts } from '../loader/timeouts';

export class NetworkError extends GlmError {
  override name = 'NetworkError';
}

function join(base: string, name: string): string {
  return base.endsWith('/') ? `${base}${name}` : `${base}/${name}`;
}

export interface HttpFilesOptions extends RequestTimeouts {
  /** Default: the global fetch. */
  fetch?: typeof fetch;
}

/** The response's status and whole body, or a NetworkError / DownloadTimeoutError. */
async function request(url: string, init: RequestInit, what: string, opts: HttpFilesOptions): Promise<{ res: Response; body: Uint8Array<ArrayBuffer> }> {
  const fetchImpl = opts.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args));
  return withRequestTimeouts(url, opts, undefined, async (signal, progress) => {
    let res: Response;
    try {
      res = await fetchImpl(url, { ...init, signal });
    } catch (err) {
      if (signal.aborted) throw err; // a timeout: withRequestTimeouts names it
      throw new NetworkError(`could not fetch ${what} (${url}): ${(err as Error).message}`, { cause: err });
    }
    progress();
    // Into one buffer of the announced size where there is one: a big range read must not sit in memory twice.
    const reading = init.method !== 'HEAD' && res.ok;
    const announced = reading ? Number(res.headers.get('content-length') ?? NaN) : 0;
    // (Capped: a lying Content-Length must not allocate gigabytes before a byte arrives.)
    let body = new Uint8Array(Number.isSafeInteger(announced) && announced >= 0 && announced <= 2 ** 30 ? announced : 0);
    let got = 0;
    const append = (chunk: Uint8Array) => {
      if (got + chunk.byteLength > body.byteLength) {
        const grown = new Uint8Array(Math.max(got + chunk.byteLength, body.byteLength * 2));
        grown.set(body.subarray(0, got));
        body = grown;
      }
      body.set(chunk, got);
      got += chunk.byteLength;
    };
    if (reading) {
      try {
        await readChunks(res, progress, append);
      } catch (err) {
        if (signal.aborted) throw err;
        throw new NetworkError(`reading ${what} (${url}) failed: ${(err as Error).message}`, { cause: err });
      }
    } else void res.body?.cancel().catch(() => {});
    if (got !== body.byteLength) body = body.slice(0, got);
    return { res, body };
  });
}

export function httpModelFiles(baseUrl: string, options: HttpFilesOptions = {}): ModelFiles {
  const location = baseUrl;
  const missing = (name: string) => new MissingFileError(`missing file "${name}" in model folder "${location}"`);
  return {
    location,
    async exists(name) {
      const { res } = await request(join(baseUrl, name), { method: 'HEAD' }, name, options);
      return res.ok;
    },
    async readText(name) {
      const { res, body } = await request(join(baseUrl, name), {}, name, options);
      if (res.status === 404) throw missing(name);
      if (!res.ok) throw new NetworkError(`GET ${join(baseUrl, name)} answered ${res.status} ${res.statusText}`);
      return new TextDecoder().decode(body);
    },
    async open(name): Promise<ByteSource> {
      const url = join(baseUrl, name);
      const { res: head } = await request(url, { method: 'HEAD' }, name, options);
      if (head.status === 404) throw missing(name);
      const size = Number(head.headers.get('content-length'));
      if (!head.ok || !Number.isFinite(size)) throw new NetworkError(`HEAD ${url} answered ${head.status} without a usable Content-Length`);
      return {
        name: url,
        size,
        async read(offset, length) {
          checkReadRange(url, size, offset, length);
          if (length === 0) return new Uint8Array(0);
          // no-store: the bytes go to our own cache (converted); a second copy in the HTTP cache would double the disk used.
          const { res, body } = await request(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` }, cache: 'no-store' }, name, options);
          if (!res.ok) throw new NetworkError(`range read of ${url} answered ${res.status} ${res.statusText}`);
          // A server that ignores Range sends the whole file (200): take the slice rather than fail.
          const bytes = res.status === 200 && body.length === size ? body.slice(offset, offset + length) : body;
          if (bytes.length !== length) throw new NetworkError(`range read of ${url} returned ${bytes.length} bytes, wanted ${length}`);
          return bytes;
        },
      };
    },
  };
}
