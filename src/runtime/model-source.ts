/**
 * Where model bytes come from. The runtime only sees this interface: the CLI reads files, the
 * worker fetches over HTTP (with Cache Storage in front), tests hand in bytes.
 */
import { FetchError } from './errors';

export interface ModelSource {
  /** Names the model in messages (a URL or a directory). */
  readonly location: string;
  /** The file's bytes; `onBytes(loaded)` reports progress within this file. */
  read(path: string, onBytes?: (loaded: number) => void, signal?: AbortSignal): Promise<Uint8Array>;
}

/** A byte cache keyed by URL and content hash (Cache Storage in the browser). */
export interface ByteCache {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export function joinUrl(base: string, path: string): string {
  return base.endsWith('/') ? base + path : `${base}/${path}`;
}

/** fetch() with streamed progress; works in workers, pages and Node ≥ 18. */
export function httpSource(
  baseUrl: string,
  fetchImpl: typeof fetch = globalThis.fetch.bind(globalThis),
): ModelSource {
  return {
    location: baseUrl,
    async read(path, onBytes, signal) {
      const url = joinUrl(baseUrl, path);
      let response: Response;
      try {
        response = await fetchImpl(url, signal ? { signal } : {});
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new FetchError(url, `network error (${e instanceof Error ? e.message : String(e)})`);
      }
      if (!response.ok) throw new FetchError(url, `HTTP ${response.status} ${response.statusText}`.trim());
      if (!response.body) {
        const bytes = new Uint8Array(await response.arrayBuffer());
        onBytes?.(bytes.byteLength);
        return bytes;
      }
      const reader = response.body.getReader();
      const chunks: Uint8Array[] = [];
      let loaded = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.byteLength;
        onBytes?.(loaded);
      }
      const bytes = new Uint8Array(loaded);
      let offset = 0;
      for (const c of chunks) {
        bytes.set(c, offset);
        offset += c.byteLength;
      }
      return bytes;
    },
  };
}

/** The model the page, the widget, the engine API and the CLI load when none is named. */
export const DEFAULT_MODEL_ID = 'fmnist-uvit13';

/**
 * A shipped model's id: a plain folder name. Anything with a slash, a colon or a leading dot is a
 * URL or a path instead, so `emoji` names the shipped model and `./emoji/` a folder of that name.
 */
export function isModelId(given: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(given);
}
