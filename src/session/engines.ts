/**
 * Where a session's engine comes from. The page owns one worker; widgets on one page share one
 * worker and one loaded model per (model URL, backend), so the model downloads once, and their
 * generations queue instead of cancelling each other.
 */
import type { GenerateParams, GenerateResult, LoadProgress, StepEvent } from '../runtime';
import { CancelledError } from '../runtime/errors';
import {
  createEngineClient,
  needsReload,
  type BackendChoice,
  type EngineClient,
  type LoadInfo,
} from '../worker/client';
import engineWorkerUrl from '../worker/engine.worker.ts?worker&url';

export interface LoadedEngine {
  info: LoadInfo;
  /** One generation; `signal` cancels it, queued or running (it then rejects with CancelledError). */
  generate(
    params: Partial<GenerateParams>,
    onStep: (e: StepEvent) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult>;
  /** This engine cannot run any more (crashed, GPU lost): the next load starts a fresh one. */
  discard(): void;
}

export interface EngineSource {
  load(url: string, backend: BackendChoice, onProgress?: (p: LoadProgress) => void): Promise<LoadedEngine>;
}

/** Runs one generation on a client, cancelling it in the worker when the signal fires. */
async function runOn(
  client: EngineClient,
  params: Partial<GenerateParams>,
  onStep: (e: StepEvent) => void,
  signal: AbortSignal,
): Promise<GenerateResult> {
  if (signal.aborted) throw new CancelledError();
  const stop = () => void client.cancel().catch(() => undefined);
  signal.addEventListener('abort', stop, { once: true });
  try {
    return await client.generate(params, onStep);
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/** One engine of the caller's own (the page's): a load replaces the model it holds. */
export function privateEngine(make: () => EngineClient = () => createEngineClient()): EngineSource {
  let client: EngineClient | null = null;
  const drop = (c: EngineClient) => {
    if (client !== c) return;
    c.terminate();
    client = null;
  };
  return {
    async load(url, backend, onProgress) {
      client ??= make();
      const c = client;
      try {
        const info = await c.load(url, backend, onProgress);
        return { info, generate: (p, onStep, signal) => runOn(c, p, onStep, signal), discard: () => drop(c) };
      } catch (e) {
        if (needsReload(e)) drop(c); // a crashed worker never answers again
        throw e;
      }
    },
  };
}

/** The worker script, resolved from this module's URL so the widget works from another origin. */
function startWorker(): Worker {
  const url = new URL(engineWorkerUrl, import.meta.url);
  if (url.origin === globalThis.location?.origin) return new Worker(url, { type: 'module' });
  // browsers refuse cross-origin worker scripts; a same-origin blob that imports the module is allowed
  const shim = URL.createObjectURL(
    new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }),
  );
  return new Worker(shim, { type: 'module' });
}

const shared = new Map<string, { client: EngineClient; ready: Promise<LoadedEngine> }>();

/** The engine every widget on the page shares for one (model URL, backend). */
export const sharedEngines: EngineSource = {
  load(url, backend, onProgress) {
    const key = `${backend} ${url}`;
    const existing = shared.get(key);
    if (existing) return existing.ready;
    const client = createEngineClient(startWorker);
    let queue: Promise<unknown> = Promise.resolve();
    const discard = () => {
      if (shared.get(key)?.client !== client) return;
      shared.delete(key);
      client.terminate();
    };
    const ready = client.load(url, backend, onProgress).then((info): LoadedEngine => ({
      info,
      generate(params, onStep, signal) {
        const job = queue.then(() => runOn(client, params, onStep, signal));
        queue = job.catch(() => undefined);
        return job;
      },
      discard,
    }));
    // a failed load is not kept: the next widget (or a retry) starts afresh
    ready.catch(discard);
    shared.set(key, { client, ready });
    return ready;
  },
};
