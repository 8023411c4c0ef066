// E2E plumbing: a plain static file server on 127.0.0.1 (WebGPU needs a secure context; localhost is
// one) over dist/web with the test pages of dist/test-pages beside it, and headless Debian Chromium
// through playwright-core.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import sirv from 'sirv';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_PATH } from '../prereq';

export const DIST_WEB = resolve(import.meta.dirname, '../../dist/web');
/** The e2e tier's own pages (`npm run build:test-pages`); not part of dist/web, which a site deploys. */
export const DIST_TEST_PAGES = resolve(import.meta.dirname, '../../dist/test-pages');
/** What the e2e tests serve by default: a test page, else the product file of the same path. */
export const E2E_ROOTS = [DIST_TEST_PAGES, DIST_WEB];
export const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');

export interface StaticServer {
  url: string;
  /** Every request path served, in order (tests count fetches with it). */
  requests: string[];
  /** How many requests a path (without query string) got so far. */
  count(path: string): number;
  /**
   * Makes requests whose path matches answer badly: 'abort-halfway' sends the headers (full
   * Content-Length) and half of the body, then resets the connection; a number answers with that
   * HTTP status; 'hang' accepts the request and never answers; { delayMs } answers normally after a delay.
   * `times` limits how many requests fail (default: all of them until clearFailures()).
   */
  fail(match: string | RegExp, how: FailureMode, times?: number): void;
  clearFailures(): void;
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** Extra folders served under URL prefixes, e.g. { '/pkg/': '/tmp/glm-package' }. */
  mounts?: Record<string, string>;
  /** Headers on every response, e.g. a Content-Security-Policy. */
  headers?: Record<string, string>;
}

export type FailureMode = 'abort-halfway' | 'hang' | { delayMs: number } | number;

interface Failure {
  match: string | RegExp;
  how: FailureMode;
  left: number;
}

/**
 * Serves `dir` like any static host; `isolation` adds COOP/COEP (needed for threads). Several folders
 * are layered: a path is answered from the first one that has it (the default serves the test pages
 * beside dist/web; pass DIST_WEB alone for exactly what a site deploys).
 */
export async function startStaticServer(dir: string | string[] = E2E_ROOTS, isolation = true, options: StaticServerOptions = {}): Promise<StaticServer> {
  const roots = (Array.isArray(dir) ? dir : [dir]).map((folder) => ({ folder, serve: sirv(folder, { dev: true, etag: true }) }));
  const mounts = Object.entries(options.mounts ?? {}).map(([prefix, folder]) => ({
    prefix: prefix.endsWith('/') ? prefix : `${prefix}/`,
    folder,
    serve: sirv(folder, { dev: true, etag: true }),
  }));
  const requests: string[] = [];
  const failures: Failure[] = [];
  const fileFor = (path: string): string | null => {
    const m = mounts.find((x) => path.startsWith(x.prefix));
    if (m) {
      const full = resolve(m.folder, decodeURIComponent(path.slice(m.prefix.length)));
      return existsSync(full) ? full : null;
    }
    return roots.map((r) => resolve(r.folder, `.${decodeURIComponent(path)}`)).find((full) => existsSync(full)) ?? null;
  };
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    const path = url.split('?')[0]!;
    requests.push(url);
    if (isolation) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value);
    const failure = failures.find((f) => f.left > 0 && (typeof f.match === 'string' ? path === f.match : f.match.test(path)));
    let delayMs = 0;
    if (failure) {
      failure.left--;
      if (failure.how === 'hang') return; // accepted, never answered (close() ends the connection)
      if (typeof failure.how === 'number') {
        res.statusCode = failure.how;
        res.end(`injected failure ${failure.how}`);
        return;
      }
      if (typeof failure.how === 'object') delayMs = failure.how.delayMs;
    }
    if (failure?.how === 'abort-halfway') {
      const file = fileFor(path);
      const bytes = file ? readFileSync(file) : Buffer.alloc(1024);
      res.writeHead(200, { 'Content-Length': bytes.byteLength, 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.write(bytes.subarray(0, bytes.byteLength >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const notFound = () => {
      res.statusCode = 404;
      res.end('not found');
    };
    const answer = () => {
      const mount = mounts.find((m) => path.startsWith(m.prefix));
      if (mount) {
        req.url = url.slice(mount.prefix.length - 1);
        mount.serve(req, res, notFound);
        return;
      }
      const layer = (i: number): void => {
        if (i >= roots.length) notFound();
        else roots[i]!.serve(req, res, () => layer(i + 1));
      };
      layer(0);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (path) => requests.filter((r) => r.split('?')[0] === path).length,
    fail(match, how, times = Number.POSITIVE_INFINITY) {
      failures.push({ match, how, left: times });
    },
    clearFailures() {
      failures.length = 0;
    },
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export async function launchChromium(opts: { webgpu?: boolean } = {}): Promise<Browser> {
  const args = [...CHROMIUM_FLAGS];
  if (opts.webgpu !== false) args.push('--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader');
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args });
}

/** Collects console errors and page errors so a failing test can print them. */
export function watchConsole(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
  return lines;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = resolve(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** engine-test.html open in headless Chromium (WebGPU on), its engine API ready as `window.glm`. */
export interface EngineTestPage {
  page: Page;
  /** The page's console and page errors, for failure messages. */
  logs: string[];
  close(): Promise<void>;
}

export async function openEngineTestPage(): Promise<EngineTestPage> {
  const server = await startStaticServer();
  const browser = await launchChromium();
  const page = await browser.newPage();
  const logs = watchConsole(page);
  await page.goto(`${server.url}/engine-test.html`);
  await page.waitForFunction(() => (window as unknown as { glm?: { ready?: boolean } }).glm?.ready === true);
  return {
    page,
    logs,
    close: async () => {
      await browser.close();
      await server.close();
    },
  };
}
