/**
 * onnxruntime-web's own settings as a generator takes them: the thread count, where its .wasm
 * files are, and how much it logs. Checked where the generator is made (a bad value is a
 * ParameterError that says what is allowed), sent to the engine with every load as plain strings
 * (a URL object does not cross postMessage), and set on `ort.env` before the first session.
 */
import type { Ort } from '../runtime';
import { ParameterError } from '../runtime/errors';

export const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;
export type OrtLogLevel = (typeof ORT_LOG_LEVELS)[number];
/** More threads than this is a mistake, not a setting: each one is a Web Worker with its own memory. */
export const MAX_ORT_THREADS = 64;

/** onnxruntime-web's settings, as a generator option (`ort`). */
export interface OrtOptions {
  /**
   * ort.env.wasm.numThreads: 0 lets ONNX Runtime choose, 1 runs without extra threads. More than
   * one needs a cross-origin isolated page (COOP/COEP) in browsers; ONNX Runtime falls back to one
   * otherwise.
   */
  numThreads?: number;
  /**
   * ort.env.wasm.wasmPaths: the folder onnxruntime-web's .wasm and .mjs files are served from (a
   * URL ending in '/'; in Node a directory or a file: URL), or each file's URL. Relative URLs are
   * resolved against the page, not the worker. Leave it out to let ONNX Runtime look beside its
   * own module, which is right when a bundler built the worker.
   */
  wasmPaths?: string | URL | { wasm?: string | URL; mjs?: string | URL };
  /** ort.env.logLevel. Default 'error'. */
  logLevel?: OrtLogLevel;
}

/** The settings as they travel to the engine: checked, URLs resolved to strings. */
export interface OrtSettings {
  numThreads?: number;
  wasmPaths?: string | { wasm?: string; mjs?: string };
  logLevel?: OrtLogLevel;
}

const KEYS = ['numThreads', 'wasmPaths', 'logLevel'];
const shown = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * Checks `given` and resolves its URLs with `resolve` (which throws ParameterError for one it
 * cannot take); throws ParameterError naming the setting and what it allows.
 */
export function checkOrtOptions(
  given: unknown,
  resolve: (location: string, setting: string) => string,
): OrtSettings {
  if (given === undefined) return {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ParameterError('ort', `is ${shown(given)}: must be an object such as { numThreads: 1 }`);
  }
  const o = given as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KEYS.includes(key)) {
      throw new ParameterError(`ort.${key}`, `is not a setting this generator takes: use ${KEYS.join(', ')}`);
    }
  }
  const settings: OrtSettings = {};
  if (o.numThreads !== undefined) {
    const n = o.numThreads;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_ORT_THREADS) {
      throw new ParameterError(
        'ort.numThreads',
        `is ${shown(n)}: must be a whole number from 0 (ONNX Runtime chooses) to ${MAX_ORT_THREADS}; 1 runs without extra threads`,
      );
    }
    settings.numThreads = n;
  }
  if (o.logLevel !== undefined) {
    if (!(ORT_LOG_LEVELS as readonly unknown[]).includes(o.logLevel)) {
      throw new ParameterError(
        'ort.logLevel',
        `is ${shown(o.logLevel)}: must be one of ${ORT_LOG_LEVELS.join(', ')}`,
      );
    }
    settings.logLevel = o.logLevel as OrtLogLevel;
  }
  if (o.wasmPaths !== undefined) settings.wasmPaths = checkWasmPaths(o.wasmPaths, resolve);
  return settings;
}

const isLocation = (v: unknown): v is string | URL => typeof v === 'string' || v instanceof URL;

function checkWasmPaths(
  w: unknown,
  resolve: (location: string, setting: string) => string,
): NonNullable<OrtSettings['wasmPaths']> {
  if (isLocation(w)) {
    const prefix = resolve(String(w), 'ort.wasmPaths');
    if (!prefix.endsWith('/')) {
      throw new ParameterError(
        'ort.wasmPaths',
        `is ${shown(String(w))}: a folder must end with '/' (ONNX Runtime appends the file names to it), or give { wasm, mjs } with each file's URL`,
      );
    }
    return prefix;
  }
  const files = w as Record<string, unknown>;
  const bad =
    w === null ||
    typeof w !== 'object' ||
    Array.isArray(w) ||
    Object.keys(files).length === 0 ||
    Object.entries(files).some(([k, v]) => !['wasm', 'mjs'].includes(k) || !isLocation(v));
  if (bad) {
    throw new ParameterError(
      'ort.wasmPaths',
      `must be the URL of the folder that serves onnxruntime-web's dist files (ending in '/'), or { wasm, mjs } with each file's URL`,
    );
  }
  const out: { wasm?: string; mjs?: string } = {};
  if (files.wasm !== undefined) out.wasm = resolve(String(files.wasm), 'ort.wasmPaths.wasm');
  if (files.mjs !== undefined) out.mjs = resolve(String(files.mjs), 'ort.wasmPaths.mjs');
  return out;
}

/** What ONNX Runtime started with, per `env` (once per worker; once per process in Node). */
const started = new WeakMap<object, { numThreads: unknown; wasmPaths: string | undefined }>();
const describe = (v: unknown) => (v === undefined ? 'its default' : JSON.stringify(v));

/**
 * Sets the settings on `ort.env`; called before every session the engine creates. ONNX Runtime
 * reads the thread count and the wasm paths once, when it starts: asking for others afterwards
 * (a second generator in one Node process) is a ParameterError rather than a setting ignored.
 */
export function applyOrtSettings(ort: Pick<Ort, 'env'>, s: OrtSettings): void {
  const env = ort.env;
  const first = started.get(env);
  if (first) {
    if (s.numThreads !== undefined && s.numThreads !== first.numThreads) {
      throw new ParameterError(
        'ort.numThreads',
        `is ${s.numThreads}, but ONNX Runtime here already started with ${describe(first.numThreads)} and reads it only once: give every generator in this process the same ort settings`,
      );
    }
    if (s.wasmPaths !== undefined && JSON.stringify(s.wasmPaths) !== first.wasmPaths) {
      throw new ParameterError(
        'ort.wasmPaths',
        `is ${JSON.stringify(s.wasmPaths)}, but ONNX Runtime here already started with ${first.wasmPaths ?? 'its default'} and reads it only once: give every generator in this process the same ort settings`,
      );
    }
  } else {
    if (s.numThreads !== undefined) env.wasm.numThreads = s.numThreads;
    if (s.wasmPaths !== undefined) env.wasm.wasmPaths = s.wasmPaths;
    started.set(env, { numThreads: env.wasm.numThreads, wasmPaths: JSON.stringify(env.wasm.wasmPaths) });
  }
  if (s.logLevel !== undefined) env.logLevel = s.logLevel;
}
