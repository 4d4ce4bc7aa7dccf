/**
 * Where a session's engine comes from. The page and the engine API own one worker each; widgets
 * share theirs (shared-engines.ts).
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
export async function runOn(
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

/** Starts the engine's worker from its script's URL, which may lie on another origin (a CDN). */
export function startWorker(url: URL): Worker {
  if (url.origin === globalThis.location?.origin) return new Worker(url, { type: 'module' });
  // browsers refuse cross-origin worker scripts; a same-origin blob that imports the module is allowed
  const shim = URL.createObjectURL(
    new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }),
  );
  return new Worker(shim, { type: 'module' });
}
