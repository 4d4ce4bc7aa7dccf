/**
 * Every failure a user can meet is a named error whose message says what went wrong and what to
 * do. `code` lets the UI and the CLI react without parsing messages.
 */
export type ErrorCode =
  | 'manifest'
  | 'integrity'
  | 'fetch'
  | 'parameter'
  | 'cancelled'
  | 'device-lost'
  | 'backend'
  | 'session'
  | 'worker-crashed'
  | 'not-loaded'
  | 'consent';

export class AdaDiffError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    // every subclass spells its name out: a minifier renames classes (new.target.name would be
    // "e"), and the UI tells errors apart by name once they have crossed the worker boundary
    this.name = 'AdaDiffError';
  }
}

/** The manifest (or a file it lists) does not say what this runtime needs. */
export class ManifestError extends AdaDiffError {
  override name = 'ManifestError';
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(
      'manifest',
      `${file}: field "${field}" ${problem}. Re-export the model with tools/export, or point to a model directory made for this version of AdaDiff Web.`,
    );
  }
}

/** A downloaded file's size or sha256 differs from the manifest's. */
export class IntegrityError extends AdaDiffError {
  override name = 'IntegrityError';
  constructor(
    readonly file: string,
    readonly field: 'bytes' | 'sha256',
    expected: string | number,
    actual: string | number,
  ) {
    super(
      'integrity',
      `${file}: ${field} is ${actual}, the manifest says ${expected}. The file is damaged or from another export: download it again (or re-export the model).`,
    );
  }
}

export class FetchError extends AdaDiffError {
  override name = 'FetchError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      'fetch',
      `could not load ${file}: ${detail}. Check the model URL or path and your connection, then retry.`,
    );
  }
}

/** A generate parameter or CLI flag is out of range; nothing is clamped silently. */
export class ParameterError extends AdaDiffError {
  override name = 'ParameterError';
  constructor(
    readonly parameter: string,
    problem: string,
  ) {
    super('parameter', `${parameter} ${problem}`);
  }
}

export class CancelledError extends AdaDiffError {
  override name = 'CancelledError';
  constructor() {
    super(
      'cancelled',
      'the generation was cancelled (by cancel(), an aborted signal, a newer generate() or unload()); call generate() again for its image',
    );
  }
}

export class DeviceLostError extends AdaDiffError {
  override name = 'DeviceLostError';
  constructor(detail: string) {
    super(
      'device-lost',
      `the WebGPU device was lost (${detail}). This often happens when the GPU runs out of memory or its driver resets; switch to the wasm backend or reload the page.`,
    );
  }
}

export class BackendError extends AdaDiffError {
  override name = 'BackendError';
  constructor(message: string) {
    super('backend', message);
  }
}

/**
 * The engine's worker stopped (an uncaught error, a wasm abort, out of memory) or never answered:
 * its calls cannot finish. `detail` says what happened; the message adds what to do.
 */
export class WorkerCrashedError extends AdaDiffError {
  override name = 'WorkerCrashedError';
  constructor(
    readonly detail: string,
    advice = 'The next load or generate starts a fresh engine: try again, and if it keeps stopping, try the wasm backend or a smaller model.',
  ) {
    super('worker-crashed', `${detail}. ${advice}`);
  }
}

/** A generation was asked of an engine that holds no model. */
export class NotLoadedError extends AdaDiffError {
  override name = 'NotLoadedError';
  constructor(
    message = "no model is loaded: load one first (the engine API's generate() loads the model itself when no load has run)",
  ) {
    super('not-loaded', message);
  }
}

/**
 * Loading a model from another origin than the trusted ones was refused: the visitor said no, or
 * the embedding site did not allow it. The message says how to allow it.
 */
export class ConsentRefusedError extends AdaDiffError {
  override name = 'ConsentRefusedError';
  constructor(
    readonly origin: string,
    message = `loading a model from ${origin} was refused: allow that origin (the page asks; the widget takes the allow-cross-origin-model attribute), or serve the model from this site`,
  ) {
    super('consent', message);
  }
}

export function isAdaDiffError(e: unknown): e is AdaDiffError {
  return e instanceof AdaDiffError;
}

/** A message for anything thrown, so no caller ever shows "[object Object]". */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

const ERROR_CLASSES = {
  ManifestError,
  IntegrityError,
  FetchError,
  ParameterError,
  CancelledError,
  DeviceLostError,
  BackendError,
  WorkerCrashedError,
  NotLoadedError,
  ConsentRefusedError,
} as const;

/** What of a runtime error crosses a boundary (a worker's postMessage): its name, message and fields. */
export interface ErrorRecord {
  name: string;
  message: string;
  fields: Record<string, unknown>;
}

export function recordOf(e: AdaDiffError): ErrorRecord {
  const { name, message } = e;
  const fields = Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'name' && k !== 'message'));
  return { name, message, fields };
}

/**
 * The error a record stands for, as its own class again (so `instanceof DeviceLostError` holds on
 * the far side), with the message as it was written; null for a name this runtime does not know.
 */
export function reviveError(r: ErrorRecord): AdaDiffError | null {
  const cls = ERROR_CLASSES[r.name as keyof typeof ERROR_CLASSES];
  if (!cls) return null;
  const e = Object.create(cls.prototype) as AdaDiffError;
  Object.assign(e, r.fields, { name: r.name, message: r.message });
  return e;
}
