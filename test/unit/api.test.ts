/**
 * The engine API in Node (adadiff-web/node) on the shipped model: the promise-based contract a
 * program relies on — generate before load, named errors, cancellation by signal and by a newer
 * call, unload — over the same session the page uses. Then the options both entries check, and
 * the browser entry over a worker the app made (a MessagePort standing in for it).
 */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseManifest } from '../../src/runtime';
import { createGenerator as createBrowserGenerator } from '../../src/api/browser';
import {
  createGenerator,
  AdaDiffError,
  CancelledError,
  FetchError,
  ParameterError,
  WorkerCrashedError,
  type BackendChoice,
  type OrtOptions,
} from '../../src/api/node';
import { ENGINE_PROTOCOL, type StartInfo } from '../../src/worker/api';
import { MODEL_DIR } from './fixtures';

describe('createGenerator (Node)', () => {
  it('generate() before load() loads the model, then runs; info says what loaded', async () => {
    const g = createGenerator({ model: MODEL_DIR });
    expect(g.info).toBeNull();
    const steps: number[] = [];
    const r = await g.generate({ steps: 3, seed: 5 }, { onStep: (e) => steps.push(e.t) });
    expect(steps).toHaveLength(3);
    expect(r.image).toHaveLength(28 * 28);
    // known as soon as the run could start, even if its deeper blocks were still being made
    expect(g.info?.backend).toBe('wasm');
    expect(g.info?.manifest.id).toBe('fmnist-uvit13');
    await g.load();
    const info = g.info;
    expect(info?.complete).toBe(true);
    if (info?.complete) expect(info.loadMs).toBeGreaterThan(0);
    await g.unload();
    expect(g.info).toBeNull();
  });

  it('the same seed gives the same image after an unload and a fresh load', async () => {
    const g = createGenerator({ model: MODEL_DIR });
    const progress: number[] = [];
    const info = await g.load((p) => progress.push(p.loaded / p.total));
    expect(progress.at(-1)).toBe(1);
    expect(info.downloadedBytes).toBeGreaterThan(0);
    const a = await g.generate({ steps: 2, seed: 9 });
    await g.unload();
    const b = await g.generate({ steps: 2, seed: 9 });
    expect(Array.from(b.image)).toEqual(Array.from(a.image));
    await g.unload();
  });

  it('a missing model rejects with FetchError naming the file; a NaN threshold with ParameterError', async () => {
    const missing = createGenerator({ model: '/nonexistent/model' });
    const e = await missing.generate().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FetchError);
    expect((e as Error).message).toMatch(/\/nonexistent\/model\/manifest\.json/);
    // the next call tries the load again rather than repeating the old failure
    const again = await missing.generate().catch((x: unknown) => x);
    expect(again).toBeInstanceOf(FetchError);
    expect(again).not.toBe(e);

    const g = createGenerator({ model: MODEL_DIR });
    const bad = await g.generate({ threshold: Number.NaN }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(ParameterError);
    expect((bad as Error).message).toMatch(/threshold/);
    // the generator is still usable
    expect((await g.generate({ steps: 1 })).image).toHaveLength(28 * 28);
    await g.unload();
  });

  it('an aborted signal and a newer generate() each cancel with CancelledError', async () => {
    const g = createGenerator({ model: MODEL_DIR });
    await g.load();
    const ac = new AbortController();
    const aborted = g.generate({ steps: 40 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);

    const first = g.generate({ steps: 40, seed: 1 });
    const second = g.generate({ steps: 2, seed: 2 });
    await expect(first).rejects.toBeInstanceOf(CancelledError);
    expect((await second).image).toHaveLength(28 * 28);
    await expect(g.generate({}, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
    await g.unload();
  });

  it('the newest call wins, also while the model loads; an older signal cannot cancel a newer run', async () => {
    const g = createGenerator({ model: MODEL_DIR });
    const older = g.generate({ steps: 2, seed: 1 }); // starts the load
    const newer = g.generate({ steps: 2, seed: 2 }); // made while it loads
    await expect(older).rejects.toBeInstanceOf(CancelledError);
    expect((await newer).image).toHaveLength(28 * 28);

    const ac = new AbortController();
    const first = g.generate({ steps: 30, seed: 3 }, { signal: ac.signal });
    const second = g.generate({ steps: 3, seed: 4 });
    ac.abort(); // the first is already replaced; the second must go on
    await expect(first).rejects.toBeInstanceOf(CancelledError);
    expect((await second).image).toHaveLength(28 * 28);
    await g.unload();
  });

  it('an abort while the model loads, and unload() during a run, reject with CancelledError', async () => {
    const g = createGenerator({ model: MODEL_DIR });
    const ac = new AbortController();
    const during = g.generate({ steps: 2 }, { signal: ac.signal });
    ac.abort();
    await expect(during).rejects.toBeInstanceOf(CancelledError);

    const running = g.generate({ steps: 50 }, { onStep: () => void g.unload() });
    await expect(running).rejects.toBeInstanceOf(CancelledError);
    expect(g.info).toBeNull();
    expect((await g.generate({ steps: 1 })).image).toHaveLength(28 * 28); // and it loads again
    await g.unload();
  });

  it('backend webgpu is refused in Node with what to pass instead', async () => {
    const g = createGenerator({ model: MODEL_DIR, backend: 'webgpu' });
    await expect(g.load()).rejects.toThrow(/wasm only: pass backend "wasm" or "auto"/);
  });
});

describe('generator options', () => {
  const refused = (make: () => unknown) => {
    try {
      make();
    } catch (e) {
      expect(e).toBeInstanceOf(ParameterError);
      return e as ParameterError;
    }
    throw new Error('no ParameterError');
  };

  it('a bad ONNX Runtime setting is a ParameterError that says what is allowed', () => {
    for (const numThreads of [-1, 1.5, 65, Number.NaN, '2']) {
      const e = refused(() => createGenerator({ ort: { numThreads } as unknown as OrtOptions }));
      expect(e.parameter).toBe('ort.numThreads');
      expect(e.message).toMatch(/must be a whole number from 0 \(ONNX Runtime chooses\) to 64/);
    }
    const level = refused(() => createGenerator({ ort: { logLevel: 'loud' } as unknown as OrtOptions }));
    expect(level.message).toBe('ort.logLevel is "loud": must be one of verbose, info, warning, error, fatal');
    const unknown = refused(() => createGenerator({ ort: { threads: 2 } as unknown as OrtOptions }));
    expect(unknown.message).toMatch(/^ort\.threads is not a setting .*numThreads, wasmPaths, logLevel/);
    expect(refused(() => createGenerator({ ort: 4 as unknown as OrtOptions })).parameter).toBe('ort');
    // ONNX Runtime appends file names to a prefix: one without '/' would name files that do not exist
    expect(refused(() => createGenerator({ ort: { wasmPaths: './ort' } })).message).toMatch(
      /a folder must end with '\/'/,
    );
    expect(
      refused(() => createGenerator({ ort: { wasmPaths: { wasm: 3 } as unknown as string } })).message,
    ).toMatch(/or \{ wasm, mjs \} with each file's URL/);
    // Node reads the files from disk
    expect(
      refused(() => createGenerator({ ort: { wasmPaths: 'https://cdn.example/ort/' } })).message,
    ).toMatch(/in Node it must be a directory or a file: URL/);
    expect(refused(() => createGenerator({ backend: 'cuda' as BackendChoice })).message).toBe(
      'backend is "cuda": must be auto, webgpu or wasm',
    );
    // the good ones pass
    createGenerator({ ort: { numThreads: 0, logLevel: 'fatal', wasmPaths: './node_modules/x/' } });
    createGenerator({ ort: { wasmPaths: { wasm: new URL('file:///tmp/a.wasm') } } });
  });

  it('the settings reach ONNX Runtime; another thread count in the same process is refused', async () => {
    const g = createGenerator({ model: MODEL_DIR, ort: { logLevel: 'warning' } });
    await g.load();
    expect(ort.env.logLevel).toBe('warning');
    await g.unload();
    // ONNX Runtime has started in this process (the tests above) and reads numThreads once
    const other = createGenerator({ model: MODEL_DIR, ort: { numThreads: 3 } });
    const e = await other.load().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ParameterError);
    expect((e as Error).message).toMatch(/already started .* give every generator in this process the same/);
  });
});

/** A Worker made of a MessagePort, the far end running `engine` as the real worker would. */
function fakeWorker(engine: object | null) {
  const { port1, port2 } = new MessageChannel();
  if (engine) Comlink.expose(engine, port1 as unknown as Comlink.Endpoint);
  let terminated = false;
  const worker = Object.assign(port2, {
    terminate() {
      terminated = true;
      port1.close();
      port2.close();
    },
  }) as unknown as Worker;
  return { worker, terminated: () => terminated };
}

/** An engine that records what reached it: enough to load, in place of the real one. */
function stubEngine(protocol = ENGINE_PROTOCOL) {
  const loads: unknown[][] = [];
  const engine = {
    hello: () => protocol,
    load(url: string, backend: string, _progress: unknown, ortSettings: unknown) {
      loads.push([url, backend, ortSettings]);
      // a real, parsed manifest: what an engine hands the session (the model's files are never read here)
      const manifest = parseManifest(JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')));
      return { manifest, backend: 'wasm', backendReason: 'stub', downloadedBytes: 0 };
    },
    // what ONNX Runtime or the browser throws is no AdaDiffError
    generate: () => Promise.reject(new RangeError('offset is out of bounds')),
    cancel: () => undefined,
    unload: async () => undefined,
    stats: () => ({ loaded: true, liveTensors: 0, running: false }),
  };
  return { engine, loads };
}

describe('createGenerator (browser entry) with a worker the app made', () => {
  it('loads in that worker, with the ort settings resolved to plain strings', async () => {
    const { engine, loads } = stubEngine();
    const fake = fakeWorker(engine);
    const g = createBrowserGenerator({
      worker: () => fake.worker,
      model: 'https://models.example/m/',
      backend: 'wasm',
      ort: { numThreads: 2, logLevel: 'info', wasmPaths: new URL('https://cdn.example/ort/') },
    });
    await g.load();
    expect(loads).toEqual([
      [
        'https://models.example/m/',
        'wasm',
        { numThreads: 2, logLevel: 'info', wasmPaths: 'https://cdn.example/ort/' },
      ],
    ]);
    await g.unload();
    expect(fake.terminated()).toBe(true);
  });

  it('info says what runs once the model can generate, and the load’s bytes and time once it is whole', async () => {
    const { engine } = stubEngine();
    let finish!: () => void;
    const whole = new Promise<void>((resolve) => (finish = resolve));
    const early = {
      ...engine,
      // the engine starts (its deeper blocks still downloading), runs, and is whole only later
      async load(
        url: string,
        backend: string,
        progress: unknown,
        ortSettings: unknown,
        onStart: (start: StartInfo) => void,
      ) {
        const info = engine.load(url, backend, progress, ortSettings);
        const { manifest, backendReason } = info;
        onStart({ manifest, backend: 'wasm', backendReason });
        await whole;
        return { ...info, cacheNotice: null, loadMs: 1234 };
      },
      generate: async () => ({ image: new Float32Array(28 * 28), steps: [], totals: {} }),
    };
    const g = createBrowserGenerator({
      worker: () => fakeWorker(early).worker,
      model: 'https://models.example/m/',
    });
    const r = await g.generate({ steps: 2 });
    expect(r.image).toHaveLength(28 * 28);
    expect(g.info).toMatchObject({ complete: false, backend: 'wasm', backendReason: 'stub' });
    expect(g.info?.manifest.id).toBe('fmnist-uvit13');
    expect(g.info).not.toHaveProperty('loadMs');
    finish();
    await g.load();
    expect(g.info).toMatchObject({ complete: true, backend: 'wasm', loadMs: 1234, downloadedBytes: 0 });
    await g.unload();
  });

  it('an error from elsewhere reaches the caller as a BackendError that keeps it as cause', async () => {
    const g = createBrowserGenerator({
      worker: () => fakeWorker(stubEngine().engine).worker,
      model: 'https://models.example/m/',
    });
    const e = await g.generate({ steps: 2 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AdaDiffError);
    expect(e).toMatchObject({ name: 'BackendError', code: 'backend' });
    expect((e as Error).message).toMatch(/^the engine failed: offset is out of bounds\. Try again/);
    expect((e as Error).cause).toMatchObject({ message: 'offset is out of bounds' });
    await g.unload();
  });

  it('a Worker given as such serves one engine; after unload() the error says to give a function', async () => {
    const fake = fakeWorker(stubEngine().engine);
    const g = createBrowserGenerator({ worker: fake.worker, model: 'https://models.example/m/' });
    await g.load();
    await g.unload();
    const e = await g.load().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ParameterError);
    expect((e as Error).message).toMatch(
      /^worker was a Worker, which the generator has ended .*give a function/,
    );
    expect(() => createBrowserGenerator({ worker: {} as Worker })).toThrow(
      /^worker is an object that is not a Worker: it must be a Worker started from a module that imports 'adadiff-web\/worker'/,
    );
  });

  it('a worker that does not run the engine fails the load with WorkerCrashedError saying how to make one', async () => {
    const other = createBrowserGenerator({
      worker: () => fakeWorker(stubEngine('adadiff-engine/0').engine).worker,
      model: 'https://models.example/m/',
    });
    const e = await other.load().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WorkerCrashedError);
    expect((e as Error).message).toMatch(/answered "adadiff-engine\/0".*imports 'adadiff-web\/worker'/);

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const silent = createBrowserGenerator({
        worker: () => fakeWorker(null).worker, // nothing listens: a worker that forgot the import
        model: 'https://models.example/m/',
      });
      const pending = silent.load().catch((x: unknown) => x);
      await vi.advanceTimersByTimeAsync(30_000);
      const timedOut = await pending;
      expect(timedOut).toBeInstanceOf(WorkerCrashedError);
      expect(timedOut).toMatchObject({ code: 'worker-crashed' });
      expect((timedOut as Error).message).toMatch(/did not answer within 30 s.*adadiff-web\/worker/);
    } finally {
      vi.useRealTimers();
    }
  });
});
