/**
 * Widgets on one page share one worker and one loaded model per (model URL, backend): the model
 * downloads once. Generations from different widgets queue instead of cancelling each other.
 */
import type { GenerateParams, GenerateResult, StepEvent } from '../runtime';
import {
  createEngineClient,
  needsReload,
  type BackendChoice,
  type EngineClient,
  type LoadInfo,
} from '../worker/client';
import engineWorkerUrl from '../worker/engine.worker.ts?worker&url';

export interface SharedModel {
  info: LoadInfo;
  /** Runs after every earlier queued generation on this model; `signal` cancels it (queued or running). */
  generate(
    params: Partial<GenerateParams>,
    onStep: (e: StepEvent) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult>;
}

interface Entry {
  client: EngineClient;
  ready: Promise<SharedModel>;
}

const models = new Map<string, Entry>();

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

function cancelledError(): Error {
  return Object.assign(new Error('generation cancelled'), { name: 'CancelledError' });
}

export function sharedModel(
  modelUrl: string,
  backend: BackendChoice,
  onProgress?: (loaded: number, total: number) => void,
): Promise<SharedModel> {
  const key = `${backend} ${modelUrl}`;
  const existing = models.get(key);
  if (existing) return existing.ready;
  const client = createEngineClient(startWorker);
  let queue: Promise<unknown> = Promise.resolve();
  const ready = client
    .load(modelUrl, backend, onProgress ? (p) => onProgress(p.loaded, p.total) : undefined)
    .then((info): SharedModel => ({
      info,
      generate(params, onStep, signal) {
        const job = queue.then(async () => {
          if (signal.aborted) throw cancelledError();
          const stop = () => void client.cancel();
          signal.addEventListener('abort', stop, { once: true });
          try {
            return await client.generate(params, onStep);
          } catch (e) {
            if (needsReload(e)) evict(); // the next sharedModel() call starts a fresh worker
            throw e;
          } finally {
            signal.removeEventListener('abort', stop);
          }
        });
        queue = job.catch(() => undefined);
        return job;
      },
    }));
  const evict = () => {
    if (models.get(key)?.client !== client) return;
    models.delete(key);
    client.terminate();
  };
  // a failed load is not cached: the next widget (or a retry) starts afresh
  ready.catch(evict);
  models.set(key, { client, ready });
  return ready;
}
