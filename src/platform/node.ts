// The Node.js platform: Dawn (the optional `webgpu` package), worker_threads, model folders on disk and
// the demo model found inside the installed package. Chosen by the `#platform` import's "node"
// condition (package.json "imports"); see ./types.ts.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { LoadProgress } from '../runtime/api-types';
import type { RegistryEntry } from '../runtime/registry';
import type { ModelFiles } from '../formats/byte-source';
import type { MatmulThreadHandle, Platform } from './types';

/**
 * The glm-webgpu package folder: the nearest package.json named "glm-webgpu" above this module. The
 * module sits at different depths (src/platform/ in the repository, dist/lib/node/ or dist/cli/ once
 * built), so walk up instead of counting folders.
 */
export function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'glm-webgpu') return dir;
      } catch {
        // An unreadable package.json is not ours; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The installed package's version (the CLI's --version), read from its package.json. */
export function packageVersion(): string {
  const root = packageRoot();
  if (!root) return 'unknown';
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}

/**
 * A registry model's folder: a package of its own (`entry.packageName`, if installed beside us), else the
 * copy inside this package (`entry.path`), else the path relative to the working directory.
 */
function registryLocation(entry: RegistryEntry): string {
  if (entry.packageName) {
    try {
      return dirname(createRequire(import.meta.url).resolve(`${entry.packageName}/package.json`));
    } catch {
      // Not installed as its own package: fall through to the copy inside glm-webgpu.
    }
  }
  const root = packageRoot();
  const inside = root ? join(root, entry.path) : undefined;
  return inside && existsSync(inside) ? inside : entry.path;
}

async function openModelFiles(source: string): Promise<ModelFiles> {
  if (/^https?:\/\//.test(source)) {
    const { httpModelFiles } = await import('../formats/http-files');
    return httpModelFiles(source.endsWith('/') ? source : `${source}/`);
  }
  const { nodeModelFiles } = await import('../formats/node-files');
  return nodeModelFiles(source);
}

export const platform: Platform = {
  name: 'node',
  async webGpu() {
    const { createNodeGpu } = await import('../gpu/node-gpu');
    const flags = process.env.GLM_WEBGPU_DAWN_FLAGS ? process.env.GLM_WEBGPU_DAWN_FLAGS.split(',') : [];
    return createNodeGpu(flags);
  },
  async hardwareThreads() {
    return availableParallelism();
  },
  async spawnMatmulThread(runtimeSource: string): Promise<MatmulThreadHandle> {
    const { Worker: NodeWorker } = await import('node:worker_threads');
    const source =
      `const { parentPort } = require('node:worker_threads');\n` +
      `(${runtimeSource})().serve({ post: (m) => parentPort.postMessage(m), onMessage: (h) => parentPort.on('message', h) });\n`;
    const worker = new NodeWorker(source, { eval: true, name: 'glm-matmul' });
    return {
      post: (m) => worker.postMessage(m),
      onMessage: (h) => void worker.on('message', h),
      onError: (h) => void worker.on('error', (err) => h(err instanceof Error ? err.message : String(err))),
      terminate: () => void worker.terminate(),
      unref: () => worker.unref(),
    };
  },
  registryLocation,
  openModelFiles: (source: string, _onProgress: (p: LoadProgress) => void) => openModelFiles(source),
  async conversionTarget(id: string) {
    const { nodeConversionTarget } = await import('../loader/node-convert-cache');
    return nodeConversionTarget(id);
  },
  async decodeImage(bytes, type, maxPixels) {
    const { decodeImageJs } = await import('../vision/decode-js');
    return decodeImageJs(bytes, type, maxPixels);
  },
  async bitmapPixels() {
    const { UnsupportedImageTypeError } = await import('../errors');
    throw new UnsupportedImageTypeError('ImageBitmap is a browser object; under Node pass the image as bytes, a Blob or a data: URL');
  },
};
