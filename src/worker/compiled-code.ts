/**
 * Filling Chromium's code cache for onnxruntime's .wasm, once per build.
 *
 * Chromium keeps, for the next visit, the machine code V8 compiled of a .wasm, but only what V8 offers
 * it, and V8 offers it when a megabyte of newly optimised code has piled up (its other trigger, 2 s
 * without new code, never fired in our traces). A first visit stored 1.4–1.6 MB, before its first
 * image, and nothing in the 20 s after it, three more images included, so its return visit compiled
 * much of the runtime again. Creating the model's sessions once more after the first image made V8
 * offer 3.0 MB. Measured on the page (Chromium 156, wasm; docs/page.md): the return visit's first
 * image in 1.13 s against 1.45 s, and 1.04 s against 1.56 s, with this fill alone (two runs, 5
 * profiles each). Not measured, so not done: WebGPU, other browsers (whose engines cache otherwise),
 * a fill before any image, large models (whose extra sessions cost more).
 */
import { mark } from './marks';
import { isRuntimeWasm } from './ort-start';

/**
 * The runtime builds this browser has filled the code cache for. It is site data (Cache Storage) and
 * the code cache goes with the HTTP cache, so clearing only the latter leaves a build marked filled:
 * its return visits are then as slow as before the fill, no slower. (The page's runtime-preload.ts
 * keeps another fact in localStorage, which a worker cannot read: that it fetched the build before.)
 */
export interface FilledRuntimes {
  /** The runtime build to fill the code cache for, or null: none fetched here, or filled before. */
  pending(): Promise<string | null>;
  /** The code cache was filled for `runtime`. */
  filled(runtime: string): Promise<void>;
}

const CACHE_NAME = 'adadiff-compiled-code-v1';

/** The .wasm onnxruntime fetched in this global; none in Node. */
function fetchedRuntime(): string | null {
  if (typeof performance === 'undefined' || typeof performance.getEntriesByType !== 'function') return null;
  const wasm = performance.getEntriesByType('resource').filter((e) => isRuntimeWasm(e.name));
  return wasm.at(-1)?.name ?? null;
}

/** Chromium's V8 (Chrome, Edge, Opera…, and HeadlessChrome), the one whose caching the fill was measured on. */
const inChromium = () => typeof navigator !== 'undefined' && /Chrom(e|ium)\//.test(navigator.userAgent);

/** The browser's: a runtime build counts as filled once its URL (named by its contents) is stored. */
export const browserFilledRuntimes: FilledRuntimes = {
  async pending() {
    const runtime = fetchedRuntime();
    if (runtime === null || !inChromium() || !('caches' in globalThis)) return null;
    const store = await caches.open(CACHE_NAME);
    return (await store.match(runtime)) ? null : runtime;
  },
  async filled(runtime) {
    const store = await caches.open(CACHE_NAME);
    await store.put(runtime, new Response(''));
  },
};

/**
 * How long the load, and the last run, must lie behind before the engine makes a session for the code
 * cache: a Generate pressed within that time of either never waits for one.
 */
const FILL_AFTER_IDLE_MS = 1000;
/**
 * The most a model's files may weigh for a fill: the shipped models' page loads hold 3.8–3.9 MB. Not the same
 * measure as executor.ts's PREPACK_MAX_MODEL_BYTES (every segment file), though both keep a small
 * model's extra memory small: a change to one is a reason to look at the other.
 */
const FILL_MAX_BYTES = 16e6;

export interface FillSteps {
  /**
   * Resolves true once a run has ended since the load and neither the load nor a run has been under
   * way for `ms`; false once the model is no longer the loaded one.
   */
  quiet(ms: number): Promise<boolean>;
  /** Makes one graph's session and lets it go (OrtExecutor.exercise, in the run queue). */
  exercise(bytes: Uint8Array, path: string): Promise<void>;
}

/**
 * On the first load of a runtime build here, after the first image, makes every graph's session once
 * more, one at a time, each at a quiet moment, so that V8 stores the code they run; then remembers the
 * build. A run that starts while a session is made waits for that one only. It stops when the model
 * goes, and lets each file's bytes go once its session is made.
 */
export async function fillCompiledCode(
  runtimes: FilledRuntimes,
  files: Map<string, Uint8Array>,
  steps: FillSteps,
): Promise<void> {
  try {
    const bytes = [...files.values()].reduce((sum, b) => sum + b.byteLength, 0);
    const runtime = bytes <= FILL_MAX_BYTES ? await runtimes.pending() : null;
    if (runtime === null) return;
    let started = false;
    for (const [path, graph] of files) {
      if (!(await steps.quiet(FILL_AFTER_IDLE_MS))) return;
      if (!started) mark('compiled-code:start');
      started = true;
      await steps.exercise(graph, path);
      files.delete(path);
    }
    await runtimes.filled(runtime);
    mark('compiled-code');
  } catch {
    // a head start for the next visit only: an unloaded model or a full disk costs that, nothing more
  } finally {
    files.clear();
  }
}
