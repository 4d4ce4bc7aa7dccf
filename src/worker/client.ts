/**
 * The typed client the UI holds: starts the worker, proxies callbacks, and receives the runtime's
 * errors as their own classes (error-transfer.ts); a crashed worker rejects every pending call.
 */
import * as Comlink from 'comlink';
import type { GenerateParams, LoadProgress, StepEvent } from '../runtime';
import { CancelledError, WorkerCrashedError } from '../runtime/errors';
import { ENGINE_PROTOCOL, type BackendChoice, type EngineApi, type EngineStats, type StartInfo } from './api';
import { installErrorTransfer } from './error-transfer';
import type { OrtSettings } from './ort-settings';

export type { BackendChoice, EngineApi, LoadInfo, StartInfo, EngineStats } from './api';
/** The worker died (an uncaught error, e.g. a wasm abort): its calls will never answer. */
export { WorkerCrashedError };

export interface EngineClient {
  load(
    modelUrl: string,
    backend: BackendChoice,
    onProgress?: (p: LoadProgress) => void,
    onStart?: (info: StartInfo) => void,
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
  /**
   * Asks the worker first whether it runs this engine, and treats it as crashed when it does not
   * answer within this many ms: for a worker the app made itself, which may run something else.
   */
  handshakeMs?: number;
}

/** How to make a worker that runs the engine, for the messages about one that does not. */
const WORKER_HOWTO =
  "start it from a module that imports 'adadiff-web/worker' (new Worker(new URL('./adadiff.worker.js', import.meta.url), { type: 'module' }), with import 'adadiff-web/worker' in that file), and build the worker and the page from the same adadiff-web version";

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
  const fail = (error: WorkerCrashedError) => {
    if (crashed) return;
    crashed = error;
    for (const reject of pending) reject(crashed);
    pending.clear();
  };
  const crash = (detail: string) =>
    fail(new WorkerCrashedError(`the engine stopped unexpectedly (${detail})`));
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
  const asking = new AbortController(); // terminate() stops waiting for the worker's hello
  const ready =
    options.handshakeMs === undefined ? null : handshake(remote, options.handshakeMs, fail, asking.signal);
  return {
    load: (url, backend, onProgress, onStart) =>
      guard(async () => {
        await ready;
        if (crashed) throw crashed;
        return remote.load(
          new URL(url, globalThis.location?.href).href,
          backend,
          onProgress ? Comlink.proxy(onProgress) : undefined,
          options.ort,
          onStart ? Comlink.proxy(onStart) : undefined,
        );
      }),
    generate: (params, onStep) =>
      guard(() => remote.generate(params, onStep ? Comlink.proxy(onStep) : undefined)),
    cancel: () => guard(() => remote.cancel()),
    unload: () => guard(() => remote.unload()),
    stats: () => guard(() => remote.stats()),
    terminate: () => {
      // a terminated worker never answers: what was pending ends here, as cancelled
      for (const reject of pending) reject(new CancelledError());
      pending.clear();
      asking.abort();
      crashed ??= new WorkerCrashedError(
        'the engine was shut down',
        'Load the model again: that starts a fresh one.',
      );
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/**
 * Resolves when the worker says it runs this engine; otherwise fails the client (every call
 * rejects with WorkerCrashedError saying how to make a worker that does). Never rejects itself.
 */
async function handshake(
  remote: Comlink.Remote<EngineApi>,
  ms: number,
  fail: (e: WorkerCrashedError) => void,
  stop: AbortSignal,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silent = new Promise<'silent'>((resolve) => {
    timer = setTimeout(() => resolve('silent'), ms);
  });
  const stopped = new Promise<'stopped'>((resolve) =>
    stop.addEventListener('abort', () => resolve('stopped'), { once: true }),
  );
  const asked = remote
    .hello()
    .catch((e: unknown) => `an error: ${e instanceof Error ? e.message : String(e)}`);
  const answer = await Promise.race([asked, silent, stopped]);
  clearTimeout(timer);
  if (answer === ENGINE_PROTOCOL || answer === 'stopped') return;
  const detail =
    answer === 'silent'
      ? `the worker given as \`worker\` did not answer within ${ms / 1000} s: it does not run the engine`
      : `the worker given as \`worker\` does not run this version of the engine (asked, it answered ${JSON.stringify(answer)}; this page expects ${JSON.stringify(ENGINE_PROTOCOL)})`;
  fail(new WorkerCrashedError(detail, `Give one that does: ${WORKER_HOWTO}.`));
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
