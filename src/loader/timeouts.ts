// Time limits for one HTTP request. Without them a server that accepts the connection and then sends
// nothing (or trickles a byte a minute) hangs a model load for ever. Two limits:
//   - stall timeout: no bytes (no headers, no body chunk) for this long;
//   - deadline: the whole request, headers to last byte, took longer than this.
// Both abort the request and turn whatever the fetch then throws (an AbortError, a TypeError from the
// body stream) into one DownloadTimeoutError that says which limit fired and how to raise it.
// Used by fetchFile (packages, browser and Node cache) and by httpModelFiles (Hugging Face folders).
import { DownloadTimeoutError, InvalidArgumentError } from '../errors';

export interface RequestTimeouts {
  /** Abort when no bytes arrive for this long, ms (default 30 s; Infinity turns it off). */
  stallTimeoutMs?: number;
  /** Abort when one request takes longer than this overall, ms (default 15 min; Infinity turns it off). */
  deadlineMs?: number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
export const DEFAULT_DEADLINE_MS = 15 * 60_000;

function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

function checkLimit(name: string, ms: number): number {
  if (!(ms > 0)) throw new InvalidArgumentError(`${name} must be a positive number of milliseconds (Infinity turns the limit off), got ${ms}`);
  return ms;
}

/**
 * Runs `body(signal, progress)` under the two limits. `body` must pass `signal` to fetch and call
 * `progress()` whenever bytes arrive (which restarts the stall clock). Aborting `outer` aborts too,
 * with the caller's reason. Once a limit fired, anything `body` throws becomes the DownloadTimeoutError.
 */
export async function withRequestTimeouts<T>(
  url: string,
  limits: RequestTimeouts,
  outer: AbortSignal | undefined,
  body: (signal: AbortSignal, progress: () => void) => Promise<T>,
): Promise<T> {
  const stallMs = checkLimit('stallTimeoutMs', limits.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
  const deadlineMs = checkLimit('deadlineMs', limits.deadlineMs ?? DEFAULT_DEADLINE_MS);
  const ctrl = new AbortController();
  let fired: DownloadTimeoutError | null = null;
  const fire = (err: DownloadTimeoutError) => {
    if (fired || ctrl.signal.aborted) return;
    fired = err;
    ctrl.abort(err);
  };
  const onOuterAbort = () => ctrl.abort(outer!.reason ?? new DOMException('The operation was aborted.', 'AbortError'));
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });

  // setTimeout takes at most 2^31-1 ms; a longer (or infinite) limit simply never fires.
  const arm = (ms: number, make: () => DownloadTimeoutError) => (ms < 2 ** 31 ? setTimeout(() => fire(make()), ms) : undefined);
  const deadline = arm(
    deadlineMs,
    () => new DownloadTimeoutError(`${url}: the request did not finish within its deadline of ${seconds(deadlineMs)} (deadlineMs); the server or the link is too slow. Try again, or raise deadlineMs.`),
  );
  const stalled = () =>
    new DownloadTimeoutError(`${url}: no data for ${seconds(stallMs)} (stallTimeoutMs): the server accepted the request but stopped sending. Try again later, or raise stallTimeoutMs for a very slow link.`);
  let stall = arm(stallMs, stalled);
  const progress = () => {
    if (stall === undefined) return;
    clearTimeout(stall);
    stall = arm(stallMs, stalled);
  };
  // The abort wins even over a fetch (or body stream) that ignores its signal: nothing can hang here.
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(ctrl.signal.reason);
    if (ctrl.signal.aborted) onAbort();
    else ctrl.signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    return await Promise.race([body(ctrl.signal, progress), aborted]);
  } catch (err) {
    throw fired ?? err;
  } finally {
    clearTimeout(deadline);
    clearTimeout(stall);
    outer?.removeEventListener('abort', onOuterAbort);
    ctrl.signal.removeEventListener('abort', onAbort);
  }
}

/** Reads a response body to the end under `progress`, chunk by chunk (so the stall clock restarts per chunk). */
export async function readChunks(res: Response, progress: () => void, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  if (!res.body) {
    const buf = new Uint8Array(await res.arrayBuffer());
    progress();
    onChunk(buf);
    return;
  }
  const reader = res.body.getReader();
  for (;;) {
    // A connection cut mid-body rejects here (TypeError in browsers and undici), an abort with its reason.
    const { done, value } = await reader.read();
    if (done) return;
    progress();
    onChunk(value);
  }
}
