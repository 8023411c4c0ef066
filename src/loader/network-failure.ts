// Issue #16: a fetch that fails with a network error (TypeError) says nothing about why. Three causes
// look the same to the page and need different fixes: the browser is offline, the host is unreachable,
// or the host answered without CORS headers (the browser hides the answer). This tells them apart as far
// as a browser allows: navigator.onLine for offline, and for a cross-origin URL a second request in
// 'no-cors' mode, which succeeds (with an opaque answer) exactly when the host is reachable.
import { CorsBlockedError, OfflineError } from '../errors';

/**
 * 'unreachable-or-cors': a cross-origin-isolated page (COEP require-corp) cannot make the no-cors probe to
 * a host that sends no Cross-Origin-Resource-Policy, so there the two causes cannot be told apart.
 */
export type FetchFailure = 'offline' | 'cors' | 'unreachable' | 'unreachable-or-cors';

function pageOrigin(): string | null {
  return typeof location !== 'undefined' && /^https?:$/.test(location.protocol) ? location.origin : null;
}

/** Why fetching `url` failed with a network error. Browsers only; elsewhere 'unreachable'. */
export async function classifyFetchFailure(url: string, fetchImpl: typeof fetch = fetch): Promise<FetchFailure> {
  if (typeof navigator !== 'undefined' && navigator.onLine === false) return 'offline';
  const origin = pageOrigin();
  if (origin === null) return 'unreachable';
  let target: URL;
  try {
    target = new URL(url, origin);
  } catch {
    return 'unreachable';
  }
  if (target.origin === origin) return 'unreachable';
  try {
    await fetchImpl(target.href, { mode: 'no-cors', cache: 'no-store', method: 'GET' });
    return 'cors';
  } catch {
    return typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated ? 'unreachable-or-cors' : 'unreachable';
  }
}

/** The named error for a failure to fetch `url` (`what` names the thing being fetched, for the message). */
export function fetchFailureError(failure: FetchFailure, url: string, what: string): Error {
  if (failure === 'cors') {
    const origin = pageOrigin() ?? 'this page';
    return new CorsBlockedError(
      `${what} at ${url} is blocked by CORS: the host answered but does not send Access-Control-Allow-Origin for ${origin}, ` +
        'so the browser hides its answer. Host the model where CORS is allowed (Hugging Face does), on this site, or add that header on the host.',
    );
  }
  if (failure === 'offline') {
    return new OfflineError(`${what} at ${url} could not be fetched: this browser is offline and the model is not in its cache. Reconnect and try again.`);
  }
  const orCors =
    failure === 'unreachable-or-cors'
      ? ', or it does not send CORS headers (Access-Control-Allow-Origin; this cross-origin-isolated page cannot tell which)'
      : '';
  return new OfflineError(
    `${what} at ${url} could not be reached: the host did not answer (down, a wrong host name, or no network)${orCors}. Check the URL and the connection.`,
  );
}
