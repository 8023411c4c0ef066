// The contract both platform modules (browser.ts, node.ts) implement. Code in runtime/, gpu/ and cpu/
// imports `#platform` (package.json "imports"), and the bundler or Node picks one file by its export
// conditions: "node" gets node.ts, everything else (browsers, workers, bundlers) gets browser.ts. So
// the core never asks `typeof window` / `typeof process`, and a browser bundle never sees node:fs or Dawn.
// Creating the engine worker is the one platform piece in a module of its own (`#platform-engine-worker`):
// the engine worker imports this module, and a module that starts the worker it is part of would make
// bundlers see a worker that contains itself.
import type { ModelFiles } from '../formats/byte-source';
import type { LoadProgress } from '../runtime/api-types';
import type { RegistryEntry } from '../runtime/registry';
import type { ConversionTarget } from '../loader/convert-cache';
import type { DecodedPixels } from '../vision/preprocess';
import type { ImageType } from '../vision/image-type';

export type PlatformName = 'browser' | 'node';

/** A CPU matmul worker as the thread pool drives it (src/cpu/threads.ts). */
export interface MatmulThreadHandle {
  post(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  onError(handler: (message: string) => void): void;
  terminate(): void;
  /** Lets the process exit while this worker idles (Node); no-op in browsers. */
  unref(): void;
}

export interface Platform {
  readonly name: PlatformName;
  /** The WebGPU entry point: navigator.gpu, or Dawn's under Node; undefined when there is none. */
  webGpu(): Promise<GPU | undefined>;
  /** Hardware threads of this machine (0 when unknown). */
  hardwareThreads(): Promise<number>;
  /**
   * Starts one CPU matmul worker from `runtimeSource`, the source text of matmulThreadRuntime
   * (src/cpu/threads.ts): a worker_thread under Node, a module worker from a Blob URL in browsers.
   */
  spawnMatmulThread(runtimeSource: string): Promise<MatmulThreadHandle>;
  /** Where a registry model (`load('glm-demo')`) is read from: a URL (browsers) or a folder path (Node). */
  registryLocation(entry: RegistryEntry): string;
  /** Model files for a source that is no registry id and no `glm-cache:` id: a URL or a folder. */
  openModelFiles(source: string, onProgress: (p: LoadProgress) => void): Promise<ModelFiles>;
  /** Where a Hub model is converted into: the IndexedDB package cache (browsers) or the cache folder (Node). */
  conversionTarget(id: string, sourceUrl: string): Promise<ConversionTarget>;
  /** Issue #21: pixels of an encoded image (createImageBitmap + OffscreenCanvas in browsers, JavaScript decoders under Node). */
  decodeImage(bytes: Uint8Array, type: ImageType, maxPixels: number): Promise<DecodedPixels>;
  /** Issue #21: the RGBA pixels of an ImageBitmap (browsers only). */
  bitmapPixels(bitmap: ImageBitmap): Promise<DecodedPixels>;
}
