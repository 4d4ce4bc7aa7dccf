/**
 * The engine: a thin shell over src/runtime that owns one loaded model and its sessions.
 * It runs inside the worker (engine.worker.ts exposes it with comlink) and could run in-process.
 */
import {
  BackendError,
  CancelledError,
  DeviceLostError,
  NotLoadedError,
  generate,
  httpSource,
  loadModel,
  modelFiles,
  resolveParams,
  SegmentRunner,
  type GenerateParams,
  type Backend,
  type LoadedModel,
  type Manifest,
  type LoadProgress,
  type ModelSource,
  type Ort,
} from '../runtime';
import {
  ENGINE_PROTOCOL,
  type BackendChoice,
  type EngineApi,
  type EngineStats,
  type LoadInfo,
  type StartInfo,
} from './api';
import { ArrivingFiles, markingSessions } from './arrivals';
import { chooseBackend } from './backend';
import { openModelCache, type CacheResult } from './cache';
import { browserFilledRuntimes, fillCompiledCode, type FilledRuntimes } from './compiled-code';
import { mark, markLoadStart, markRunStart } from './marks';
import { applyOrtSettings, type OrtSettings } from './ort-settings';
import { notStarted, runtimeFetched, startOrt, type StartedOrt } from './ort-start';

/** Where the engine finds its model, backend and cache: the browser's, unless a host (Node) says otherwise. */
export interface EngineHost {
  /** The model's files at this absolute URL; throws BackendError for a URL it cannot read. */
  source(modelUrl: string): ModelSource;
  chooseBackend(choice: BackendChoice): Promise<{ backend: Backend; reason: string }>;
  openCache(): Promise<CacheResult>;
  /** The runtime builds the browser's code cache was filled for, where it has one (compiled-code.ts). */
  filledRuntimes?: FilledRuntimes;
}

const browserHost: EngineHost = {
  source(modelUrl) {
    if (!/^https?:\/\//i.test(modelUrl)) {
      throw new BackendError(
        `model URL must be an absolute http(s) URL, got "${modelUrl}": give the full URL of the model's folder`,
      );
    }
    return httpSource(modelUrl);
  },
  chooseBackend,
  openCache: openModelCache,
  filledRuntimes: browserFilledRuntimes,
};

/** The page's load: the fused prefix, never the embed and blocks inside it, and no baseline. */
const PAGE_LOAD = { skipFusedBlocks: true } as const;

/** onnxruntime-web, started, and the session that started it (held until the model's sessions exist). */
interface Runtime {
  ort: Ort;
  started: StartedOrt;
}

/** How long an unload waits for sessions on a lost GPU to release before it lets them go. */
const LOST_RELEASE_MS = 2000;
/** How long a failed WebGPU run waits for the device-lost signal that may explain it. */
const LOSS_GRACE_MS = 250;

export class Engine implements EngineApi {
  private runner: SegmentRunner | null = null;
  /** The load under way (its runner may have started already): a new load or unload stops it. */
  private loading: AbortController | null = null;
  private running: { abort: AbortController; done: Promise<unknown> } | null = null;
  /** Set when the GPU under the loaded sessions is gone; cleared by the next load. */
  private lost: DeviceLostError | null = null;
  private onLost: ((e: DeviceLostError) => void) | null = null;
  /** The last run to end: on which model, and when (performance.now()). */
  private lastRun: { runner: SegmentRunner; ended: number } | null = null;

  /** loadOrt(backend): the onnxruntime-web build for that backend (wasm's is half the download). */
  constructor(
    private readonly loadOrt: (backend: Backend) => Promise<Ort>,
    private readonly host: EngineHost = browserHost,
  ) {}

