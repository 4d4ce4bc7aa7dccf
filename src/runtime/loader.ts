/**
 * Loading a model: the manifest, then every segment, checked against its size and sha256, with
 * byte progress. A cached copy that fails the check is dropped and fetched again.
 */
import { ManifestError, messageOf } from './errors';
import { verifyFile } from './integrity';
import { parseManifest, segmentFiles, totalBytes, type FileSpec, type Manifest } from './manifest';
import type { ByteCache, ModelSource } from './model-source';

export interface LoadProgress {
  /** Bytes of segment files loaded so far (from the network or the cache). */
  loaded: number;
  total: number;
  file: string;
  fromCache: boolean;
}

export interface LoadedModel {
  manifest: Manifest;
  /** File path → verified bytes. */
  files: Map<string, Uint8Array>;
  /** Bytes that came over the network this time (0 when everything was cached). */
  downloadedBytes: number;
}

export interface LoadOptions {
  cache?: ByteCache | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Also load the monolithic full-depth graph (benchmarks). */
  includeMonolithic?: boolean;
}

export async function readManifest(source: ModelSource, signal?: AbortSignal): Promise<Manifest> {
  const bytes = await source.read('manifest.json', undefined, signal);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ManifestError(
      `${source.location}/manifest.json`,
      '(root)',
      `is not valid JSON (${messageOf(e)})`,
    );
  }
  return parseManifest(json, `${source.location}/manifest.json`);
}

export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  const { cache, onProgress, signal } = options;
  const manifest = await readManifest(source, signal);
  const wanted: FileSpec[] = segmentFiles(manifest);
  const mono = manifest.baselines?.monolithic;
  if (options.includeMonolithic && mono) wanted.push(mono);
  const total = totalBytes(wanted);
  const files = new Map<string, Uint8Array>();
  let done = 0;
  let downloadedBytes = 0;
  for (const spec of wanted) {
    signal?.throwIfAborted();
    const key = `${source.location}/${spec.path}#${spec.sha256}`;
    const cached = cache ? await cache.get(key).catch(() => undefined) : undefined;
    if (cached) {
      try {
        await verifyFile(spec, cached);
        files.set(spec.path, cached);
        done += spec.bytes;
        onProgress?.({ loaded: done, total, file: spec.path, fromCache: true });
        continue;
      } catch {
        await cache?.delete(key).catch(() => undefined); // corrupted cache entry: fetch again below
      }
    }
    const bytes = await source.read(
      spec.path,
      (n) =>
        onProgress?.({ loaded: done + Math.min(n, spec.bytes), total, file: spec.path, fromCache: false }),
      signal,
    );
    await verifyFile(spec, bytes);
    downloadedBytes += bytes.byteLength;
    files.set(spec.path, bytes);
    done += spec.bytes;
    onProgress?.({ loaded: done, total, file: spec.path, fromCache: false });
    if (cache) await cache.put(key, bytes).catch(() => undefined); // a full cache must not stop loading
  }
  return { manifest, files, downloadedBytes };
}
