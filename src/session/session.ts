/**
 * One generator session: loading, generating, cancelling, recovery after a crashed worker or a
 * lost GPU, the model-URL policy and the parameters a run resolves to. Framework-free, over the
 * worker client, with vanilla zustand stores; the page and <adadiff-generator> only bind to it,
 * so their rules cannot drift apart.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { Backend, GenerateParams, GenerateResult, Manifest, StepEvent } from '../runtime';
import { CancelledError, ConsentRefusedError, DeviceLostError, NotLoadedError } from '../runtime/errors';
import { defaultParams } from '../runtime/params';
import { errorName, WorkerCrashedError, type BackendChoice, type LoadInfo } from '../worker/client';
import type { EngineSource, LoadedEngine } from './engines';
import { needsConsent, resolveModelRef } from './model-url';
import { compareImages, initialRun, stepsInto, type RunState } from './run';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface ModelState {
  status: ModelStatus;
  url: string;
  /** The backend asked for; a lost GPU turns it to wasm. */
  choice: BackendChoice;
  loaded: number;
  total: number;
  /** Compiling sessions after the download. */
  phase: 'download' | 'prepare';
  /**
   * Every file in and every session made, so downloadedBytes, cacheNotice and loadMs hold. 'ready'
   * comes first, once the model can generate: on wasm its deeper blocks may still be downloading.
   */
  complete: boolean;
  manifest: Manifest | null;
  backend: Backend | null;
  backendReason: string;
  downloadedBytes: number;
  cacheNotice: string | null;
  loadMs: number;
  error: string | null;
  errorName: string | null;
  /** The error itself, for callers that rethrow it (the engine API). */
  failure: unknown;
}

export const initialModel: ModelState = {
  status: 'idle',
  url: '',
  choice: 'auto',
  loaded: 0,
  total: 0,
  phase: 'download',
  complete: false,
  manifest: null,
  backend: null,
  backendReason: '',
  downloadedBytes: 0,
  cacheNotice: null,
  loadMs: 0,
  error: null,
  errorName: null,
  failure: null,
};

export interface SessionOptions {
  engines: EngineSource;
  /** What relative model URLs resolve against (the page's address). */
  base: () => string;
  /** The folder of shipped models, which a model id (`emoji`) names one of (model-url.ts). */
  shippedModels: () => string;
  /** Origins a model may come from without consent: the page's own, and the widget's. */
  trustedOrigins: () => readonly (string | undefined)[];
  /**
   * Consent to load a model from another origin, asked only for such a URL: true, or the refusal
   * that says how to give it (the page's link, the widget's attribute). A refusal fails the load.
   */
  consent: (origin: string) => true | string | Promise<true | string>;
  /** URL schemes a model may be loaded from (default http: and https:; Node adds file:). */
  protocols?: readonly string[];
}

export interface GenerateOptions {
  /** Also run full depth on the same seed and compare the two images. */
  compare?: boolean;
  onStep?: (e: StepEvent) => void;
  /** Cancels this run (and only this one). */
  signal?: AbortSignal;
  /**
   * Reject with the error itself instead of resolving null: CancelledError for a run cancelled,
   * replaced by a newer one or overtaken by unload(); the load's error when no model loaded.
   */
  raise?: boolean;
}

