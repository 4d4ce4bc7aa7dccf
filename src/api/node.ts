/**
 * adadiff-web/node: the same createGenerator() in Node, on ONNX Runtime's wasm build, with the
 * engine in this process. `model` is a shipped model's id, a directory, a file: URL or an http(s)
 * URL; the default is fmnist-uvit13, which this package ships.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BackendError, CancelledError, encodePng, httpSource, ParameterError } from '../runtime';
import { startOf, type EngineSource } from '../session/engines';
import { Engine, type EngineHost } from '../worker/engine';
import { checkOrtOptions, type OrtSettings } from '../worker/ort-settings';
import { directorySource, loadOrt, modelDirOf, shippedModelsDir } from '../node/source';
import { DEFAULT_MODEL_ID } from '../session/model-url';
import { createGeneratorOn, type Generator, type GeneratorOptions } from './generator';

export * from './generator';
export { encodePng };

const nodeHost: EngineHost = {
  source: (url) => (url.startsWith('file:') ? directorySource(fileURLToPath(url)) : httpSource(url)),
  async chooseBackend(choice) {
    if (choice === 'webgpu') {
      throw new BackendError('Node runs on wasm only: pass backend "wasm" or "auto".');
    }
    return { backend: 'wasm', reason: choice === 'wasm' ? 'chosen by you' : 'Node runs on wasm' };
  },
  // the files are on disk, or fetched again per process: nothing to cache
  openCache: async () => ({ cache: undefined, notice: null }),
};

/**
 * One engine in this process: a load replaces the model it holds. `ort` is set on the process's
 * one onnxruntime-web, which reads the thread count and the wasm paths once (ort-settings.ts).
 */
function inProcessEngine(ort: OrtSettings): EngineSource {
  const engine = new Engine(loadOrt, nodeHost);
  return {
    async load(url, backend, onProgress) {
      const { info, loaded } = await startOf((onStart) =>
        engine.load(url, backend, onProgress, ort, onStart),
      );
      return {
        info,
        loaded,
        async generate(params, onStep, signal) {
          if (signal.aborted) throw new CancelledError();
          const stop = () => engine.cancel();
          signal.addEventListener('abort', stop, { once: true });
          try {
            return await engine.generate(params, onStep);
          } finally {
            signal.removeEventListener('abort', stop);
          }
        },
        discard: () => void engine.unload(),
      };
    },
  };
}

/** A shipped model's id stays one; a directory path becomes a file: URL; URLs stay as they are. */
const modelUrl = (model: string | URL): string => {
  if (model instanceof URL || /^(file|https?):/i.test(model)) return String(model);
  const dir = modelDirOf(model);
  return dir !== model ? model : pathToFileURL(path.resolve(model) + path.sep).href;
};

/** In Node, onnxruntime-web takes its files from a directory: a path, or a file: URL. */
function localPath(location: string, setting: string): string {
  if (/^file:/i.test(location)) return new URL(location).href;
  if (/^[a-z][a-z0-9+.-]+:/i.test(location)) {
    throw new ParameterError(
      setting,
      `is ${JSON.stringify(location)}: in Node it must be a directory or a file: URL (onnxruntime-web reads its files from disk here)`,
    );
  }
  const folder = /[\\/]$/.test(location);
  return pathToFileURL(path.resolve(location) + (folder ? path.sep : '')).href;
}

export function createGenerator(options: GeneratorOptions = {}): Generator {
  const ort = checkOrtOptions(options.ort, localPath);
  return createGeneratorOn(
    {
      engines: inProcessEngine(ort),
      base: pathToFileURL(process.cwd() + path.sep).href,
      shippedModels: pathToFileURL(shippedModelsDir() + path.sep).href,
      defaultModel: DEFAULT_MODEL_ID,
      protocols: ['file:', 'http:', 'https:'],
      clearCache: async () => undefined,
    },
    { ...options, model: options.model === undefined ? undefined : modelUrl(options.model) },
  );
}
