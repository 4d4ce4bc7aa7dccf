/** The generator session the page and the widget share: one set of rules for both. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseManifest, type GenerateParams, type GenerateResult } from '../../src/runtime';
import type { EngineSource, LoadedEngine } from '../../src/session/engines';
import { createSession } from '../../src/session/session';
import { CancelledError, DeviceLostError } from '../../src/runtime/errors';
import { WorkerCrashedError } from '../../src/worker/client';
import { MODEL_DIR } from './fixtures';

const manifest = parseManifest(JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')));
const info = {
  manifest,
  backend: 'wasm' as const,
  backendReason: 'test',
  downloadedBytes: 0,
  cacheNotice: null,
  loadMs: 1,
};

/**
 * An engine source whose generations take `ms` each and honour the abort signal. `whole`: the load
 * is whole (every block in) when this settles, after the engine could already generate.
 */
function source(
  opts: {
    ms?: number;
    /** How long a load takes: one figure, or one for the nth load (from 1). */
    loadMs?: number | ((n: number) => number);
    fail?: () => Error | null;
    whole?: Promise<unknown>;
    /** The error the nth load (from 1) fails with, or null. */
    loadFail?: (n: number) => Error | null;
  } = {},
) {
  const calls: Partial<GenerateParams>[] = [];
  const loads: string[] = [];
  let discarded = 0;
  const engines: EngineSource = {
    async load(url, backend) {
      loads.push(`${backend} ${url}`);
      const ms = typeof opts.loadMs === 'function' ? opts.loadMs(loads.length) : (opts.loadMs ?? 0);
      await new Promise((r) => setTimeout(r, ms).unref());
      const failed = opts.loadFail?.(loads.length);
      if (failed) throw failed;
      const engine: LoadedEngine = {
        info,
        loaded: (opts.whole ?? Promise.resolve()).then(() => info),
        generate: (params, _onStep, signal) =>
          new Promise<GenerateResult>((resolve, reject) => {
            calls.push(params);
            const err = opts.fail?.();
            if (err) return reject(err);
            const timer = setTimeout(
              () =>
                resolve({ image: new Float32Array(784), steps: [], totals: {} as GenerateResult['totals'] }),
              opts.ms ?? 0,
            );
            signal.addEventListener('abort', () => {
              clearTimeout(timer);
              reject(new CancelledError());
            });
          }),
        discard: () => void discarded++,
      };
      return engine;
    },
  };
  return { engines, calls, loads, discarded: () => discarded };
}

const session = (engines: EngineSource, consent: () => true | string = () => 'refused') =>
  createSession({
    engines,
    base: () => 'https://page.example/app/',
    shippedModels: () => 'https://page.example/app/models/',
    trustedOrigins: () => ['https://page.example'],
    consent,
  });

