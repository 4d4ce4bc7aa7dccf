/**
 * adadiff-web's browser entry: createGenerator() over a Web Worker of its own. The worker, the
 * ONNX Runtime files and the shipped model are found next to this module (dist/lib), so it runs
 * as is from a CDN or any static host; a bundler that moves this module elsewhere is told where
 * those files are served with `assets`.
 */
import { ParameterError } from '../runtime/errors';
import { privateEngine, startWorker } from '../session/engines';
import { DEFAULT_MODEL_ID, SHIPPED_MODELS_PATH, WORKER_FILE } from '../session/model-url';
import { CACHE_NAME } from '../worker/cache';
import { createEngineClient } from '../worker/client';
import { checkOrtOptions } from '../worker/ort-settings';
import { createGeneratorOn, type Generator, type GeneratorOptions } from './generator';

export * from './generator';

export interface BrowserGeneratorOptions extends GeneratorOptions {
  /**
   * The URL of the package's dist/lib folder as your site serves it, when a bundler has moved
   * this module away from it (copy node_modules/adadiff-web/dist to your static files).
   */
  assets?: string | URL;
}

export function createGenerator(options: BrowserGeneratorOptions = {}): Generator {
  const page = globalThis.location?.href;
  // a string, not a `new URL(literal, import.meta.url)`: bundlers must not rewrite it
  const here = import.meta.url;
  let lib: URL;
  try {
    lib = new URL(String(options.assets ?? new URL('./', here)), page);
  } catch {
    throw new ParameterError('assets', `is ${JSON.stringify(String(options.assets))}: not a valid URL`);
  }
  if (!lib.pathname.endsWith('/')) lib.pathname += '/';
  const ort = checkOrtOptions(options.ort, (location, setting) => {
    try {
      // against the page: a relative URL in the worker would resolve against the worker's script
      return new URL(location, page ?? lib).href;
    } catch {
      throw new ParameterError(setting, `is ${JSON.stringify(location)}: not a valid URL`);
    }
  });
  return createGeneratorOn(
    {
      engines: privateEngine(() => createEngineClient(() => startWorker(new URL(WORKER_FILE, lib)), { ort })),
      base: page ?? lib.href,
      shippedModels: new URL(SHIPPED_MODELS_PATH, lib).href,
      defaultModel: DEFAULT_MODEL_ID,
      async clearCache() {
        if ('caches' in globalThis) await caches.delete(CACHE_NAME);
      },
    },
    options,
  );
}
