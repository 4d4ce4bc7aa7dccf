/**
 * The engine's Web Worker: one Engine exposed over comlink on this worker's global scope. The
 * page's worker (engine.worker.ts) and the package's `adadiff-web/worker` (src/api/worker.ts,
 * which an app's bundler builds into the app's own worker) both run exactly this.
 */
import * as Comlink from 'comlink';
import { watchDeviceLoss } from './backend';
import { Engine } from './engine';
import { installErrorTransfer } from './error-transfer';

let exposed = false;

/** Exposes the engine once; a second call (the module imported twice) does nothing. */
export function exposeEngine(): void {
  if (exposed) return;
  exposed = true;
  // Each backend loads only its own build of onnxruntime-web (gzip-9 sizes of the .wasm):
  // wasm the CPU-only build (3.5 MiB); WebGPU the native WebGPU EP, on JSPI where the browser has
  // WebAssembly.Suspending (3.9 MiB), else on asyncify (6.3 MiB). All are imported by name: inside
  // the package's prebuilt worker they are bundled, in `adadiff-web/worker` the app's bundler
  // resolves them (and emits their .wasm files)
  const engine = new Engine(async (backend) => {
    const ort =
      backend === 'wasm'
        ? await import('onnxruntime-web/wasm')
        : 'Suspending' in WebAssembly
          ? await import('onnxruntime-web/jspi')
          : await import('onnxruntime-web/webgpu');
    ort.env.logLevel = 'error'; // the default; a generator's ort.logLevel is set after this
    return ort;
  });
  installErrorTransfer();
  watchDeviceLoss((reason) => engine.deviceLost(reason));
  Comlink.expose(engine);
}
