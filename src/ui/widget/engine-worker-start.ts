// Starting <glm-chat>'s engine worker so that it works under a strict Content-Security-Policy.
//
// The worker is a file beside glm-chat.js (glm-chat-engine-worker.js, see vite.config.ts "widget"), not a
// blob: URL, so `worker-src 'self'` allows it when the page serves the widget itself. Browsers never
// start a worker from another origin's URL, so when glm-chat.js comes from a CDN the widget falls back to
// a tiny same-origin blob: module that imports the worker file (CORS, like the script itself); that needs
// `worker-src blob: <the CDN's origin>` (a module worker's imports are checked against worker-src).
// Whatever stops the worker (the CSP, a missing file) fires a bare `error` event and would leave the
// widget at "Loading…" for ever; here it becomes a WorkerBlockedError that names the directive to add.
import { WorkerBlockedError } from '../../index';

/** The built widget's worker file name (vite.config.ts: worker entryFileNames 'glm-chat-[name].js'). */
export const WIDGET_WORKER_FILE = 'glm-chat-engine-worker.js';

export interface StartedWorker {
  worker: Worker;
  /** Rejects with WorkerBlockedError if the worker fails to start; never resolves. */
  failed: Promise<never>;
}

function blockedError(url: string, how: string): WorkerBlockedError {
  return new WorkerBlockedError(
    `the chat engine's worker ${url} could not start (${how}). If the page has a Content-Security-Policy, allow the worker: ` +
      `\`worker-src 'self'\` when glm-chat.js and its glm-chat-*-worker.js files are served by this site, or \`worker-src blob: ${new URL(import.meta.url).origin}\` when glm-chat.js comes from another origin ` +
      `(and 'wasm-unsafe-eval' in script-src for the fast CPU kernels). Also check that ${WIDGET_WORKER_FILE} sits beside glm-chat.js.`,
  );
}

export function startEngineWorker(name: string): StartedWorker {
  let worker: Worker;
  let url: string;
  try {
    // Vite bundles the worker and rewrites this URL to the built file beside glm-chat.js.
    worker = new Worker(new URL('../shared/engine-worker.ts', import.meta.url), { type: 'module', name });
    url = 'beside glm-chat.js';
  } catch (err) {
    // A cross-origin glm-chat.js (SecurityError): import the worker file from a same-origin blob: module.
    url = new URL(/* @vite-ignore */ WIDGET_WORKER_FILE, import.meta.url).href;
    const blob = new Blob([`import ${JSON.stringify(url)};`], { type: 'text/javascript' });
    try {
      worker = new Worker(URL.createObjectURL(blob), { type: 'module', name });
    } catch (err2) {
      const failure = blockedError(url, `${(err as Error).name}, then ${(err2 as Error).name}: ${(err2 as Error).message}`);
      throw failure;
    }
  }
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (event) => {
      // An ErrorEvent with a message is an exception inside a running worker (reported by its calls);
      // a bare event means the script never ran: refused by the CSP, or not found.
      if (event instanceof ErrorEvent && event.message) return;
      reject(blockedError(url, 'the browser refused to load it'));
    });
  });
  failed.catch(() => {});
  return { worker, failed };
}
