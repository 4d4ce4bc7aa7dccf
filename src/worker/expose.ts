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
  // WebGPU needs the asyncify build (27 MB of wasm); plain wasm runs on the 14 MB build, which
  // also compiles and runs faster, so each backend loads only its own build. Both are imported by
  // name: inside the package's prebuilt worker they are bundled, in `adadiff-web/worker` the
  // app's bundler resolves them (and emits their .wasm files)
  const engine = new Engine(async (backend) => {
    const ort =
      backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
    ort.env.logLevel = 'error'; // the default; a generator's ort.logLevel is set after this
    return ort;
  });
  installErrorTransfer();
  watchDeviceLoss((reason) => engine.deviceLost(reason));
  Comlink.expose(engine);
}
