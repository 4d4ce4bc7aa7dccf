/**
 * The typed client the UI holds: starts the worker, proxies callbacks, and receives the runtime's
 * errors as their own classes (error-transfer.ts); a crashed worker rejects every pending call.
 */
import * as Comlink from 'comlink';
import type { GenerateParams, LoadProgress, StepEvent } from '../runtime';
import { CancelledError, WorkerCrashedError } from '../runtime/errors';
import type { BackendChoice, EngineApi, EngineStats } from './api';
import { installErrorTransfer } from './error-transfer';
import type { OrtSettings } from './ort-settings';

export type { BackendChoice, EngineApi, LoadInfo, EngineStats } from './api';
/** The worker died (an uncaught error, e.g. a wasm abort): its calls will never answer. */
export { WorkerCrashedError };

export interface EngineClient {
  load(
    modelUrl: string,
    backend: BackendChoice,
    onProgress?: (p: LoadProgress) => void,
  ): ReturnType<EngineApi['load']>;
  generate(
    params: Partial<GenerateParams>,
    onStep?: (e: StepEvent) => void,
  ): ReturnType<EngineApi['generate']>;
  cancel(): Promise<void>;
  unload(): Promise<void>;
  stats(): Promise<EngineStats>;
  terminate(): void;
}

export interface EngineClientOptions {
  /** onnxruntime-web's settings, sent with every load (checked already: ort-settings.ts). */
  ort?: OrtSettings;
}

export function createEngineClient(
  workerFactory: () => Worker = () =>
    new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }),
  options: EngineClientOptions = {},
): EngineClient {
  installErrorTransfer();
  const worker = workerFactory();
  const remote = Comlink.wrap<EngineApi>(worker);
  // comlink waits forever for an answer from a dead worker, so a crash rejects every pending call
  let crashed: WorkerCrashedError | null = null;
  const pending = new Set<(e: Error) => void>();
  const crash = (detail: string) => {
    if (crashed) return;
    crashed = new WorkerCrashedError(`the engine stopped unexpectedly (${detail})`);
    for (const reject of pending) reject(crashed);
    pending.clear();
  };
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    crash(e.message || 'an uncaught error in the worker');
  });
  worker.addEventListener('messageerror', () => crash('a message from the worker could not be read'));
  const guard = <T>(call: () => Promise<T>): Promise<T> => {
    if (crashed) return Promise.reject(crashed);
    return new Promise<T>((resolve, reject) => {
      pending.add(reject);
      call()
        .then(resolve, reject)
        .finally(() => pending.delete(reject));
    });
  };
  return {
    load: (url, backend, onProgress) =>
      guard(() =>
        remote.load(
          new URL(url, globalThis.location?.href).href,
          backend,
          onProgress ? Comlink.proxy(onProgress) : undefined,
          options.ort,
        ),
      ),
    generate: (params, onStep) =>
      guard(() => remote.generate(params, onStep ? Comlink.proxy(onStep) : undefined)),
    cancel: () => guard(() => remote.cancel()),
    unload: () => guard(() => remote.unload()),
    stats: () => guard(() => remote.stats()),
    terminate: () => {
      // a terminated worker never answers: what was pending ends here, as cancelled
      for (const reject of pending) reject(new CancelledError());
      pending.clear();
      crashed ??= new WorkerCrashedError(
        'the engine was shut down',
        'Load the model again: that starts a fresh one.',
      );
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/** The loaded model cannot run any more (worker crashed, GPU lost): load it again. */
export function needsReload(e: unknown): boolean {
  const name = errorName(e);
  return name === 'WorkerCrashedError' || name === 'DeviceLostError';
}

/** The error's name (CancelledError, WorkerCrashedError, …): the class survives comlink too (error-transfer.ts). */
export function errorName(e: unknown): string {
  return e instanceof Error ? e.name : 'Error';
}
