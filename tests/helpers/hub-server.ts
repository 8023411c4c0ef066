// A local stand-in for the Hugging Face Hub, for the Hub-loading tests (unit and e2e): two servers on
// 127.0.0.1 with random ports, laid out and behaving like huggingface.co and its file CDN:
//   hub: GET/HEAD /<org>/<repo>/resolve/<rev>/<file>; small files answered directly, weight files
//        (*.safetensors, *.gguf) answered with a 302 to the CDN (as the Hub does for LFS/Xet files);
//   cdn: GET/HEAD /repos/<org>/<repo>/<file>?X-Amz-Signature=... with Range support (206).
// Both send CORS headers (and answer preflights), so a page on a third origin can read them. Every
// request is logged with the bytes it carried, so tests count what a load fetched.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RepoFiles = Record<string, Uint8Array | string>;

export interface HubRequest {
  server: 'hub' | 'cdn';
  method: string;
  repo: string;
  file: string;
  /** Requested byte range (inclusive start, exclusive end) of a ranged GET. */
  range: [number, number] | null;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}

export interface HubServer {
  /** The Hub's base URL (pass as hfEndpoint / HF_ENDPOINT). */
  url: string;
  cdnUrl: string;
  requests: HubRequest[];
  /** Requests that carried bytes of weight files (GETs of *.safetensors / *.gguf on the CDN). */
  weightRequests(from?: number): HubRequest[];
  /** Answers matching CDN GETs with HTTP `status` (default 500), at most `times` times. */
  fail(match: (r: { repo: string; file: string; range: [number, number] | null }) => boolean, times?: number, status?: number): void;
  clearFailures(): void;
  close(): Promise<void>;
}

const WEIGHT_FILE = /\.(safetensors|gguf)$/;

function cors(res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'Range, Content-Type, Authorization');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
  res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges, ETag, Location, X-Repo-Commit, X-Linked-Size');
  // A page with COEP require-corp may embed it, as it may any CORS resource.
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
}

function parseRange(header: string | undefined, size: number): [number, number] | null | 'bad' {
  if (!header) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return 'bad';
  const start = Number(m[1]);
  const end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
  if (start >= size || end <= start) return 'bad';
  return [start, end];
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startHubServer(repos: Record<string, RepoFiles>): Promise<HubServer> {
  const requests: HubRequest[] = [];
  const failures: { match: Parameters<HubServer['fail']>[0]; left: number; status: number }[] = [];
  const bytesOf = (content: Uint8Array | string) => (typeof content === 'string' ? Buffer.from(content) : Buffer.from(content.buffer, content.byteOffset, content.byteLength));
  let cdnUrl = '';

  const lookup = (repo: string, file: string) => (Object.hasOwn(repos, repo) && Object.hasOwn(repos[repo]!, file) ? repos[repo]![file]! : undefined);

  const sendFile = (req: IncomingMessage, res: ServerResponse, log: HubRequest, content: Uint8Array | string) => {
    const body = bytesOf(content);
    const range = parseRange(req.headers.range, body.byteLength);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', `"${body.byteLength}"`);
    res.setHeader('Content-Type', 'application/octet-stream');
    if (range === 'bad') {
      res.statusCode = log.status = 416;
      res.setHeader('Content-Range', `bytes */${body.byteLength}`);
      res.end();
      return;
    }
    const [start, end] = range ?? [0, body.byteLength];
    log.range = range;
    res.statusCode = log.status = range ? 206 : 200;
    if (range) res.setHeader('Content-Range', `bytes ${start}-${end - 1}/${body.byteLength}`);
    res.setHeader('Content-Length', end - start);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    log.bytes = end - start;
    res.end(body.subarray(start, end));
  };

  const hub = createServer((req, res) => {
    cors(res);
    const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const log: HubRequest = { server: 'hub', method: req.method ?? 'GET', repo: m?.[1] ?? '', file: m?.[3] ?? path, range: null, status: 0, bytes: 0 };
    requests.push(log);
    if (req.method === 'OPTIONS') {
      res.statusCode = log.status = 204;
      res.end();
      return;
    }
    const content = m && m[2] === 'main' ? lookup(m[1]!, m[3]!) : undefined;
    if (content === undefined) {
      res.statusCode = log.status = 404;
      res.setHeader('X-Error-Code', m ? 'EntryNotFound' : 'RepoNotFound');
      res.end('Entry not found');
      return;
    }
    if (WEIGHT_FILE.test(m![3]!)) {
      // Like the Hub: weight files live on the CDN; the redirect carries a signed, expiring URL.
      res.statusCode = log.status = 302;
      res.setHeader('X-Linked-Size', String(bytesOf(content).byteLength));
      res.setHeader('Location', `${cdnUrl}/repos/${m![1]}/${m![3]}?X-Amz-Expires=3600&X-Amz-Signature=test`);
      res.end();
      return;
    }
    sendFile(req, res, log, content);
  });

  const cdn = createServer((req, res) => {
    cors(res);
    const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
    const m = /^\/repos\/([^/]+\/[^/]+)\/(.+)$/.exec(path);
    const log: HubRequest = { server: 'cdn', method: req.method ?? 'GET', repo: m?.[1] ?? '', file: m?.[2] ?? path, range: null, status: 0, bytes: 0 };
    requests.push(log);
    if (req.method === 'OPTIONS') {
      res.statusCode = log.status = 204;
      res.end();
      return;
    }
    const content = m ? lookup(m[1]!, m[2]!) : undefined;
    if (content === undefined) {
      res.statusCode = log.status = 404;
      res.end('not found');
      return;
    }
    if (req.method === 'GET') {
      const size = bytesOf(content).byteLength;
      const r = parseRange(req.headers.range, size);
      const range = r === 'bad' ? null : r;
      const failure = failures.find((f) => f.left > 0 && f.match({ repo: m![1]!, file: m![2]!, range }));
      if (failure) {
        failure.left--;
        log.range = range;
        res.statusCode = log.status = failure.status;
        res.end(`injected failure ${failure.status}`);
        return;
      }
    }
    sendFile(req, res, log, content);
  });

  const url = await listen(hub);
  cdnUrl = await listen(cdn);
  return {
    url,
    cdnUrl,
    requests,
    weightRequests: (from = 0) => requests.slice(from).filter((r) => r.server === 'cdn' && r.method === 'GET' && r.bytes > 0 && WEIGHT_FILE.test(r.file)),
    fail(match, times = Number.POSITIVE_INFINITY, status = 500) {
      failures.push({ match, left: times, status });
    },
    clearFailures() {
      failures.length = 0;
    },
    close: async () => {
      for (const s of [hub, cdn]) {
        s.closeAllConnections?.();
        await new Promise<void>((ok) => s.close(() => ok()));
      }
    },
  };
}
