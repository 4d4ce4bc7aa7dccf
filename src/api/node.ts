/**
 * adadiff-web/node: the same createGenerator() in Node, on ONNX Runtime's wasm build, with the
 * engine in this process. `model` is a shipped model's id, a directory, a file: URL or an http(s)
 * URL; the default is fmnist-uvit13, which this package ships.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BackendError, CancelledError, encodePng, httpSource } from '../runtime';
import type { EngineSource } from '../session/engines';
import { Engine, type EngineHost } from '../worker/engine';
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

/** One engine in this process: a load replaces the model it holds. */
function inProcessEngine(): EngineSource {
  const engine = new Engine(loadOrt, nodeHost);
  return {
    async load(url, backend, onProgress) {
      const info = await engine.load(url, backend, onProgress);
      return {
        info,
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

export function createGenerator(options: GeneratorOptions = {}): Generator {
  return createGeneratorOn(
    {
      engines: inProcessEngine(),
      base: pathToFileURL(process.cwd() + path.sep).href,
      shippedModels: pathToFileURL(shippedModelsDir() + path.sep).href,
      defaultModel: DEFAULT_MODEL_ID,
      protocols: ['file:', 'http:', 'https:'],
      clearCache: async () => undefined,
    },
    { ...options, model: options.model === undefined ? undefined : modelUrl(options.model) },
  );
}
