/**
 * adadiff-web/worker: the engine's Web Worker as a module an app's bundler builds, so that the
 * bundler also resolves onnxruntime-web and emits its .wasm files (no copy step). Importing it
 * starts the engine in the worker that imports it; hand that worker to createGenerator:
 *
 *   // adadiff.worker.js
 *   import 'adadiff-web/worker';
 *   // app
 *   createGenerator({ worker: () => new Worker(new URL('./adadiff.worker.js', import.meta.url), { type: 'module' }) });
 *
 * The same code as the package's prebuilt worker (src/worker/engine.worker.ts).
 */
import { exposeEngine } from '../worker/expose';

exposeEngine();

export {};