  async load(
    modelUrl: string,
    choice: BackendChoice,
    onProgress?: (p: LoadProgress) => void,
    ortSettings: OrtSettings = {},
    onStart?: (info: StartInfo) => void,
  ): Promise<LoadInfo> {
    const started = performance.now();
    markLoadStart();
    // this load is the current one from its first moment: a load or unload that comes while it
    // waits for the old model to go stops it, whichever finishes waiting first
    const stop = new AbortController();
    this.loading?.abort(new CancelledError());
    this.loading = stop;
    await this.releaseModel(); // nothing half-loaded survives a new load
    if (this.loading !== stop) throw new CancelledError();
    const source = this.host.source(modelUrl);
    const { backend, reason } = await this.host.chooseBackend(choice);
    // onnxruntime-web's module (tens of kB of JavaScript) comes while the manifest does; its .wasm
    // (megabytes) waits for the manifest, below
    const ortModule = this.loadOrt(backend);
    ortModule.catch(() => undefined); // startRuntime reports its failure, if the load gets that far
    // onnxruntime-web downloads, compiles and starts while the model's files download, from the
    // moment the manifest is read (a wrong model URL downloads no .wasm); the model's files go one
    // at a time until the runtime's .wasm is in, so that they do not starve its download, then all at
    // once, before its compile and init hold this thread; and each segment's session is created as
    // its file comes in, while the others still download. Generating may start once every graph
    // but the blocks exists (onStart): its first steps exit early, and a pass waits for a block still
    // on its way. A runtime or a session that fails stops the download, and its error is the one
    // reported, to the load and to a run waiting for a block.
    let creating: Promise<SegmentRunner> | undefined;
    let arrivals: ArrivingFiles | undefined;
    const onManifest = (manifest: Manifest) => {
      const arrived = new ArrivingFiles(modelFiles(manifest, PAGE_LOAD));
      arrivals = arrived;
      let runtime!: Promise<Runtime>;
      const fetched = runtimeFetched(() => (runtime = this.startRuntime(ortModule, backend, ortSettings)));
      creating = runtime.then(async ({ ort }) => {
        mark('sessions');
        const growing: LoadedModel = {
          manifest,
          files: arrived.files,
          downloadedBytes: 0,
          cacheWriteFailed: false,
        };
        try {
          return await SegmentRunner.create(markingSessions(ort, arrived.files), growing, {
            backend,
            file: (path) => arrived.file(path),
            onStart: (runner) => {
              if (this.loading !== stop) return; // a newer load replaced this one
              this.runner = runner;
              mark('ready');
              onStart?.({ manifest, backend, backendReason: reason });
            },
          });
        } catch (e) {
          throw notStarted(e, backend, ortSettings);
        }
      });
      creating.catch(() => stop.abort());
      // the starting session goes once the model's exist (or could not be made)
      const release = () => runtime.then(({ started }) => started.release()).catch(() => undefined);
      creating.then(release, release);
      return fetched;
    };
    let model: LoadedModel;
    let notice: string | null;
    try {
      const opened = await this.host.openCache();
      notice = opened.notice;
      mark('model:start');
      model = await loadModel(source, {
        ...PAGE_LOAD,
        cache: opened.cache,
        onProgress,
        onManifest,
        onFile: (spec, bytes) => arrivals?.add(spec.path, bytes),
        signal: stop.signal,
      });
      mark('model');
    } catch (e) {
      arrivals?.fail(e);
      this.dropFailedLoad(stop);
      // the runner releases itself on failure; waiting for that keeps the next load's sessions
      // from being made while this one's still go
      const failedFirst = await creating?.then(
        (runner) => runner.release().then(() => null),
        (why: unknown) => ({ why }),
      );
      // the runtime or a session failed first: its error says why the download stopped
      if (stop.signal.aborted && failedFirst && !(stop.signal.reason instanceof CancelledError))
        throw failedFirst.why;
      throw stop.signal.reason instanceof CancelledError ? stop.signal.reason : e;
    }
    let runner: SegmentRunner;
    try {
      runner = await creating!;
    } catch (e) {
      const replaced = this.loading !== stop;
      this.dropFailedLoad(stop);
      throw replaced ? new CancelledError() : e;
    }
    arrivals?.release();
    if (this.loading !== stop) {
      void runner.release(); // replaced or unloaded meanwhile (a second release does nothing)
      throw new CancelledError();
    }
    this.loading = null;
    mark('loaded');
    const runtimes = this.host.filledRuntimes;
    if (backend === 'wasm' && runtimes) {
      const loaded = performance.now();
      void fillCompiledCode(runtimes, model.files, {
        quiet: (ms) => this.quietAfterRun(runner, loaded, ms),
        exercise: (bytes, path) => runner.executor.exercise(bytes, path),
      });
    }
    return {
      manifest: model.manifest,
      backend,
      backendReason: reason,
      downloadedBytes: model.downloadedBytes,
      cacheNotice:
        notice ??
        (model.cacheWriteFailed
          ? 'The model could not be stored in the browser cache (storage full?): it runs from memory and will download again next time.'
          : null),
      loadMs: performance.now() - started,
    };
  }

  /** A load that failed after its runner started: that runner (released by its failure) goes too. */
  private dropFailedLoad(load: AbortController): void {
    if (this.loading !== load) return;
    this.loading = null;
    this.runner = this.lastRun = null;
  }

  /** onnxruntime-web for `backend` with the caller's settings, started (its .wasm fetched and compiled). */
  private async startRuntime(module: Promise<Ort>, backend: Backend, s: OrtSettings): Promise<Runtime> {
    try {
      mark('runtime:start');
      const ort = await module;
      applyOrtSettings(ort, s);
      const started = await startOrt(ort, backend);
      mark('runtime');
      return { ort, started };
    } catch (e) {
      throw notStarted(e, backend, s);
    }
  }

