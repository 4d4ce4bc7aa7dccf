/**
 * Filling the browser's code cache for onnxruntime's .wasm, once per build.
 *
 * Chromium keeps, for the next visit, the machine code V8 compiled of a .wasm, but only what V8 offers
 * it, and V8 offers it when a megabyte of newly optimised code has piled up (its other trigger, 2 s
 * without new code, never fired in our traces). A first visit stored 1.4–1.6 MB, before its first
 * image, and nothing in the 20 s after it, three more images included, so its return visit compiled
 * much of the runtime again. Creating the model's sessions once more after the first image made V8
 * offer 3.0 MB. Measured on the page (Chromium 156, wasm; docs/page.md): the return visit's first
 * image in 1.07 s, against 1.40 s without (BENCHMARKS.md's run, 5 profiles each). WebGPU's was not
 * measured, so the engine fills it on wasm only.
 */
import { mark } from './marks';

export interface CompiledCodeCache {
  /** The runtime build to fill the code cache for, or null: none fetched here, or done before. */
  pending(): Promise<string | null>;
  /** It was done for `runtime`. */
  filled(runtime: string): Promise<void>;
}

const CACHE_NAME = 'adadiff-compiled-code-v1';

/** The .wasm onnxruntime fetched in this global (the only .wasm it fetches); none in Node. */
function fetchedRuntime(): string | null {
  if (typeof performance === 'undefined' || typeof performance.getEntriesByType !== 'function') return null;
  const wasm = performance.getEntriesByType('resource').filter((e) => /\.wasm(\?|$)/.test(e.name));
  return wasm.at(-1)?.name ?? null;
}

/** The browser's: a runtime build counts as done once its URL (named by its contents) is stored. */
export const browserCompiledCode: CompiledCodeCache = {
  async pending() {
    const runtime = fetchedRuntime();
    if (runtime === null || !('caches' in globalThis)) return null;
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

export interface FillSteps {
  /** Resolves once no run has been under way for `ms`, nor the load. */
  quiet(ms: number): Promise<void>;
  /** Whether the model the files are of is still the loaded one. */
  current(): boolean;
  /** Makes one graph's session and lets it go (OrtExecutor.exercise, in the run queue). */
  exercise(bytes: Uint8Array, path: string): Promise<void>;
}

/**
 * On the first load of a runtime build here, makes every graph's session once more, one at a time,
 * each at a quiet moment, so that V8 stores the code they run; then remembers the build. A run that
 * starts while a session is made waits for that one only. It stops when the model goes; it holds the
 * files' bytes until it ends.
 */
export async function fillCompiledCode(
  cache: CompiledCodeCache,
  files: Map<string, Uint8Array>,
  steps: FillSteps,
): Promise<void> {
  try {
    const runtime = await cache.pending();
    if (runtime === null) return;
    let started = false;
    for (const [path, bytes] of files) {
      await steps.quiet(FILL_AFTER_IDLE_MS);
      if (!steps.current()) return;
      if (!started) mark('compiled-code:start');
      started = true;
      await steps.exercise(bytes, path);
    }
    mark('compiled-code');
    await cache.filled(runtime);
  } catch {
    // a head start for the next visit only: an unloaded model or a full disk costs that, nothing more
  }
}
