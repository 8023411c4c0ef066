// The engine's path for Hub sources: pick the cache of this runtime (IndexedDB in a page or worker, the
// cache folder under Node), convert into it once, and report the conversion as load progress.
import type { ModelFiles } from '../formats/byte-source';
import type { EngineLoadOptions, LoadProgress } from '../runtime/api-types';
import { platform } from '#platform';
import { formatBytes } from './errors';
import { convertHubModel, DEFAULT_HUB_QUANT, hubCacheId, type HubSource } from './hub';


export async function loadHubIntoCache(hub: HubSource, options: EngineLoadOptions, onProgress: (p: LoadProgress) => void): Promise<ModelFiles> {
  const quant = options.quant ?? DEFAULT_HUB_QUANT;
  // IndexedDB in a page or worker, the cache folder under Node (src/platform/).
  const target = await platform.conversionTarget(hubCacheId(hub, quant), hub.baseUrl);
  onProgress({ phase: 'download', done: 0, total: 0, text: `${hub.label}: looking in the cache` });
  const result = await convertHubModel(hub, target, {
    quant,
    ...(options.convertShardSize !== undefined ? { shardSize: options.convertShardSize } : {}),
    onProgress: (p) =>
      onProgress({
        phase: 'download',
        done: p.bytesRead,
        total: p.bytesTotal,
        rate: p.rate,
        etaSeconds: p.etaSeconds,
        text:
          `${hub.label}: ${formatBytes(p.bytesRead)} of ${formatBytes(p.bytesTotal)} downloaded at ${formatBytes(p.rate)}/s, ` +
          `converted ${p.tensorsDone}/${p.tensorsTotal} tensors to ${quant} (${p.shardsWritten} shards, ${formatBytes(p.bytesWritten)} stored)${p.resumed ? ', resumed' : ''}`,
        conversion: {
          tensorsDone: p.tensorsDone, tensorsTotal: p.tensorsTotal, shardsWritten: p.shardsWritten, bytesWritten: p.bytesWritten, resumed: p.resumed,
        },
      }),
  });
  onProgress({
    phase: 'download',
    done: 1,
    total: 1,
    text: result.converted
      ? `${hub.label}: converted into the cache (${formatBytes(result.bytesRead)} downloaded${result.resumed ? ' after resuming an interrupted conversion' : ''})`
      : `${hub.label}: from the cache`,
  });
  return result.files;
}