export interface Session {
  readonly model: StoreApi<ModelState>;
  readonly run: StoreApi<RunState>;
  /**
   * Loads a model (a second call while one loads waits for it); resolves with what loaded, or null.
   * The model shows 'ready' earlier, once it can generate: on wasm its deeper blocks may still be
   * downloading (`loaded` < `total`), and a run that reaches one waits for it.
   */
  load(url: string, backend: BackendChoice): Promise<LoadInfo | null>;
  /**
   * Generates. Called while a load runs, it waits until the model can generate; a new call cancels
   * the running one.
   * Resolves with the result, or null when it failed or was cancelled (the run state says which).
   */
  generate(params: Partial<GenerateParams>, options?: GenerateOptions): Promise<GenerateResult | null>;
  cancel(): void;
  /** Cancels any run and lets the model go (the engine and its memory); a later load starts afresh. */
  unload(): void;
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
const definedOnly = <T extends object>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

export function createSession(options: SessionOptions): Session {
  const model = createStore<ModelState>(() => initialModel);
  const run = createStore<RunState>(() => initialRun);
  let engine: LoadedEngine | null = null;
  /**
   * The load under way: `started` once its engine can generate (true) or the load ended first (false),
   * `done` once whole.
   */
  let loading: {
    key: string;
    started: Promise<boolean>;
    done: Promise<LoadInfo | null>;
    /** Settles `started` (false) at once: a newer load or an unload replaced this one. */
    replaced: () => void;
  } | null = null;
  let running: AbortController | null = null;

  let loads = 0; // a load that a newer one replaced must not write over the newer one's state

  /** `onStart`: the engine can generate (or the load ended first). */
  async function doLoad(url: string, choice: BackendChoice, onStart: () => void): Promise<LoadInfo | null> {
    const mine = ++loads;
    const current = () => mine === loads;
    const fail = (e: unknown, name = errorName(e)) => {
      if (!current()) return null;
      engine = null;
      model.setState({ status: 'error', error: messageOf(e), errorName: name, failure: e });
      return null;
    };
    model.setState({ ...initialModel, status: 'loading', url, choice });
    let resolved: URL;
    try {
      resolved = resolveModelRef(url, options.base(), options.shippedModels(), options.protocols);
    } catch (e) {
      return fail(e, 'ParameterError');
    }
    const consent = needsConsent(resolved, options.trustedOrigins())
      ? await options.consent(resolved.origin)
      : true;
    if (consent !== true) return fail(new ConsentRefusedError(resolved.origin, consent));
    try {
      engine = null;
      const loaded = await options.engines.load(resolved.href, choice, (p) => {
        if (current())
          model.setState({
            loaded: p.loaded,
            total: p.total,
            phase: p.loaded >= p.total ? 'prepare' : 'download',
          });
      });
      if (!current()) return null;
      engine = loaded;
      const start = loaded.info;
      // ready as soon as the engine can generate: the deeper blocks may still be on their way
      // (`loaded` < `total`), and a run that reaches one waits for it
      model.setState({
        status: 'ready',
        manifest: start.manifest,
        backend: start.backend,
        backendReason: start.backendReason,
      });
      onStart();
      const info = await loaded.loaded;
      if (!current()) return null;
      model.setState({
        downloadedBytes: info.downloadedBytes,
        cacheNotice: info.cacheNotice,
        loadMs: info.loadMs,
        loaded: model.getState().total,
        complete: true,
      });
      return info;
    } catch (e) {
      return fail(e); // a WorkerCrashedError says itself that a retry starts a fresh engine
    }
  }

  /** The load of this model on this backend: the one under way, or a new one (`fresh`: always new). */
  function loadOf(url: string, choice: BackendChoice, fresh = false): NonNullable<typeof loading> {
    const key = `${choice} ${url}`;
    if (loading?.key === key && !fresh) return loading;
    loading?.replaced();
    let onStart!: (ready: boolean) => void;
    const started = new Promise<boolean>((resolve) => (onStart = resolve));
    const done = doLoad(url, choice, () => onStart(true)).finally(() => {
      onStart(false);
      if (loading?.done === done) loading = null;
    });
    loading = { key, started, done, replaced: () => onStart(false) };
    return loading;
  }

  const load = (url: string, choice: BackendChoice) => loadOf(url, choice).done;

  /**
   * After a failed run: a crashed worker or a lost GPU leaves an engine that cannot run again.
   * Either way the model loads afresh — on wasm after a lost GPU, since the device is gone for
   * this page — and the run's error says so. Nothing of the user's is lost: the parameters are
   * the caller's.
   */
  async function recover(e: unknown): Promise<string> {
    const lost = e instanceof DeviceLostError;
    if (!lost && !(e instanceof WorkerCrashedError)) return messageOf(e);
    engine?.discard();
    engine = null;
    const { url, choice } = model.getState();
    // what the user can do next: press Generate once the reloaded model can generate
    // after a crash, a load still under way (its deeper blocks downloading) ran on the engine that
    // died: never that one
    const ready = await loadOf(url, lost ? 'wasm' : choice, !lost).started;
    const what = lost ? messageOf(e) : `${e instanceof WorkerCrashedError ? e.detail : messageOf(e)}.`;
    // the fresh load can fail before it can generate (a file gone meanwhile), or a newer load replace
    // it: never say it loaded
    if (!ready) {
      const now = model.getState();
      return now.status === 'error' ? `${what} Loading the model again failed: ${now.error}` : messageOf(e);
    }
    return lost
      ? `${what} Switched to wasm: press Generate again.`
      : `${what} A fresh engine has loaded the model: press Generate again.`;
  }

  async function generate(given: Partial<GenerateParams>, opts: GenerateOptions = {}) {
    running?.abort();
    const abort = new AbortController();
    running = abort;
    const outside = opts.signal;
    const follow = () => abort.abort();
    if (outside?.aborted) abort.abort();
    outside?.addEventListener('abort', follow, { once: true });
    const cancelled = () => {
      if (opts.raise) throw new CancelledError();
      return null;
    };
    try {
      // a load that a newer one replaces settles at once: wait for the newest
      for (let waited = loading; waited; waited = loading === waited ? null : loading) await waited.started;
      if (abort.signal.aborted) return cancelled(); // a newer call took over while the model loaded
      return await runLoaded(given, opts, abort, cancelled);
    } finally {
      outside?.removeEventListener('abort', follow);
      if (running === abort) running = null;
    }
  }

  async function runLoaded(
    given: Partial<GenerateParams>,
    opts: GenerateOptions,
    abort: AbortController,
    cancelled: () => null,
  ): Promise<GenerateResult | null> {
    const current = engine;
    const manifest = model.getState().manifest;
    if (!current || !manifest || model.getState().status !== 'ready') {
      const { error: why, failure } = model.getState();
      const message = why ? `The model did not load: ${why}` : 'No model is loaded: load one first.';
      run.setState({
        ...initialRun,
        status: 'error',
        error: message,
        errorName: 'NotLoadedError',
        failure,
      });
      if (opts.raise) throw failure instanceof Error ? failure : new NotLoadedError(message);
      return null;
    }
    const params = { preview: true, ...given };
    const started = performance.now();
    // what the run state shows of what was not given: the runtime's defaults for this manifest
    const shown = { ...defaultParams(manifest), ...definedOnly(params) };
    run.setState({
      ...initialRun,
      status: 'running',
      steps: shown.steps,
      threshold: shown.threshold,
      seed: shown.seed,
      classIndex: shown.classIndex,
    });
    // a run a newer call replaced must not write over the newer one's state
    const stale = () => running !== abort;
    const steps = stepsInto(run, stale);
    try {
      const result = await current
        .generate(
          params,
          (e) => {
            if (stale()) return;
            steps.add(e);
            opts.onStep?.(e);
          },
          abort.signal,
        )
        .finally(steps.flush);
      if (stale() || abort.signal.aborted) return cancelled();
      run.setState({
        image: result.image,
        result,
        totals: result.totals,
        firstImageMs: performance.now() - started,
      });
      if (opts.compare) {
        run.setState({ phase: 'full' });
        const full = await current.generate(
          { ...params, mode: 'full', preview: false },
          () => undefined,
          abort.signal,
        );
        const [lo, hi] = manifest.image.valueRange;
        run.setState({
          compare: {
            full: full.image,
            fullTotals: full.totals,
            ...compareImages(result.image, full.image, hi - lo),
          },
        });
      }
      if (stale()) return cancelled();
      run.setState({ status: 'done' });
      return result;
    } catch (e) {
      if (stale()) return cancelled();
      const wasCancelled = e instanceof CancelledError;
      run.setState({
        status: wasCancelled ? 'cancelled' : 'error',
        error: wasCancelled ? null : messageOf(e),
        errorName: wasCancelled ? null : errorName(e),
        failure: e,
      });
      if (!wasCancelled) run.setState({ error: await recover(e) });
      if (opts.raise) throw e;
      return null;
    }
  }

  return {
    model,
    run,
    load,
    generate,
    cancel: () => running?.abort(),
    unload() {
      running?.abort();
      loads++; // a load still running must not install its engine afterwards
      loading?.replaced();
      loading = null;
      engine?.discard();
      engine = null;
      model.setState(initialModel);
    },
  };
}
