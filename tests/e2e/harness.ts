// E2E plumbing: a plain static file server over dist/web on 127.0.0.1 (WebGPU needs a secure
// context; localhost is one) and headless Debian Chromium through playwright-core.
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import sirv from 'sirv';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_PATH } from '../prereq';

export const DIST_WEB = resolve(import.meta.dirname, '../../dist/web');
export const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts');

export interface StaticServer {
  url: string;
  /** Every request path served, in order (tests count fetches with it). */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `dir` like any static host; `isolation` adds COOP/COEP (needed for threads). */
export async function startStaticServer(dir = DIST_WEB, isolation = true): Promise<StaticServer> {
  const serve = sirv(dir, { dev: true, etag: true });
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (isolation) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    serve(req, res, () => {
      res.statusCode = 404;
      res.end('not found');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((ok) => server.close(() => ok())),
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
