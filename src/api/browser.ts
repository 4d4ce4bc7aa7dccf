/**
 * adadiff-web's browser entry: createGenerator() over a Web Worker. By default the worker, the
 * ONNX Runtime files and the shipped models are found next to this module (dist/lib), so it runs
 * as is from a CDN or any static host; a bundler that moves this module elsewhere is told where
 * those files are served with `assets`, or builds the worker itself from `adadiff-web/worker`
 * and hands it over as `worker` (then the bundler also emits ONNX Runtime's files).
 */
import { ParameterError } from '../runtime/errors';
import { privateEngine, startWorker } from '../session/engines';
import { DEFAULT_MODEL_ID, SHIPPED_MODELS_PATH, WORKER_FILE } from '../session/model-url';
import { CACHE_NAME } from '../worker/cache';
import { createEngineClient } from '../worker/client';
import { checkOrtOptions } from '../worker/ort-settings';
import { createGeneratorOn, type Generator, type GeneratorOptions } from './generator';

export * from './generator';

/** How long a worker the app made has to say that it runs the engine. */
const HANDSHAKE_MS = 30_000;

export interface BrowserGeneratorOptions extends GeneratorOptions {
  /**
   * The URL of the package's dist/lib folder as your site serves it, when a bundler has moved
   * this module away from it (copy node_modules/adadiff-web/dist to your static files). With
   * `worker`, only the shipped models are looked for there (`../models/` from it).
   */
  assets?: string | URL;
  /**
   * The engine's worker, made by your app from a module that imports `adadiff-web/worker`, so
   * your bundler builds it with onnxruntime-web and its .wasm files:
   * `() => new Worker(new URL('./adadiff.worker.js', import.meta.url), { type: 'module' })`.
   * Give the function rather than a Worker: after unload() or a crash the generator starts a
   * fresh one (a Worker given as such serves one engine only).
   */
  worker?: Worker | (() => Worker);
}

const isWorker = (w: unknown): w is Worker =>
  typeof w === 'object' &&
  w !== null &&
  typeof (w as Worker).postMessage === 'function' &&
  typeof (w as Worker).terminate === 'function' &&
  typeof (w as Worker).addEventListener === 'function';

const kind = (v: unknown) =>
  v === null ? 'null' : typeof v === 'object' ? 'an object that is not a Worker' : `a ${typeof v}`;

const NOT_A_WORKER =
  "must be a Worker started from a module that imports 'adadiff-web/worker', or a function that returns one";

/** The app's worker as a factory; a Worker given as such is used once and then refused, saying why. */
function workerFactory(given: unknown): () => Worker {
  if (typeof given === 'function') {
    return () => {
      const w: unknown = (given as () => unknown)();
      if (!isWorker(w)) throw new ParameterError('worker', `returned ${kind(w)}: it ${NOT_A_WORKER}`);
      return w;
    };
  }
  if (!isWorker(given)) throw new ParameterError('worker', `is ${kind(given)}: it ${NOT_A_WORKER}`);
  let used = false;
  return () => {
    if (used) {
      throw new ParameterError(
        'worker',
        "was a Worker, which the generator has ended (unload() or a crash) and cannot start again: give a function that returns a new one, () => new Worker(new URL('./adadiff.worker.js', import.meta.url), { type: 'module' })",
      );
    }
    used = true;
    return given;
  };
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
  const made = options.worker === undefined ? null : workerFactory(options.worker);
  const start = made ?? (() => startWorker(new URL(WORKER_FILE, lib)));
  return createGeneratorOn(
    {
      engines: privateEngine(() =>
        createEngineClient(start, { ort, handshakeMs: made ? HANDSHAKE_MS : undefined }),
      ),
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
