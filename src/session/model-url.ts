/**
 * Which model URLs a session loads. A model named in a link or an attribute runs code paths on the
 * visitor's machine: http(s) only, and a model on another origin than the trusted ones only with
 * consent — the visitor's (the page asks) or the embedding site's (the widget's attribute).
 */
import { ParameterError } from '../runtime/errors';

/**
 * Where the shipped model and the engine's worker lie relative to a built module (dist/lib/*.js
 * in the package, dist/assets/*.js in the page's build): the model in dist/models/, the worker
 * beside the library. Relative, and used at run time, so the files can be served from anywhere.
 */
export const SHIPPED_MODEL_PATH = '../models/fmnist-uvit13/';
export const WORKER_FILE = 'assets/engine.worker.js';

/** The model URL resolved against `base`, ending in '/'; throws ParameterError saying what is wrong. */
export function resolveModelUrl(
  given: string,
  base: string,
  protocols: readonly string[] = ['http:', 'https:'],
): URL {
  let url: URL;
  try {
    url = new URL(given, base);
  } catch {
    throw new ParameterError('model', `"${given}" is not a valid model URL.`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ParameterError('model', `URL must be ${protocols.join(' or ')}, not ${url.protocol}`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** Whether loading from this URL needs consent: it lies on none of the trusted origins. */
export function needsConsent(url: URL, trustedOrigins: readonly (string | undefined)[]): boolean {
  return !trustedOrigins.includes(url.origin);
}