describe('generator session', () => {
  it('a generate called while the model loads waits for the load, then runs', async () => {
    const s = source({ loadMs: 20 });
    const g = session(s.engines);
    const loading = g.load('models/m/', 'wasm');
    const result = await g.generate({ seed: 3 });
    await loading;
    expect(result).not.toBeNull();
    expect(s.calls).toHaveLength(1);
    expect(g.run.getState().status).toBe('done');
  });

  it('ready once the engine can generate, complete once whole; a run starts without waiting for the rest', async () => {
    let whole!: () => void;
    const s = source({ whole: new Promise<void>((r) => (whole = r)) });
    const g = session(s.engines);
    const loading = g.load('models/m/', 'wasm');
    const result = await g.generate({ seed: 3 });
    expect(result).not.toBeNull();
    expect(g.model.getState()).toMatchObject({ status: 'ready', complete: false, loadMs: 0 });
    whole();
    expect(await loading).toMatchObject({ loadMs: 1 });
    expect(g.model.getState()).toMatchObject({ status: 'ready', complete: true, loadMs: 1 });
  });

  it('a load that fails after the engine could generate ends in the load’s error', async () => {
    let fail!: (e: Error) => void;
    const s = source({ whole: new Promise<void>((_, reject) => (fail = reject)) });
    const g = session(s.engines);
    const loading = g.load('models/m/', 'wasm');
    await vi.waitFor(() => expect(g.model.getState().status).toBe('ready'));
    fail(new Error('block_12.onnx: sha256 mismatch'));
    expect(await loading).toBeNull();
    expect(g.model.getState()).toMatchObject({
      status: 'error',
      complete: false,
      error: 'block_12.onnx: sha256 mismatch',
    });
    expect(await g.generate({})).toBeNull();
    expect(g.run.getState().error).toMatch(/The model did not load: block_12\.onnx: sha256 mismatch/);
  });

  it('a new generate cancels the running one, whose end does not overwrite the new state', async () => {
    const s = source({ ms: 30 });
    const g = session(s.engines);
    await g.load('models/m/', 'wasm');
    const first = g.generate({ seed: 1 });
    await new Promise((r) => setTimeout(r, 5));
    const second = g.generate({ seed: 2 });
    expect(await first).toBeNull();
    expect(await second).not.toBeNull();
    expect(g.run.getState()).toMatchObject({ status: 'done', seed: 2 });
  });

  it('a model id names a shipped model; a path or URL is a folder of its own', async () => {
    const s = source();
    const g = session(s.engines);
    await g.load('emoji', 'wasm');
    await g.load('./emoji', 'wasm');
    await g.load('models/x', 'wasm');
    expect(s.loads).toEqual([
      'wasm https://page.example/app/models/emoji/',
      'wasm https://page.example/app/emoji/',
      'wasm https://page.example/app/models/x/',
    ]);
    expect(g.model.getState().url).toBe('models/x'); // as given, so a link keeps `model=emoji`
  });

  it('another origin needs consent; its refusal says how to give it, and nothing loads', async () => {
    const s = source();
    const g = session(s.engines, () => 'add the attribute');
    expect(await g.load('https://cdn.example/m/', 'wasm')).toBeNull();
    expect(g.model.getState()).toMatchObject({
      status: 'error',
      error: 'add the attribute',
      errorName: 'ConsentRefusedError',
    });
    expect(s.loads).toEqual([]);
    expect(await session(s.engines, () => true).load('https://cdn.example/m', 'wasm')).not.toBeNull();
    expect(s.loads).toEqual(['wasm https://cdn.example/m/']);
  });

  it('a lost GPU lets the engine go and reloads on wasm; a crash reloads on the same backend', async () => {
    let error: Error | null = new DeviceLostError('destroyed');
    const s = source({ fail: () => error });
    const g = session(s.engines);
    await g.load('models/m/', 'webgpu');
    expect(await g.generate({})).toBeNull();
    expect(g.run.getState().error).toMatch(/Switched to wasm: press Generate again/);
    expect(g.model.getState()).toMatchObject({ status: 'ready', choice: 'wasm' });
    error = new WorkerCrashedError('the engine stopped unexpectedly');
    await g.generate({});
    expect(s.loads).toEqual([
      'webgpu https://page.example/app/models/m/',
      'wasm https://page.example/app/models/m/',
      'wasm https://page.example/app/models/m/',
    ]);
    expect(s.discarded()).toBe(2);
    error = null;
    expect(await g.generate({})).not.toBeNull();
  });

  it('a crash while the deeper blocks still download loads afresh, not onto the load that died', async () => {
    let error: Error | null = new WorkerCrashedError('the engine stopped unexpectedly');
    // the load never becomes whole: its engine is the one that crashed, mid-download
    const s = source({ fail: () => error, whole: new Promise(() => undefined) });
    const g = session(s.engines);
    void g.load('models/m/', 'wasm');
    expect(await g.generate({})).toBeNull();
    expect(g.run.getState().error).toMatch(/stopped unexpectedly/);
    expect(s.loads).toHaveLength(2);
    expect(s.discarded()).toBe(1);
    expect(g.model.getState()).toMatchObject({ status: 'ready', complete: false });
    error = null;
    expect(await g.generate({})).not.toBeNull();
  });

  it('a crash whose fresh load fails says that load failed, not that the model is back', async () => {
    const s = source({
      fail: () => new WorkerCrashedError('the engine stopped unexpectedly'),
      loadFail: (n) => (n === 2 ? new Error('HTTP 404 for block_00.onnx') : null),
    });
    const g = session(s.engines);
    await g.load('models/m/', 'wasm');
    expect(await g.generate({})).toBeNull();
    expect(g.model.getState()).toMatchObject({ status: 'error', error: 'HTTP 404 for block_00.onnx' });
    const said = g.run.getState().error;
    expect(said).toMatch(/stopped unexpectedly.*Loading the model again failed: HTTP 404 for block_00\.onnx/);
    expect(said).not.toMatch(/has loaded/);
  });

  it('a crash whose fresh load a newer action replaced claims nothing of that load', async () => {
    const s = source({
      fail: () => new WorkerCrashedError('the engine stopped unexpectedly'),
      loadMs: 300,
    });
    const g = session(s.engines);
    await g.load('models/m/', 'wasm');
    const run = g.generate({});
    // the fresh load starts once the run has failed; the page unloads the model meanwhile
    await vi.waitFor(() => expect(s.loads).toHaveLength(2), { interval: 5, timeout: 2000 });
    g.unload();
    expect(await run).toBeNull();
    // the crash's own advice, since nothing loaded again
    expect(g.run.getState().error).toMatch(/^the engine stopped unexpectedly\. The next load or generate/);
  });

  it('a crash whose fresh load hangs lets its run go once a newer load replaces that load', async () => {
    const s = source({
      fail: () => new WorkerCrashedError('the engine stopped unexpectedly'),
      loadMs: (n) => (n === 2 ? 1e9 : 0),
    });
    const g = session(s.engines);
    await g.load('models/m/', 'wasm');
    const run = g.generate({});
    await vi.waitFor(() => expect(s.loads).toHaveLength(2), { interval: 5, timeout: 2000 });
    void g.load('models/other/', 'wasm');
    expect(await run).toBeNull();
    expect(g.run.getState().error).toMatch(/^the engine stopped unexpectedly\. The next load or generate/);
  });

  it('a generate waiting for a load that a newer load replaces waits for the newer one', async () => {
    const s = source({ loadMs: (n) => (n === 1 ? 1e9 : 50) });
    const g = session(s.engines);
    void g.load('models/m/', 'wasm');
    const run = g.generate({});
    void g.load('models/other/', 'wasm');
    expect(await run).not.toBeNull();
    expect(g.model.getState()).toMatchObject({ status: 'ready', url: 'models/other/' });
  });

  it('generate without a model says so instead of waiting forever', async () => {
    const g = session(source().engines);
    expect(await g.generate({})).toBeNull();
    expect(g.run.getState()).toMatchObject({ status: 'error', errorName: 'NotLoadedError' });
  });
});

describe('generator session, loads racing', () => {
  it('a load that a newer one replaced does not write over its state', async () => {
    const slow = source({ loadMs: 40 });
    const g = session(slow.engines);
    const first = g.load('models/a/', 'wasm');
    await new Promise((r) => setTimeout(r, 5));
    const second = g.load('models/b/', 'wasm');
    expect(await first).toBeNull(); // replaced
    expect(await second).not.toBeNull();
    expect(g.model.getState()).toMatchObject({ status: 'ready', url: 'models/b/' });
  });
});
