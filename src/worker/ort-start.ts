/**
 * Starting onnxruntime-web on its own. It starts lazily, inside the first InferenceSession.create:
 * it fetches and compiles its .wasm, starts the module and, on WebGPU, gets its device. A session
 * over a graph of one Identity node makes it do all that without the model, so the start can be
 * timed apart from the sessions and run while the model downloads.
 */
import { AdaDiffError, BackendError, type Backend, type Ort } from '../runtime';
import type { OrtSettings } from './ort-settings';

/** ModelProto: IR 8, opset 17, graph "g": y = Identity(x), x and y float[1] (67 bytes). */
const ONE_NODE_GRAPH = Uint8Array.from([
  8, 8, 18, 0, 58, 55, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110, 116, 105, 116, 121, 18, 1,
  103, 90, 15, 10, 1, 120, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 98, 15, 10, 1, 121, 18, 10, 10, 8, 8, 1,
  18, 4, 10, 2, 8, 1, 66, 4, 10, 0, 16, 17,
]);

export interface StartedOrt {
  /**
   * Lets the starting session go. Hold it until the model's sessions exist: on WebGPU, releasing
   * the last session may release ONNX Runtime's device, which the next session would create anew.
   */
  release(): Promise<void>;
}

/** Starts onnxruntime-web on `backend`; rejects as InferenceSession.create does when it cannot. */
export async function startOrt(ort: Ort, backend: Backend): Promise<StartedOrt> {
  const session = await ort.InferenceSession.create(ONE_NODE_GRAPH, {
    executionProviders: [backend],
    logSeverityLevel: 3,
  });
  return { release: () => session.release().catch(() => undefined) };
}

/** Whether a URL this global fetched is onnxruntime's .wasm, the only .wasm it fetches. */
export const isRuntimeWasm = (url: string): boolean => /\.wasm(\?|$)/.test(url);

/**
 * Resolves once this global fetches a .wasm file, which is onnxruntime-web's (the only one it fetches):
 * its bytes are in, and what remains of its start is compile and init, which hold the thread. Also once
 * `started` settles (Node reads the .wasm from disk; an already started runtime fetches nothing). Call
 * it before the runtime starts.
 */
export function runtimeFetched(started: () => Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    let observer: PerformanceObserver | undefined;
    const done = () => {
      observer?.disconnect();
      resolve();
    };
    if (
      typeof PerformanceObserver !== 'undefined' &&
      PerformanceObserver.supportedEntryTypes?.includes('resource')
    ) {
      observer = new PerformanceObserver((list) => {
        if (list.getEntries().some((e) => isRuntimeWasm(e.name))) done();
      });
      observer.observe({ type: 'resource' });
    }
    started().then(done, done);
  });
}

/**
 * ONNX Runtime failing to start at all (most often a .wasm or .mjs file it could not fetch: "no
 * available backend found") as a BackendError that says where it looked and what to set; the
 * runtime's own errors as they are.
 */
export function notStarted(e: unknown, backend: Backend, s: OrtSettings): unknown {
  const message = e instanceof Error ? e.message : String(e);
  const failedToStart = /no available backend found/i.test(message);
  if (e instanceof AdaDiffError && !failedToStart) return e;
  // the session's own wrapping says "the file may be damaged", which is not the case here
  const said = /\((no available backend found[\s\S]*)\)\.[^()]*$/i.exec(message)?.[1] ?? message;
  const where =
    s.wasmPaths === undefined
      ? 'it looks for them beside its own module'
      : `ort.wasmPaths is ${JSON.stringify(s.wasmPaths)}`;
  return new BackendError(
    `ONNX Runtime could not start on ${backend}: ${said}. If it could not fetch its .wasm or .mjs files (${where}), ` +
      `serve onnxruntime-web's dist files and set ort.wasmPaths to their folder, or let your bundler build the worker from adadiff-web/worker; otherwise try the wasm backend.`,
  );
}
