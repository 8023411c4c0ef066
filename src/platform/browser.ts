// The browser platform (also Web Workers and every bundler's default): navigator.gpu, module workers
// bundled next to this code, models read over HTTP (packages through the IndexedDB shard cache).
// Chosen by the `#platform` import (package.json "imports"); see ./types.ts.
import type { LoadProgress } from '../runtime/api-types';
import type { RegistryEntry } from '../runtime/registry';
import type { ModelFiles } from '../formats/byte-source';
import type { MatmulThreadHandle, Platform } from './types';

/** A relative source is relative to the document (or, inside a worker, to the worker script). */
function absoluteUrl(source: string): string {
  return typeof location === 'undefined' ? source : new URL(source, location.href).href;
}

async function openModelFiles(source: string, onProgress: (p: LoadProgress) => void): Promise<ModelFiles> {
  const { httpModelFiles } = await import('../formats/http-files');
  const base = absoluteUrl(source);
  const http = httpModelFiles(base.endsWith('/') ? base : `${base}/`);
  // A glm-webgpu package (manifest.json) goes through the shard cache: downloaded once, resumable, checked.
  if (typeof indexedDB !== 'undefined' && (await http.exists('manifest.json'))) {
    const { loadModelPackage } = await import('../loader/cache');
    const pkg = await loadModelPackage(base, {
      onProgress: (p) =>
        onProgress({
          phase: 'download',
          done: p.bytesDone,
          total: p.bytesTotal,
          rate: p.rate,
          etaSeconds: p.etaSeconds,
          text: `downloading: ${p.shardsDone}/${p.shardsTotal} files`,
        }),
    });
    return pkg.files;
  }
  return http;
}

export const platform: Platform = {
  name: 'browser',
  async webGpu() {
    return typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu ? navigator.gpu : undefined;
  },
  async hardwareThreads() {
    return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0;
  },
  async spawnMatmulThread(runtimeSource: string): Promise<MatmulThreadHandle> {
    // From source text, not from a file: nothing to locate next to an app's bundle, a CDN folder or the
    // one-file widget, whose own worker runs from a blob: URL that cannot resolve relative paths anyway.
    const source =
      `(${runtimeSource})().serve({ post: (m) => self.postMessage(m), onMessage: (h) => self.addEventListener('message', (e) => h(e.data)) });\n`;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(url, { type: 'module', name: 'glm-matmul' });
    // The worker has fetched its script once it answers; the URL can go.
    worker.addEventListener('message', () => URL.revokeObjectURL(url), { once: true });
    return {
      post: (m) => worker.postMessage(m),
      onMessage: (h) => worker.addEventListener('message', (e) => h(e.data)),
      onError: (h) => worker.addEventListener('error', (e) => h(e.message || 'the matmul worker failed to load')),
      terminate: () => worker.terminate(),
      unref: () => {},
    };
  },
  registryLocation(entry: RegistryEntry) {
    return absoluteUrl(entry.url);
  },
  openModelFiles,
  async conversionTarget(id: string, sourceUrl: string) {
    const { indexedDbTarget } = await import('../loader/convert-cache');
    return indexedDbTarget(id, sourceUrl);
  },
  async decodeImage(bytes, type, maxPixels) {
    const { decodeImageInBrowser } = await import('../vision/decode-browser');
    return decodeImageInBrowser(bytes, type, maxPixels);
  },
  async bitmapPixels(bitmap) {
    const { bitmapPixels } = await import('../vision/decode-browser');
    return bitmapPixels(bitmap);
  },
};
