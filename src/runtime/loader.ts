/**
 * Loading a model: the manifest, then every segment, checked against its size and sha256, with
 * byte progress. A cached copy that fails the check is dropped and fetched again.
 */
import { FetchError, ManifestError, messageOf } from './errors';
import { verifyFile } from './integrity';
import {
  parseManifest,
  replacedByPrefix,
  segmentFiles,
  totalBytes,
  type FileSpec,
  type Manifest,
} from './manifest';
import { joinUrl, type ByteCache, type ModelSource } from './model-source';

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
  /** A cache was given but writing to it failed (quota, private mode): the next load downloads again. */
  cacheWriteFailed: boolean;
}

export interface LoadOptions {
  cache?: ByteCache | undefined;
  onProgress?: ((p: LoadProgress) => void) | undefined;
  /**
   * Called once the manifest is read and valid, before any segment file (what a load can start on).
   * A promise it returns holds the reads to one file at a time until it settles (the engine: until
   * onnxruntime has started, so that the model's files do not starve the runtime's download).
   */
  onManifest?: ((m: Manifest) => void | Promise<unknown>) | undefined;
  /** Called as each file is in and checked, before the load ends (the engine creates its session). */
  onFile?: ((spec: FileSpec, bytes: Uint8Array) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Also load the monolithic full-depth graph (benchmarks). */
  includeMonolithic?: boolean;
  /**
   * Leave out the embed and the blocks the fused prefix replaces (the page: it never exits inside
   * the prefix, which embeds the input itself, and they would add their bytes and sessions again).
   * Passes must then run at least the prefix's depth.
   */
  skipFusedBlocks?: boolean;
}

export async function readManifest(source: ModelSource, signal?: AbortSignal): Promise<Manifest> {
  const where = joinUrl(source.location, 'manifest.json');
  const bytes = await source.read('manifest.json', undefined, signal);
  const text = new TextDecoder().decode(bytes);
  if (/^\s*</.test(text)) {
    // single-page-app servers answer unknown paths with index.html instead of a 404
    throw new FetchError(where, 'the server sent an HTML page, not a manifest (is the model URL right?)');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(where, '(root)', `is not valid JSON (${messageOf(e)})`);
  }
  return parseManifest(json, where);
}

/** The files a load with these options reads, after manifest.json (the package ships the page's set). */
export function modelFiles(
  manifest: Manifest,
  options: Pick<LoadOptions, 'skipFusedBlocks' | 'includeMonolithic'> = {},
): FileSpec[] {
  const skipped = new Set(options.skipFusedBlocks ? replacedByPrefix(manifest) : []);
  const wanted: FileSpec[] = segmentFiles(manifest).filter((f) => !skipped.has(f));
  const mono = manifest.baselines?.monolithic;
  if (options.includeMonolithic && mono) wanted.push(mono);
  return wanted;
}

/**
 * How many files a load reads from the network at once: a browser opens 6 connections per host, and
 * a file's request, check and cache write then overlap the others' transfers.
 */
const PARALLEL_FILES = 6;

/**
 * The order a pass needs a model's files in: the graphs it begins and ends with, then its blocks by
 * depth (anything else, the monolithic baseline, last). The first steps exit early, so a model loaded
 * in this order can start its first image before its deeper blocks are in (SegmentRunner's onStart).
 */
export function byNeed(manifest: Manifest): (a: FileSpec, b: FileSpec) => number {
  const { prefix, embed, head, blocks } = manifest.segments;
  const order: FileSpec[] = [...(prefix ? [prefix] : []), embed, head, ...blocks];
  const rank = (f: FileSpec) => {
    const i = order.indexOf(f);
    return i < 0 ? order.length : i;
  };
  return (a, b) => rank(a) - rank(b);
}

/**
 * Loads the manifest, then its files: those the cache holds first, all at once; then the others from
 * the source, PARALLEL_FILES at a time, in the order a pass needs them (byNeed). Returns them in the
 * manifest's order.
 */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  const { cache, onProgress } = options;
  const manifest = await readManifest(source, options.signal);
  const narrow = options.onManifest?.(manifest);
  const wanted = modelFiles(manifest, options);
  const total = totalBytes(wanted);
  const got = new Map<string, Uint8Array>();
  const progress = new Map<string, number>(); // bytes in so far, per file
  let loaded = 0;
  let downloadedBytes = 0;
  let cacheWriteFailed = false;
  const report = (spec: FileSpec, bytes: number, fromCache: boolean) => {
    const n = Math.min(bytes, spec.bytes);
    loaded += n - (progress.get(spec.path) ?? 0);
    progress.set(spec.path, n);
    onProgress?.({ loaded, total, file: spec.path, fromCache });
  };
  const arrived = (spec: FileSpec, bytes: Uint8Array, fromCache: boolean) => {
    got.set(spec.path, bytes);
    report(spec, spec.bytes, fromCache);
    options.onFile?.(spec, bytes);
  };
  // content-addressed, and a query rather than a fragment: Cache Storage ignores fragments
  const keyOf = (spec: FileSpec) => `${joinUrl(source.location, spec.path)}?sha256=${spec.sha256}`;
  const fromCache = async (spec: FileSpec) => {
    const cached = await cache!.get(keyOf(spec)).catch(() => undefined);
    if (!cached) return false;
    try {
      await verifyFile(spec, cached);
    } catch {
      await cache!.delete(keyOf(spec)).catch(() => undefined); // corrupted cache entry: fetch again
      return false;
    }
    arrived(spec, cached, true);
    return true;
  };
  const hits = cache ? await Promise.all(wanted.map(fromCache)) : [];
  const missing = wanted.filter((_, i) => !hits[i]);
  // the caller's abort, or the first failure, stops every read
  const stop = new AbortController();
  const { signal } = stop;
  const follow = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) follow();
  options.signal?.addEventListener('abort', follow, { once: true });
  const writes: Promise<unknown>[] = [];
  const read = async (spec: FileSpec) => {
    signal.throwIfAborted();
    const bytes = await source.read(spec.path, (n) => report(spec, n, false), signal);
    await verifyFile(spec, bytes);
    downloadedBytes += bytes.byteLength;
    arrived(spec, bytes, false);
    // a full or broken cache must not stop loading: the model still runs from memory. Written while
    // the next files download; the load ends when every write has
    if (cache) writes.push(cache.put(keyOf(spec), bytes).catch(() => (cacheWriteFailed = true)));
  };
  const queue = [...missing].sort(byNeed(manifest));
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    for (let spec = queue.shift(); spec && !failure; spec = queue.shift()) {
      try {
        await read(spec);
      } catch (error) {
        failure ??= { error };
        stop.abort();
      }
    }
  };
  // one read at a time while what onManifest returned is pending, then PARALLEL_FILES at a time
  const workers = [worker()];
  const widen = () => {
    while (workers.length < PARALLEL_FILES && queue.length) workers.push(worker());
  };
  if (narrow instanceof Promise) void narrow.then(widen, widen);
  else widen();
  for (let i = 0; i < workers.length; i++) await workers[i]; // workers may join while this waits
  await Promise.all(writes);
  options.signal?.removeEventListener('abort', follow);
  if (failure) throw (failure as { error: unknown }).error;
  // in the manifest's order, whatever order they came in
  const files = new Map(wanted.map((spec) => [spec.path, got.get(spec.path)!]));
  return { manifest, files, downloadedBytes, cacheWriteFailed };
}
