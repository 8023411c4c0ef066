// What a model URL points at, read before anything big is downloaded: a glm-webgpu package
// (manifest.json: config, quant and every file's size) or a Hugging Face style folder (config.json +
// safetensors, read by HTTP range requests). Enough to size the model and ask the planner.
import { MissingFileError } from '../../index';
import { MANIFEST_FILE, parseManifest, type PackageManifest } from '../../index';
import { listCachedModels, modelIdFromUrl, packageBaseUrl, recordKey, idbStore, type ModelRecord } from '../../index';
import { normalizeConfig, type GlmConfig } from '../../index';

export interface SourceInfo {
  /** Absolute base URL, ending with "/". */
  url: string;
  kind: 'package' | 'folder';
  config: GlmConfig;
  /** Package: its cache id. */
  id: string;
  manifest?: PackageManifest;
  /** Package: the weight format it holds. Folder: null (the engine quantizes while loading). */
  packageQuant: PackageManifest['quant'] | null;
  /** Package: every file's bytes (shards + tokenizer). Folder: unknown until read. */
  downloadBytes: number | null;
  /** Package bytes already in IndexedDB (complete or not). */
  cachedBytes: number;
  cachedComplete: boolean;
  /** The manifest came from IndexedDB because the network failed. */
  offline: boolean;
}

async function fetchText(url: string): Promise<{ status: number; text: string } | null> {
  try {
    const res = await fetch(url, { cache: 'no-cache' });
    return { status: res.status, text: res.ok ? await res.text() : '' };
  } catch {
    return null; // network failure (offline, DNS, CORS)
  }
}

export async function inspectSource(input: string): Promise<SourceInfo> {
  const url = packageBaseUrl(input);
  const id = modelIdFromUrl(url);
  const cached = (await listCachedModels().catch(() => [])).find((m) => m.id === id);
  const cacheInfo = { cachedBytes: cached?.bytes ?? 0, cachedComplete: cached?.complete ?? false };
  const manifestRes = await fetchText(`${url}${MANIFEST_FILE}`);
  if (manifestRes?.status === 200) {
    const manifest = parseManifest(manifestRes.text, `${url}${MANIFEST_FILE}`);
    const downloadBytes = [...manifest.shards, ...manifest.files].reduce((s, f) => s + f.bytes, 0);
    return { url, kind: 'package', id, manifest, config: normalizeConfig(manifest.config), packageQuant: manifest.quant, downloadBytes, ...cacheInfo, offline: false };
  }
  if (manifestRes === null && cached) {
    // Offline: the cached copy of the package stands in (loadModelPackage does the same).
    const record = await idbStore().get<ModelRecord>(recordKey(id));
    if (record) {
      const manifest = parseManifest(record.manifest, `cached ${MANIFEST_FILE} of "${id}"`);
      const downloadBytes = [...manifest.shards, ...manifest.files].reduce((s, f) => s + f.bytes, 0);
      return { url, kind: 'package', id, manifest, config: normalizeConfig(manifest.config), packageQuant: manifest.quant, downloadBytes, ...cacheInfo, offline: true };
    }
  }
  const configRes = await fetchText(`${url}config.json`);
  if (configRes?.status === 200) {
    return { url, kind: 'folder', id, config: normalizeConfig(configRes.text), packageQuant: null, downloadBytes: null, ...cacheInfo, offline: false };
  }
  if (manifestRes === null && configRes === null) {
    throw new MissingFileError(`could not reach ${url}: the network failed (offline?) and the model is not in this browser's cache`);
  }
  throw new MissingFileError(
    `no model at ${url}: neither ${MANIFEST_FILE} (a glm-webgpu package) nor config.json (a Hugging Face folder) was found there ` +
      `(HTTP ${manifestRes?.status ?? 'error'} / ${configRes?.status ?? 'error'})`,
  );
}
