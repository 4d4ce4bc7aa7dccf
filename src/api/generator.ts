/**
 * The engine API: one generator as a promise-based object, over the same session the page and
 * <adadiff-generator> bind to (src/session), so its rules — generate waits for the load, a lost
 * GPU reloads on wasm, a new generate cancels the running one — are theirs. Environment-free:
 * browser.ts gives it a worker, node.ts an engine in the same process.
 */
import type { GenerateParams, GenerateResult, LoadProgress, StepEvent } from '../runtime';
import { AdaDiffError, BackendError, CancelledError, ParameterError } from '../runtime/errors';
import type { EngineSource } from '../session/engines';
import { createSession } from '../session/session';
import {
  BACKEND_CHOICES_TEXT,
  isBackendChoice,
  type BackendChoice,
  type LoadInfo,
  type StartInfo,
} from '../worker/api';
import type { OrtOptions } from '../worker/ort-settings';

export type { BackendChoice, LoadInfo, StartInfo } from '../worker/api';
export type { OrtLogLevel, OrtOptions } from '../worker/ort-settings';
export type { GenerateParams, GenerateResult, LoadProgress, StepEvent, Totals } from '../runtime';
export type { ErrorCode } from '../runtime/errors';
// the errors a generator throws and rejects with, the same set in the browser and in Node: every
// one an AdaDiffError with a `code`
export {
  AdaDiffError,
  BackendError,
  CancelledError,
  ConsentRefusedError,
  DeviceLostError,
  FetchError,
  IntegrityError,
  ManifestError,
  NotLoadedError,
  ParameterError,
  WorkerCrashedError,
} from '../runtime/errors';

export interface GeneratorOptions {
  /**
   * A shipped model's id (`fmnist-uvit13`, `emoji`), or the URL of a model's folder (the one holding
   * manifest.json; in Node also a path). Default: fmnist-uvit13.
   */
  model?: string | URL;
  /** 'auto' (the default) takes WebGPU on a hardware adapter and wasm otherwise. */
  backend?: BackendChoice;
  /**
   * onnxruntime-web's settings (ort.env), set in the engine before its first session: thread
   * count, where its .wasm files are, log level. A bad value throws ParameterError here.
   */
  ort?: OrtOptions;
}

/**
 * What the generator runs. It is known once the model can generate, which is before its deeper
 * blocks are in (`complete: false`); the load's bytes and time are known once it is whole.
 */
export type GeneratorInfo = (StartInfo & { complete: false }) | (LoadInfo & { complete: true });

/** Bytes of model files loaded so far (from the network or the cache), of `total`. */
export type LoadProgressBytes = Pick<LoadProgress, 'loaded' | 'total'>;

export interface GenerateCallOptions {
  /** Called after every denoising step with the blocks run so far and a preview. */
  onStep?: (event: StepEvent) => void;
  /** Aborting it cancels the generation: its promise rejects with CancelledError. */
  signal?: AbortSignal;
}

export interface Generator {
  /** Downloads (or reads from the cache) and prepares the model; a second call returns the same load. */
  load(onProgress?: (progress: LoadProgressBytes) => void): Promise<LoadInfo>;
  /**
   * One image. Loads the model first when no load has run; while a load runs, waits for it.
   * A new call cancels the one running (it rejects with CancelledError).
   */
  generate(params?: Partial<GenerateParams>, options?: GenerateCallOptions): Promise<GenerateResult>;
  /** Cancels the running generation, if any. */
  cancel(): void;
  /** Lets the model and its engine go; a later load or generate starts afresh. */
  unload(): Promise<void>;
  /** Unloads, and deletes the cached model files (browsers' Cache Storage; nothing in Node). */
  purge(): Promise<void>;
  /**
   * What runs: the backend and why, and the manifest, from the moment the model can generate (so
   * after any generate() has resolved); the bytes downloaded and the load time once `complete`.
   * Null before.
   */
  readonly info: GeneratorInfo | null;
}

