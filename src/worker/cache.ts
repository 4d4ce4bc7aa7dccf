/** Cache Storage behind the runtime's ByteCache, so a reload downloads nothing. */
import type { ByteCache } from '../runtime';

export const CACHE_NAME = 'adadiff-models-v1';

export type CacheResult = { cache: ByteCache | undefined; notice: string | null };

export async function openModelCache(): Promise<CacheResult> {
  if (!('caches' in globalThis)) {
    return {
      cache: undefined,
      notice:
        'Cache Storage is not available here, so the model is kept in memory only and will download again next time.',
    };
  }
  try {
    const store = await caches.open(CACHE_NAME);
    const cache: ByteCache = {
      async get(key) {
        const hit = await store.match(key);
        return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
      },
      async put(key, bytes) {
        await store.put(key, new Response(bytes as Uint8Array<ArrayBuffer>));
      },
      async delete(key) {
        await store.delete(key);
      },
    };
    return { cache, notice: null };
  } catch (e) {
    return {
      cache: undefined,
      notice: `Cache Storage could not be opened (${e instanceof Error ? e.message : String(e)}); the model is kept in memory only.`,
    };
  }
}
