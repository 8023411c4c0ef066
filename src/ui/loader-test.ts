// E2E page for the model cache (src/loader). The test drives it through window.loaderTest; the page
// shows progress, the cached models and a log so the screenshots tell what happened.
import { CpuOps } from '../cpu/ops';
import { deleteCachedModel, entryKey, idbStore, KEY_PREFIX, LEGACY_DB_NAME, listCachedModels, loadModelPackage, type CachedModelInfo, type DownloadProgress } from '../loader/index';
import { formatBytes } from '../loader/errors';
import { loadModelFolder } from '../model/load';
import { ModelSession } from '../runtime/session';

interface LoadResult {
  ok: boolean;
  id?: string;
  fetched?: string[];
  fromCache?: string[];
  persisted?: boolean | null;
  error?: { name: string; message: string };
}

/** The cache's own database, read directly (as the test inspects it). */
const cacheDb = idbStore();

const $ = (id: string) => document.getElementById(id)!;
const logLines: string[] = [];
function log(line: string): void {
  logLines.push(`${new Date().toISOString().slice(11, 23)}  ${line}`);
  $('log').textContent = logLines.join('\n');
}
function status(text: string, kind: '' | 'ok' | 'fail' = ''): void {
  $('status').textContent = text;
  $('status').className = kind;
}
function showProgress(p: DownloadProgress): void {
  const bar = $('progress') as HTMLProgressElement;
  bar.max = p.bytesTotal || 1;
  bar.value = p.bytesDone;
  const eta = p.etaSeconds === null ? '' : `, ${p.etaSeconds.toFixed(1)} s left`;
  $('progress-text').textContent = `${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${p.shardsDone}/${p.shardsTotal} shards, ${formatBytes(p.rate)}/s${eta}`;
  if (p.file) log(`stored ${p.file}`);
}
async function showModels(): Promise<CachedModelInfo[]> {
  const models = await listCachedModels();
  $('models').innerHTML = models.length === 0 ? '<tr><td colspan="4">none</td></tr>' : '';
  for (const m of models) {
    const row = document.createElement('tr');
    for (const cell of [m.id, `${m.shards} / ${m.shardsTotal}`, formatBytes(m.bytes), m.complete ? 'yes' : 'no']) {
      const td = document.createElement('td');
      td.textContent = cell;
      row.append(td);
    }
    $('models').append(row);
  }
  return models;
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

const api = {
  async load(
    url: string, opts: { concurrency?: number; retries?: number; backoffMs?: number; stallTimeoutMs?: number; deadlineMs?: number } = {},
  ): Promise<LoadResult> {
    status(`Loading ${url} ...`);
    log(`load ${url} ${JSON.stringify(opts)}`);
    try {
      const pkg = await loadModelPackage(url, { ...opts, onProgress: showProgress });
      log(`loaded "${pkg.id}": ${pkg.fetched.length} fetched, ${pkg.fromCache.length} from the cache, persisted=${pkg.persisted}`);
      status(`Loaded ${pkg.id}: ${pkg.fetched.length} files fetched, ${pkg.fromCache.length} from the cache.`, 'ok');
      return { ok: true, id: pkg.id, fetched: pkg.fetched, fromCache: pkg.fromCache, persisted: pkg.persisted };
    } catch (err) {
      const e = err as Error;
      log(`error ${e.name}: ${e.message}`);
      status(`${e.name}: ${e.message}`, 'fail');
      return { ok: false, error: { name: e.name, message: e.message } };
    } finally {
      await showModels();
    }
  },

  /** Loads the package from the cache into the CPU engine and decodes greedily. */
  async generate(url: string, ids: number[], n: number): Promise<number[]> {
    const pkg = await loadModelPackage(url, { onProgress: showProgress, onRepair: (r) => log(`re-fetching ${r.file}: the cached copy ${r.reason}`) });
    const model = await loadModelFolder(pkg.files);
    const session = new ModelSession(new CpuOps(), model.config, model.weights as never, ids.length + n);
    const out: number[] = [];
    let logits = await session.ops.read(await session.append(ids, 'last'));
    while (out.length < n) {
      out.push(argmax(logits));
      if (out.length === n) break;
      logits = await session.ops.read(await session.append([out.at(-1)!], 'last'));
    }
    log(`generated ${out.join(' ')}`);
    status(`Generated ${n} tokens from the cached package: ${out.join(' ')}`, 'ok');
    await showModels();
    return out;
  },

  list: () => showModels(),

  async remove(id: string) {
    const freed = await deleteCachedModel(id);
    log(`deleted "${id}": ${freed.entries} entries, ${formatBytes(freed.bytes)}`);
    status(`Deleted ${id}.`, 'ok');
    await showModels();
    return freed;
  },

  async keys(): Promise<string[]> {
    return (await cacheDb.keys()).filter((k) => k.startsWith(`${KEY_PREFIX}:`));
  },

  /** Flips one byte of a stored shard in IndexedDB, as disk corruption would. */
  async corrupt(id: string, file: string): Promise<boolean> {
    const key = entryKey(id, file);
    const value = await cacheDb.get<ArrayBuffer>(key);
    if (!value) return false;
    const bytes = new Uint8Array(value);
    bytes[Math.floor(bytes.length / 3)]! ^= 0xa5;
    await cacheDb.set(key, bytes.buffer);
    log(`corrupted ${file} of "${id}" in IndexedDB`);
    return true;
  },

  /** Moves every cache entry into idb-keyval's shared default database (where versions before issue #18 kept them), plus one key of the page's own. */
  async moveToLegacyDatabase(): Promise<number> {
    const legacy = idbStore(LEGACY_DB_NAME, 'keyval');
    await legacy.set('page-own-setting', { theme: 'dark' });
    const ours = await cacheDb.keys();
    for (const key of ours) {
      await legacy.set(key, await cacheDb.get(key));
      await cacheDb.del(key);
    }
    log(`moved ${ours.length} entries to the legacy database "${LEGACY_DB_NAME}"`);
    return ours.length;
  },

  async legacyKeys(): Promise<string[]> {
    return idbStore(LEGACY_DB_NAME, 'keyval').keys();
  },

  async estimate() {
    return navigator.storage?.estimate ? navigator.storage.estimate() : null;
  },
};

declare global {
  interface Window {
    loaderTest: typeof api;
  }
}
window.loaderTest = api;
void showModels().then(() => {
  document.body.dataset.ready = 'true';
  log('ready');
});
