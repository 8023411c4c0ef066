// Sources the engine reads from the IndexedDB model cache (see defaultResolver in src/runtime/engine.ts).
import { CACHE_SCHEME } from '../../index';

export { CACHE_SCHEME };

export function cacheSource(id: string): string {
  return `${CACHE_SCHEME}${id}`;
}
