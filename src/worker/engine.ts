/**
 * The engine: a thin shell over src/runtime that owns one loaded model and its sessions.
 * It runs inside the worker (engine.worker.ts exposes it with comlink) and could run in-process.
 */
import {
  BackendError,
  generate,
  httpSource,
  loadModel,
  resolveParams,
  SegmentRunner,
  type GenerateParams,
  type Backend,
  type LoadProgress,
  type Ort,
} from '../runtime';
import type { BackendChoice, EngineApi, EngineStats, LoadInfo } from './api';
import { chooseBackend } from './backend';
import { openModelCache } from './cache';

export class Engine implements EngineApi {
  private runner: SegmentRunner | null = null;
  private running: { abort: AbortController; done: Promise<unknown> } | null = null;

  /** loadOrt(backend): the onnxruntime-web build for that backend (wasm's is half the download). */
  constructor(private readonly loadOrt: (backend: Backend) => Promise<Ort>) {}

  async load(
    modelUrl: string,
    choice: BackendChoice,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<LoadInfo> {
    const started = performance.now();
    await this.unload(); // nothing half-loaded survives a new load
    if (!/^https?:\/\//i.test(modelUrl)) {
      throw new BackendError(`model URL must be an absolute http(s) URL, got "${modelUrl}"`);
    }
    const { backend, reason } = await chooseBackend(choice);
    const { cache, notice } = await openModelCache();
    const model = await loadModel(httpSource(modelUrl), { cache, onProgress });
    const ort = await this.loadOrt(backend);
    this.runner = await SegmentRunner.create(ort, model, { backend });
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

  async generate(given: Partial<GenerateParams>, onStep?: Parameters<EngineApi['generate']>[1]) {
    const runner = this.runner;
    if (!runner) throw new BackendError('no model is loaded: load one first');
    const params = resolveParams(runner.manifest, given);
    // a new generate replaces the running one; with several callers racing, the last one wins
    while (this.running) {
      this.running.abort.abort();
      await this.running.done.catch(() => undefined);
    }
    const abort = new AbortController();
    const job = generate(runner, runner.manifest, params, {
      signal: abort.signal,
      onStep,
      blockMs: () => runner.lastBlockMs,
    });
    const entry = { abort, done: job };
    this.running = entry;
    try {
      return await job;
    } finally {
      if (this.running === entry) this.running = null;
    }
  }

  cancel(): void {
    this.running?.abort.abort();
  }

  async unload(): Promise<void> {
    this.cancel();
    await this.running?.done.catch(() => undefined);
    const runner = this.runner;
    this.runner = null;
    await runner?.release();
  }

  stats(): EngineStats {
    return {
      loaded: this.runner !== null,
      liveTensors: this.runner?.liveTensorCount() ?? 0,
      running: this.running !== null,
    };
  }
}
