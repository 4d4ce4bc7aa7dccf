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
  type StartInfo,
} from '../worker/client';

export interface LoadedEngine {
  /** What the load knows once the engine can generate (its deeper blocks may still be loading). */
  info: StartInfo;
  /** The whole load, every session made: its failure is the load's, and a waiting run's. */
  loaded: Promise<LoadInfo>;
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
  /** Resolves once the engine can generate, or rejects with the load's failure before that. */
  load(url: string, backend: BackendChoice, onProgress?: (p: LoadProgress) => void): Promise<LoadedEngine>;
}

/**
 * An engine's load (given its onStart) as two moments: when it can generate, and when it is whole.
 * Rejects with the load's failure where that comes first.
 */
export async function startOf(
  load: (onStart: (info: StartInfo) => void) => Promise<LoadInfo>,
): Promise<{ info: StartInfo; loaded: Promise<LoadInfo> }> {
  let onStart!: (info: StartInfo) => void;
  const started = new Promise<StartInfo>((resolve) => (onStart = resolve));
  const loaded = load(onStart);
  loaded.catch(() => undefined); // the caller hears of it through `loaded`
  // the load may answer before its onStart arrives (another message port): either will do
  return { info: await Promise.race([started, loaded]), loaded };
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
      const dropIfDead = (e: unknown) => {
        if (needsReload(e)) drop(c); // a crashed worker never answers again
      };
      try {
        const { info, loaded } = await startOf((onStart) => c.load(url, backend, onProgress, onStart));
        loaded.catch(dropIfDead);
        return {
          info,
          loaded,
          generate: (p, onStep, signal) => runOn(c, p, onStep, signal),
          discard: () => drop(c),
        };
      } catch (e) {
        dropIfDead(e);
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
