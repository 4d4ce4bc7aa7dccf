/**
 * Widgets on one page share one worker and one loaded model per (model URL, backend), so the
 * model downloads once, and their generations queue instead of cancelling each other.
 */
import { createEngineClient } from '../worker/client';
import engineWorkerUrl from '../worker/engine.worker.ts?worker&url';
import { runOn, startOf, startWorker, type EngineSource, type LoadedEngine } from './engines';
import type { EngineClient } from '../worker/client';

const shared = new Map<string, { client: EngineClient; ready: Promise<LoadedEngine> }>();

/** The engine every widget on the page shares for one (model URL, backend). */
export const sharedEngines: EngineSource = {
  load(url, backend, onProgress) {
    const key = `${backend} ${url}`;
    const existing = shared.get(key);
    if (existing) return existing.ready;
    // resolved from this module's URL, so the widget works from another origin
    const client = createEngineClient(() => startWorker(new URL(engineWorkerUrl, import.meta.url)));
    let queue: Promise<unknown> = Promise.resolve();
    const discard = () => {
      if (shared.get(key)?.client !== client) return;
      shared.delete(key);
      client.terminate();
    };
    const ready = startOf((onStart) => client.load(url, backend, onProgress, onStart)).then(
      ({ info, loaded }): LoadedEngine => ({
        info,
        loaded,
        generate(params, onStep, signal) {
          const job = queue.then(() => runOn(client, params, onStep, signal));
          queue = job.catch(() => undefined);
          return job;
        },
        discard,
      }),
    );
    // a failed load is not kept, even one that failed after it could generate: the next widget (or a
    // retry) starts afresh
    ready.then((engine) => engine.loaded).catch(discard);
    shared.set(key, { client, ready });
    return ready;
  },
};