  /**
   * True once a run on `runner` has ended and neither it nor the load (ended at `loaded`) nor any run
   * is under way or less than `ms` behind; false once `runner` is no longer the loaded model's.
   */
  private async quietAfterRun(runner: SegmentRunner, loaded: number, ms: number): Promise<boolean> {
    while (this.runner === runner) {
      await this.running?.done.catch(() => undefined);
      const ran = this.lastRun?.runner === runner;
      const left = Math.max(loaded, this.lastRun?.ended ?? 0) + ms - performance.now();
      if (ran && left <= 0 && !this.running) return true;
      await new Promise((r) => setTimeout(r, ran && left > 0 ? left : ms));
    }
    return false;
  }

  hello(): string {
    return ENGINE_PROTOCOL;
  }

  async generate(given: Partial<GenerateParams>, onStep?: Parameters<EngineApi['generate']>[1]) {
    const runner = this.runner;
    if (!runner) throw new NotLoadedError();
    if (this.lost) throw this.lost;
    const params = resolveParams(runner.manifest, given);
    markRunStart();
    // a new generate replaces the running one; with several callers racing, the last one wins
    while (this.running) {
      this.running.abort.abort();
      await this.running.done.catch(() => undefined);
    }
    const abort = new AbortController();
    let stepped = false;
    // in a worker onStep is a Comlink proxy: its calls travel on a port of their own, so the result
    // could overtake the last step; its answer says the caller has every step
    let delivered: unknown;
    const job = generate(runner, runner.manifest, params, {
      signal: abort.signal,
      onStep: (e) => {
        if (!stepped) mark('step 1');
        stepped = true;
        delivered = onStep?.(e);
      },
    }).then(async (result) => {
      mark('generated');
      // a caller that never answers must not hold the engine: cancel() or a newer generate() ends the wait
      const stopped = new Promise((r) => abort.signal.addEventListener('abort', r, { once: true }));
      await Promise.race([Promise.resolve(delivered), stopped]).catch(() => undefined);
      return result;
    });
    const entry = { abort, done: job };
    this.running = entry;
    // a run on a lost device may never settle (ORT can wait forever on a buffer map), so the
    // loss itself rejects the call
    const lost = new Promise<never>((_, reject) => {
      this.onLost = reject;
    });
    try {
      return await Promise.race([job, lost]);
    } catch (e) {
      // a load that failed mid-run released the runner: the run met its disposed tensors ("The
      // tensor is disposed."), and the load's own error says what went wrong
      const released =
        e instanceof Error && e.name === 'CancelledError' ? undefined : runner.executor.releasedBecause;
      throw (await this.lossBehind(runner, e)) ?? released ?? e;
    } finally {
      this.onLost = null;
      if (this.running === entry) this.running = null;
      // a released model's run is nobody's last: holding it would hold its runner
      if (this.runner === runner) this.lastRun = { runner, ended: performance.now() };
    }
  }

  /**
   * A run on a device being destroyed can fail with ORT's own error a moment before the device's
   * lost promise settles: give the loss that moment, so the caller sees DeviceLostError (and the
   * page falls back to wasm) instead of a generic failure.
   */
  private async lossBehind(runner: SegmentRunner, e: unknown): Promise<DeviceLostError | null> {
    if (runner.backend !== 'webgpu' || (e instanceof Error && e.name === 'CancelledError')) return this.lost;
    for (let waited = 0; !this.lost && waited < LOSS_GRACE_MS; waited += 25) {
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.lost;
  }

  /**
   * The GPU device under the loaded sessions was lost (driver reset, out of memory, destroyed).
   * The running and every later generate reject with DeviceLostError until a new load, which
   * is how the UI knows to reload on wasm. Losses with no model loaded (our own unload
   * releasing the device) mean nothing.
   */
  deviceLost(reason: string): void {
    if (!this.runner || this.lost) return;
    this.lost = new DeviceLostError(reason);
    this.running?.abort.abort();
    this.onLost?.(this.lost);
  }

  cancel(): void {
    this.running?.abort.abort();
  }

  async unload(): Promise<void> {
    this.loading?.abort(new CancelledError());
    this.loading = null;
    await this.releaseModel();
  }

  /** Cancels the run and lets the loaded model go, leaving a load under way alone. */
  private async releaseModel(): Promise<void> {
    this.cancel();
    const lost = this.lost !== null;
    this.lost = null;
    const runner = this.runner;
    this.runner = this.lastRun = null;
    // on a lost device neither the run nor the release may ever settle: wait a little, then move on
    const settle = <T>(p: Promise<T> | undefined) =>
      lost ? Promise.race([p, new Promise((r) => setTimeout(r, LOST_RELEASE_MS))]) : p;
    await settle(this.running?.done.catch(() => undefined));
    this.running = null; // a run hung on a lost device must not block the next generate
    await settle(runner?.release().catch(() => undefined));
  }

  stats(): EngineStats {
    return {
      loaded: this.runner !== null,
      liveTensors: this.runner?.liveTensorCount() ?? 0,
      running: this.running !== null,
    };
  }
}