export interface GeneratorHost {
  engines: EngineSource;
  /** What a relative model location resolves against. */
  base: string;
  /** The folder of the models this package ships, which a model id names one of. */
  shippedModels: string;
  defaultModel: string;
  protocols?: readonly string[];
  clearCache(): Promise<void>;
}

/**
 * Every error a generator throws is an AdaDiffError with a code: one from elsewhere (ONNX Runtime,
 * the browser) becomes a BackendError that keeps it as `cause`.
 */
function named(failure: unknown, fallback: string | null = null): AdaDiffError {
  if (failure instanceof AdaDiffError) return failure;
  const what = failure instanceof Error ? failure.message : failure == null ? fallback : String(failure);
  const e = new BackendError(
    `the engine failed: ${what ?? 'no reason given'}. Try again; if it keeps failing, try backend "wasm", and report it with this message if that fails too`,
  );
  e.cause = failure;
  return e;
}

/** Checks the options every environment shares; throws ParameterError saying what is allowed. */
function checkGeneratorOptions(options: GeneratorOptions): void {
  const { model, backend } = options;
  if (model !== undefined && typeof model !== 'string' && !(model instanceof URL)) {
    throw new ParameterError('model', `must be a model id, a URL or a path, not ${typeof model}`);
  }
  if (backend !== undefined && !isBackendChoice(backend)) {
    throw new ParameterError('backend', `is ${JSON.stringify(backend)}: must be ${BACKEND_CHOICES_TEXT}`);
  }
}

export function createGeneratorOn(host: GeneratorHost, options: GeneratorOptions = {}): Generator {
  checkGeneratorOptions(options);
  // the caller chose the model in code, so there is no visitor to ask about its origin
  const session = createSession({
    engines: host.engines,
    base: () => host.base,
    shippedModels: () => host.shippedModels,
    trustedOrigins: () => [],
    consent: () => true,
    protocols: host.protocols,
  });
  const model = String(options.model ?? host.defaultModel);
  const backend = options.backend ?? 'auto';

  async function load(onProgress?: (progress: LoadProgressBytes) => void): Promise<LoadInfo> {
    const stop = onProgress
      ? session.model.subscribe((s) => {
          // the last bytes may come after 'ready' (the model can generate before its deeper blocks)
          if (s.status === 'loading' || (s.status === 'ready' && !s.complete))
            onProgress({ loaded: s.loaded, total: s.total });
        })
      : () => undefined;
    try {
      const loaded = await session.load(model, backend);
      if (loaded) return loaded;
      const s = session.model.getState();
      // no error: unload() overtook the load
      throw s.status === 'error' ? named(s.failure, s.error) : new CancelledError();
    } finally {
      stop();
    }
  }

  async function generate(
    params: Partial<GenerateParams> = {},
    { onStep, signal }: GenerateCallOptions = {},
  ): Promise<GenerateResult> {
    // started, not awaited: the session's generate waits for a running load itself, so a later
    // call made meanwhile still replaces this one, as the newest call should. A failed load is
    // tried again: the file may be there now
    const { status } = session.model.getState();
    if (status === 'idle' || status === 'error') load().catch(() => undefined);
    const result = await session
      .generate({ preview: Boolean(onStep), ...params }, { onStep, signal, raise: true })
      .catch((e: unknown) => {
        throw named(e, 'the generation failed');
      });
    if (!result) throw new CancelledError(); // raise: every run without a result has thrown already
    return result;
  }

  return {
    load,
    generate,
    cancel: () => session.cancel(),
    async unload() {
      session.unload();
    },
    async purge() {
      session.unload();
      await host.clearCache();
    },
    get info(): GeneratorInfo | null {
      // from the session, so a reload after a lost GPU (now on wasm) shows here too
      const s = session.model.getState();
      if (s.status !== 'ready' || !s.manifest || !s.backend) return null;
      const { manifest, backend, backendReason } = s;
      if (!s.complete) return { complete: false, manifest, backend, backendReason };
      const { downloadedBytes, cacheNotice, loadMs } = s;
      return { complete: true, manifest, backend, backendReason, downloadedBytes, cacheNotice, loadMs };
    },
  };
}
