// Storage and network faults (issue #18), with fake fetches, fake stores and fake locks: stall timeouts
// and deadlines, IndexedDB errors as named errors, corrupt and foreign records, deleting a model while
// it downloads, two tabs loading the same model, the move out of idb-keyval's shared database.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DownloadTimeoutError } from '../../src/errors';
import { httpModelFiles } from '../../src/formats/http-files';
import { fetchFile, type FetchEnv } from '../../src/loader/fetch';
import { withRequestTimeouts } from '../../src/loader/timeouts';

const URL_ = 'https://models.example/pkg/shard-00000.bin';
const instantEnv = (fetchImpl: (url: string, init: RequestInit) => Promise<Response>): FetchEnv => ({
  fetch: fetchImpl as unknown as typeof fetch,
  sleep: async () => {},
  random: () => 0.5,
});

/** A fetch that never answers but rejects when its signal aborts, as browsers and undici do. */
const silentServer = (_url: string, init: RequestInit) =>
  new Promise<Response>((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason), { once: true }));

/** Headers at once, then `first` bytes, then chunks every `everyMs` (or nothing more when everyMs is null). */
function trickle(first: number, everyMs: number | null) {
  return async (_url: string, init: RequestInit) => {
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new Uint8Array(first));
          return;
        }
        if (everyMs === null) {
          await new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason), { once: true })).catch((e) => controller.error(e));
          return;
        }
        await new Promise((r) => setTimeout(r, everyMs));
        if (init.signal!.aborted) controller.error(init.signal!.reason);
        else controller.enqueue(new Uint8Array(1));
      },
    });
    return new Response(stream, { status: 200 });
  };
}

const expected = { file: 'shard-00000.bin', bytes: 1 << 20, sha256: '0'.repeat(64) };

describe('fetch: stall timeout and deadline', () => {
  it('a server that accepts and never answers: DownloadTimeoutError (stall) after every retry, not a hang', async () => {
    let calls = 0;
    const t0 = Date.now();
    const err = await fetchFile(URL_, expected, instantEnv((u, i) => (calls++, silentServer(u, i))), { stallTimeoutMs: 40, retries: 2 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadTimeoutError);
    expect((err as Error).name).toBe('DownloadTimeoutError');
    expect((err as Error).message).toMatch(/no data for 40 ms \(stallTimeoutMs\).*after 3 attempts/);
    expect(calls).toBe(3);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a fetch that ignores its abort signal still times out', async () => {
    const err = await fetchFile(URL_, null, instantEnv(() => new Promise<Response>(() => {})), { stallTimeoutMs: 30, retries: 0 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadTimeoutError);
  });

  it('a body that stops halfway: stall timeout; a body that trickles for ever: deadline', async () => {
    const stalled = await fetchFile(URL_, expected, instantEnv(trickle(1000, null)), { stallTimeoutMs: 50, retries: 0 }).catch((e: Error) => e);
    expect(stalled).toBeInstanceOf(DownloadTimeoutError);
    expect((stalled as Error).message).toMatch(/no data for 50 ms/);
    // A byte every 10 ms keeps the stall clock from firing; the deadline ends it.
    const slow = await fetchFile(URL_, expected, instantEnv(trickle(1000, 10)), { stallTimeoutMs: 200, deadlineMs: 150, retries: 0 }).catch((e: Error) => e);
    expect(slow).toBeInstanceOf(DownloadTimeoutError);
    expect((slow as Error).message).toMatch(/did not finish within its deadline of 150 ms \(deadlineMs\)/);
  });

  it('the caller aborting still wins with its own reason; bad limits are refused', async () => {
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new DOMException('stop', 'AbortError')), 20);
    const err = await fetchFile(URL_, expected, instantEnv(silentServer), { stallTimeoutMs: 10_000, signal: ctrl.signal }).catch((e: Error) => e);
    expect((err as Error).name).toBe('AbortError');
    await expect(withRequestTimeouts(URL_, { stallTimeoutMs: -1 }, undefined, async () => 1)).rejects.toThrow(/stallTimeoutMs must be a positive/);
  });

  it('progress restarts the stall clock: a slow but steady download completes', async () => {
    const body = new Uint8Array(64).fill(7);
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(body).digest('hex');
    const steady = async () => {
      let o = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 15));
            if (o >= body.length) return c.close();
            c.enqueue(body.slice(o, o + 8));
            o += 8;
          },
        }),
      );
    };
    // 8 chunks x 15 ms = 120 ms in all, more than the 40 ms stall timeout, never 40 ms without a byte.
    const got = await fetchFile(URL_, { file: 'x', bytes: 64, sha256 }, instantEnv(steady), { stallTimeoutMs: 40, retries: 0 });
    expect(got).toEqual(body);
  });
});

describe('httpModelFiles (Hugging Face folders over HTTP): the same limits on a real socket', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
    server = null;
  });

  it('a server that accepts and never answers: DownloadTimeoutError, and a range read that stalls mid-body too', async () => {
    server = createServer((req, res) => {
      if (req.url === '/m/config.json') return; // accepted, never answered
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'Content-Length': 4096 });
        return res.end();
      }
      res.writeHead(206, { 'Content-Length': 100 });
      res.write(Buffer.alloc(10)); // then nothing
    });
    await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/`;
    const files = httpModelFiles(base, { stallTimeoutMs: 80 });
    const err = await files.readText('config.json').catch((e: Error) => e);
    expect(err).toBeInstanceOf(DownloadTimeoutError);
    expect((err as Error).message).toContain(`${base}config.json: no data for 80 ms`);
    const source = await files.open('model.safetensors');
    const err2 = await source.read(0, 100).catch((e: Error) => e);
    expect(err2).toBeInstanceOf(DownloadTimeoutError);
  });
});
