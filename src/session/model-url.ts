/**
 * Which model URLs a session loads. A model named in a link or an attribute runs code paths on the
 * visitor's machine: http(s) only, and a model on another origin than the trusted ones only with
 * consent — the visitor's (the page asks) or the embedding site's (the widget's attribute).
 */
import { ParameterError } from '../runtime/errors';
import { isModelId } from '../runtime/model-source';

export { DEFAULT_MODEL_ID, isModelId } from '../runtime/model-source';

/**
 * Where the shipped models and the engine's worker lie relative to a built module (dist/lib/*.js
 * in the package, dist/assets/*.js in the page's build): each model in dist/models/<id>/, the
 * worker beside the library. Relative, and used at run time, so the files can be served from anywhere.
 */
export const SHIPPED_MODELS_PATH = '../models/';
export const WORKER_FILE = 'assets/engine.worker.js';
/** The list of shipped models the site build writes beside them (tools/package/models-index.mjs). */
export const MODELS_INDEX_FILE = 'index.json';

/** One shipped model as the build's index lists it, for a picker to show before loading it. */
export interface ModelsIndexEntry {
  id: string;
  name: string;
  /** Class names; none for an unconditional model. */
  classes: string[];
  image: { channels: number; height: number; width: number };
  /** What the page downloads to run it (the fused prefix replaces the embed and blocks it holds). */
  bytes: number;
  /** The data it was trained on, and the credit its images ask for. */
  data?: { name: string; attribution?: string };
}

export interface ModelsIndex {
  models: ModelsIndexEntry[];
}

/** A model id or URL as the folder URL to load, ending in '/'; ids resolve among the shipped models. */
export function resolveModelRef(
  given: string,
  base: string,
  shippedModels: string,
  protocols?: readonly string[],
): URL {
  return isModelId(given) ? new URL(`${given}/`, shippedModels) : resolveModelUrl(given, base, protocols);
}

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
