/// <reference lib="webworker" />
/** The Web Worker: exposes one Engine over comlink. ONNX Runtime's WebGPU build also runs wasm. */
import * as Comlink from 'comlink';
import { watchDeviceLoss } from './backend';
import { Engine } from './engine';
import { installErrorTransfer } from './error-transfer';

// WebGPU needs the asyncify build (27 MB of wasm); plain wasm runs on the 14 MB build, which also
// compiles and runs faster, so each backend loads only its own build
const engine = new Engine(async (backend) => {
  const ort =
    backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  ort.env.logLevel = 'error';
  return ort;
});

installErrorTransfer();
watchDeviceLoss((reason) => engine.deviceLost(reason));
Comlink.expose(engine);
