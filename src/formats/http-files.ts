// A model folder on a web server (or the page's own origin) as ModelFiles: small files with GET,
// big ones read in byte ranges (HTTP Range), so a multi-GB safetensors file never sits in memory.
import { MissingFileError, checkReadRange, type ByteSource, type ModelFiles } from './byte-source';
import { GlmError } from '../errors';

export class NetworkError extends GlmError {
  override name = 'NetworkError';
}

function join(base: string, name: string): string {
  return base.endsWith('/') ? `${base}${name}` : `${base}/${name}`;
}

async function fetchOk(url: string, init: RequestInit, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new NetworkError(`could not fetch ${what} (${url}): ${(err as Error).message}`, { cause: err });
  }
  return res;
}

export function httpModelFiles(baseUrl: string): ModelFiles {
  const location = baseUrl;
  const missing = (name: string) => new MissingFileError(`missing file "${name}" in model folder "${location}"`);
  return {
    location,
    async exists(name) {
      const res = await fetchOk(join(baseUrl, name), { method: 'HEAD' }, name);
      return res.ok;
    },
    async readText(name) {
      const res = await fetchOk(join(baseUrl, name), {}, name);
      if (res.status === 404) throw missing(name);
      if (!res.ok) throw new NetworkError(`GET ${join(baseUrl, name)} answered ${res.status} ${res.statusText}`);
      return res.text();
    },
    async open(name): Promise<ByteSource> {
      const url = join(baseUrl, name);
      const head = await fetchOk(url, { method: 'HEAD' }, name);
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
          const res = await fetchOk(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` }, cache: 'no-store' }, name);
          if (!res.ok) throw new NetworkError(`range read of ${url} answered ${res.status} ${res.statusText}`);
          const body = new Uint8Array(await res.arrayBuffer());
          // A server that ignores Range sends the whole file (200): take the slice rather than fail.
          const bytes = res.status === 200 && body.length === size ? body.slice(offset, offset + length) : body;
          if (bytes.length !== length) throw new NetworkError(`range read of ${url} returned ${bytes.length} bytes, wanted ${length}`);
          return bytes;
        },
      };
    },
  };
}
