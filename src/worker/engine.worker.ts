/// <reference lib="webworker" />
/** The Web Worker: exposes one Engine over comlink. ONNX Runtime's WebGPU build also runs wasm. */
import * as Comlink from 'comlink';
import { Engine } from './engine';

const engine = new Engine(async () => {
  const ort = await import('onnxruntime-web/webgpu');
  ort.env.logLevel = 'error';
  return ort;
});

Comlink.expose(engine);
