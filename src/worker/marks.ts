/**
 * User Timing marks of the engine's work, in the worker's (or Node's) performance timeline: where a
 * load and a run spend their time, for anyone with DevTools open and for `adadiff bench
 * --first-image`, which reads them from the worker (src/bench/first-image.ts). Each load clears the
 * previous load's marks and each run the previous run's, so the timeline never grows.
 *
 * The names, in the order a load makes them:
 *   load            the engine was asked to load
 *   model:start     the model's files start to come (network or cache)
 *   model           every file is in and checked
 *   runtime:start   the manifest is read: onnxruntime-web (its module asked for at the load's start) starts
 *   runtime         onnxruntime-web's module and its .wasm are compiled and started (and, on WebGPU, its device)
 *   sessions        the sessions start to be created (each as its file comes in)
 *   creating <file> one segment file's session starts to be created
 *   session <file>  and is created
 *   ready           the engine can generate: every graph but the blocks has its session (wasm;
 *                   on WebGPU every session is created and warmed up); blocks still on their way
 *                   are waited for by the passes that reach them
 *   loaded          every session is created: the engine answers the load
 *   compiled-code:start, compiled-code
 *                   on a runtime build's first load in Chromium, after the first image: the model's
 *                   sessions made once more and released, for V8's code cache (compiled-code.ts)
 * and a run's:
 *   generate        the engine was asked to generate
 *   step 1          the first sampling step is done
 *   generated       the image is done
 */
export const MARK_PREFIX = 'adadiff:';

const LOAD_MARKS = [
  'load',
  'model:start',
  'model',
  'runtime:start',
  'runtime',
  'sessions',
  'creating',
  'session',
  'ready',
  'loaded',
  'compiled-code:start',
  'compiled-code',
];
const RUN_MARKS = ['generate', 'step 1', 'generated'];

const timeline = (): Performance | undefined =>
  typeof performance !== 'undefined' && typeof performance.mark === 'function' ? performance : undefined;

/** Marks `adadiff:<name>` now. */
export function mark(name: string): void {
  timeline()?.mark(MARK_PREFIX + name);
}

function clear(names: string[]): void {
  const p = timeline();
  if (!p) return;
  for (const e of p.getEntriesByType('mark')) {
    const name = e.name.slice(MARK_PREFIX.length);
    if (e.name.startsWith(MARK_PREFIX) && names.some((n) => name === n || name.startsWith(`${n} `)))
      p.clearMarks(e.name);
  }
}

/** A new load begins: the marks of the last load and run go. */
export function markLoadStart(): void {
  clear([...LOAD_MARKS, ...RUN_MARKS]);
  mark('load');
}

/** A new run begins: the marks of the last run go. */
export function markRunStart(): void {
  clear(RUN_MARKS);
  mark('generate');
}
