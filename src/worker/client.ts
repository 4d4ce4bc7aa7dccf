/**
 * The typed client the UI holds: starts the worker, proxies callbacks, and turns errors that
 * crossed the worker boundary back into { name, message } the UI can show.
 */
import * as Comlink from 'comlink';
import type { GenerateParams, LoadProgress, StepEvent } from '../runtime';
import type { BackendChoice, EngineApi, EngineStats } from './api';

export type { BackendChoice, EngineApi, LoadInfo, EngineStats } from './api';

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

export function createEngineClient(
  workerFactory: () => Worker = () =>
    new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }),
): EngineClient {
  const worker = workerFactory();
  const remote = Comlink.wrap<EngineApi>(worker);
  return {
    load: (url, backend, onProgress) =>
      remote.load(
        new URL(url, globalThis.location?.href).href,
        backend,
        onProgress ? Comlink.proxy(onProgress) : undefined,
      ),
    generate: (params, onStep) => remote.generate(params, onStep ? Comlink.proxy(onStep) : undefined),
    cancel: () => remote.cancel(),
    unload: () => remote.unload(),
    stats: () => remote.stats(),
    terminate: () => {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/** The error name (CancelledError, IntegrityError, …) survives comlink; the class does not. */
export function errorName(e: unknown): string {
  return e instanceof Error ? e.name : 'Error';
}
