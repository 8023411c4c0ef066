// What a model URL points at, read before anything big is downloaded: a glm-webgpu package
// (manifest.json: config, quant and every file's size) or a Hugging Face style folder (config.json +
// safetensors, read by HTTP range requests). Enough to size the model and ask the planner.
import { MissingFileError } from '../../index';
import { MANIFEST_FILE, parseManifest, type PackageManifest, type PackageQuant } from '../../index';
import { cachedModelRecord, listCachedModels, modelIdFromUrl, packageBaseUrl } from '../../index';
import { normalizeConfig, type GlmConfig } from '../../index';
import { hubCacheId, hubModelFiles, parseHubSource } from '../../index';
import { catalogueModel, catalogueSizes, type CatalogueModel } from '../../index';
import { classifyFetchFailure, fetchFailureError } from '../../index';

export interface SourceInfo {
  /** Absolute base URL, ending with "/" (hub: the repo id or URL as given, which engine.load takes). */
  url: string;
  /** hub: a Hugging Face repo id, Hub URL or .gguf URL (or a catalogue name), converted into the cache by the engine. */
  kind: 'package' | 'folder' | 'hub';
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
  /** hub: the catalogue entry, when the source is one. */
  catalogue?: CatalogueModel;
}

/**
 * A Hub source (catalogue name, repo id, Hub URL, .gguf URL): sized from the catalogue's bundled shapes,
 * or from the repo's config.json (a GGUF: its header), before any weight is downloaded.
 */
export async function inspectHubSource(input: string, quant: PackageQuant, hfEndpoint?: string): Promise<SourceInfo | null> {
  const listed = catalogueModel(input);
  const hub = parseHubSource(listed?.repo ?? input, hfEndpoint);
  if (!hub) return null;
  const id = hubCacheId(hub, quant);
  const cached = (await listCachedModels().catch(() => [])).find((m) => m.id === id);
  let config: GlmConfig;
  if (listed?.config) config = normalizeConfig(listed.config as Record<string, unknown>);
  else if (cached?.complete) {
    const record = await cachedModelRecord(id);
    if (!record) throw new MissingFileError(`the cached record of "${id}" went missing: load the model again`);
    config = normalizeConfig(record.manifest.config);
  } else config = normalizeConfig(await hubModelFiles(hub).readText('config.json'));
  return {
    url: input,
    kind: 'hub',
    id,
    config,
    packageQuant: null,
    downloadBytes: listed ? catalogueSizes(listed, quant).downloadBytes : null,
    cachedBytes: cached?.bytes ?? 0,
    cachedComplete: cached?.complete ?? false,
    offline: false,
    ...(listed ? { catalogue: listed } : {}),
  };
}

async function fetchText(url: string): Promise<{ status: number; text: string } | null> {
  try {
    const res = await fetch(url, { cache: 'no-cache' });
    const text = res.ok ? await res.text() : '';
    // A JSON file answered with an HTML page is a server's "not found" page in disguise (an SPA fallback
    // serves index.html for every path): treat it as the 404 it means.
    if (res.ok && /^\s*</.test(text) && /text\/html/i.test(res.headers.get('content-type') ?? '')) return { status: 404, text: '' };
    return { status: res.status, text };
  } catch {
    return null; // network failure (offline, DNS, CORS): classified by the caller
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
    const record = await cachedModelRecord(id);
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
    throw fetchFailureError(await classifyFetchFailure(`${url}${MANIFEST_FILE}`), url, 'The model');
  }
  throw new MissingFileError(
    `no model at ${url}: neither ${MANIFEST_FILE} (a glm-webgpu package) nor config.json (a Hugging Face folder) was found there ` +
      `(HTTP ${manifestRes?.status ?? 'error'} / ${configRes?.status ?? 'error'})`,
  );
}
