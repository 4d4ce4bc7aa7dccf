/**
 * The worker's engine in Node (wasm) over HTTP: impatient users (rapid generate/cancel), reload
 * after a failed load, generating before the deeper blocks are in, and nothing left alive afterwards.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NotLoadedError } from '../../src/runtime/errors';
import { ENGINE_PROTOCOL, type StartInfo } from '../../src/worker/api';
import { ArrivingFiles } from '../../src/worker/arrivals';
import { type FilledRuntimes } from '../../src/worker/compiled-code';
import { Engine, type EngineHost } from '../../src/worker/engine';
import { httpSource, modelFiles, type Manifest } from '../../src/runtime';
import { OrtExecutor } from '../../src/runtime/executor';
import { serveStatic } from '../e2e/static-server.mjs';
import { MODEL_DIR, maxAbsDiff } from './fixtures';

let server: Awaited<ReturnType<typeof serveStatic>>;
const engine = new Engine(async () => ort);

beforeAll(async () => {
  ort.env.logLevel = 'error';
  server = await serveStatic(4191, [{ prefix: '/model/', dir: MODEL_DIR }]);
});
afterAll(async () => {
  await engine.unload();
  await server.close();
});

describe('Engine', () => {
  it('says it runs the engine; generate with no model loaded is a NotLoadedError', async () => {
    expect(engine.hello()).toBe(ENGINE_PROTOCOL);
    const e = await engine.generate({}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NotLoadedError);
    expect(e).toMatchObject({ code: 'not-loaded' });
  });

  it('a failed load leaves nothing behind and the next load works, with the ort settings set', async () => {
    await expect(engine.load(`${server.url}/model/missing/`, 'wasm')).rejects.toThrow(/HTTP 404/);
    expect(engine.stats()).toMatchObject({ loaded: false, liveTensors: 0 });
    await expect(engine.load('file:///etc/', 'wasm')).rejects.toThrow(/absolute http\(s\) URL/);
    // the first session in this process: ONNX Runtime starts with these
    const release = vi.spyOn(ArrivingFiles.prototype, 'release');
    const info = await engine.load(`${server.url}/model/`, 'wasm', undefined, {
      numThreads: 1,
      logLevel: 'warning',
    });
    expect(ort.env.wasm.numThreads).toBe(1);
    expect(ort.env.logLevel).toBe('warning');
    expect(info.backend).toBe('wasm');
    expect(info.cacheNotice).toMatch(/Cache Storage is not available/);
    expect(engine.stats().loaded).toBe(true);
    // the files' bytes are let go once the sessions exist: a loaded model holds no copy of its weights
    expect(release).toHaveBeenCalledTimes(1);
    expect((release.mock.contexts[0] as ArrivingFiles).files.size).toBe(0);
    release.mockRestore();
  });

  it('50 rapid generate/cancel pairs, then a full generate: it succeeds and no tensors stay alive', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 50; i++) {
      const run = engine.generate({ steps: 5, seed: i }).then(
        () => 'done',
        (e: Error) => e.name,
      );
      engine.cancel();
      outcomes.push(await run);
    }
    expect(outcomes.every((o) => o === 'CancelledError' || o === 'done')).toBe(true);
    expect(outcomes.filter((o) => o === 'CancelledError').length).toBeGreaterThan(40);
    expect(engine.stats()).toMatchObject({ liveTensors: 0, running: false });
    const r = await engine.generate({ steps: 4, seed: 7 });
    expect(r.steps).toHaveLength(4);
    expect(engine.stats()).toMatchObject({ liveTensors: 0, running: false });
  });

  it('the result comes after the caller has taken the last step (a worker’s steps travel apart from it)', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const order: string[] = [];
    const run = engine
      .generate({ steps: 3, seed: 4 }, () => {
        order.push('step');
        // as a Comlink proxy's call does: a promise the caller's side settles when it has the event
        return (order.length === 3 ? answered : Promise.resolve()) as unknown as void;
      })
      .then(() => order.push('result'));
    await vi.waitFor(() => expect(order).toHaveLength(3), { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(order).not.toContain('result');
    answer();
    await run;
    expect(order).toEqual(['step', 'step', 'step', 'result']);

    // a caller that never answers does not hold the engine: cancel() ends the wait
    let steps = 0;
    const unanswered = engine.generate({ steps: 3, seed: 4 }, () => {
      steps++;
      return new Promise(() => undefined) as unknown as void;
    });
    await vi.waitFor(() => expect(steps).toBe(3), { timeout: 20_000 });
    engine.cancel();
    expect((await unanswered).steps).toHaveLength(3);
    expect(engine.stats()).toMatchObject({ running: false });
  });

  it('a second generate while one runs cancels the first, which rejects as cancelled', async () => {
    const first = engine.generate({ steps: 20, seed: 1 }).catch((e: Error) => e.name);
    const second = engine.generate({ steps: 3, seed: 2 });
    expect(await first).toBe('CancelledError');
    expect((await second).steps).toHaveLength(3);
    expect(engine.stats().liveTensors).toBe(0);
  });

  it('another thread count once ONNX Runtime has started is refused, not ignored', async () => {
    const e = await engine
      .load(`${server.url}/model/`, 'wasm', undefined, { numThreads: 2 })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ name: 'ParameterError', parameter: 'ort.numThreads' });
    expect((e as Error).message).toMatch(/already started with 1 and reads it only once/);
    await engine.load(`${server.url}/model/`, 'wasm', undefined, { numThreads: 1 }); // the same: fine
  });

  it('ONNX Runtime failing to start is a BackendError that says where it looked for its files', async () => {
    // as onnxruntime-web fails when its .mjs or .wasm is not where it looks: at the first session
    const unfetched =
      'Failed to fetch dynamically imported module: https://cdn.example/ort/ort-wasm-simd-threaded.mjs';
    const broken = new Engine(
      async () =>
        ({
          ...ort,
          env: { wasm: {} }, // an ONNX Runtime of its own, not yet started
          InferenceSession: {
            create: () =>
              Promise.reject(new Error(`no available backend found. ERR: [wasm] TypeError: ${unfetched}`)),
          },
        }) as unknown as typeof ort,
    );
    const e = await broken
      .load(`${server.url}/model/`, 'wasm', undefined, { wasmPaths: 'https://cdn.example/ort/' })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ name: 'BackendError', code: 'backend' });
    const message = (e as Error).message;
    expect(message).toMatch(
      /^ONNX Runtime could not start on wasm: no available backend found\. ERR: \[wasm\] TypeError: Failed to fetch/,
    );
    expect(message).toMatch(
      /ort\.wasmPaths is "https:\/\/cdn\.example\/ort\/".*set ort\.wasmPaths to their folder/,
    );
    expect(message).not.toMatch(/damaged/); // the model's files are fine
  });

  it('invalid parameters are rejected before any work', async () => {
    await expect(engine.generate({ threshold: NaN })).rejects.toMatchObject({ name: 'ParameterError' });
  });
});

describe('Engine on a lost GPU device', () => {
  // ORT on a lost WebGPU device can wait forever on a buffer map; this ORT hangs every run on demand
  let hang = false;
  const hangingOrt = {
    ...ort,
    InferenceSession: {
      create: async (...args: Parameters<typeof ort.InferenceSession.create>) => {
        const session = await ort.InferenceSession.create(...args);
        return new Proxy(session, {
          get(target, prop) {
            if (prop === 'run' && hang) return () => new Promise(() => undefined);
            const value = Reflect.get(target, prop) as unknown;
            return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
          },
        });
      },
    },
  } as unknown as typeof ort;
  const gpuEngine = new Engine(async () => hangingOrt);
  afterAll(() => gpuEngine.unload());

  it('a loss with no model loaded means nothing', async () => {
    gpuEngine.deviceLost('Device was destroyed.');
    await gpuEngine.load(`${server.url}/model/`, 'wasm');
    expect((await gpuEngine.generate({ steps: 2 })).steps).toHaveLength(2);
  });

  it('a run hung on the lost device rejects with DeviceLostError, later runs too, until a new load', async () => {
    hang = true;
    const run = gpuEngine.generate({ steps: 3 }).catch((e: Error) => e);
    while (!gpuEngine.stats().running) await new Promise((r) => setTimeout(r, 5));
    gpuEngine.deviceLost('Device was destroyed.');
    const error = await run;
    expect(error).toMatchObject({ name: 'DeviceLostError', code: 'device-lost' });
    expect((error as Error).message).toMatch(
      /WebGPU device was lost \(Device was destroyed\.\).*wasm backend/,
    );
    await expect(gpuEngine.generate({ steps: 2 })).rejects.toMatchObject({ name: 'DeviceLostError' });

    hang = false;
    await gpuEngine.load(`${server.url}/model/`, 'wasm'); // what the UI does: reload on wasm
    expect(gpuEngine.stats()).toMatchObject({ loaded: true, running: false });
    expect((await gpuEngine.generate({ steps: 2 })).steps).toHaveLength(2);
    expect(gpuEngine.stats().liveTensors).toBe(0);
  });
});

describe('Engine generating while the deeper blocks download', () => {
  const manifest = JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')) as {
    segments: { blocks: { path: string }[]; prefix?: { depth: number } };
  };
  // every block a pass may skip by exiting at its minimum depth: the page's load leaves out the
  // blocks inside a fused prefix, so the held ones are those after it (or after block 0)
  const shallow = manifest.segments.prefix?.depth ?? 1;
  const deep = new Set(manifest.segments.blocks.slice(shallow).map((b) => b.path));
  let gate: { open: () => void; opened: Promise<void> };
  let corrupt = false;
  const newGate = () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    gate = { open, opened };
  };
  // serves the model, holding back the deep blocks until the gate opens (then, if `corrupt`, damaged)
  const held = createServer((req, res) => {
    const file = decodeURIComponent(new URL(req.url!, 'http://x').pathname.replace(/^\/model\//, ''));
    const send = () => {
      let body = readFileSync(path.join(MODEL_DIR, file));
      if (corrupt && deep.has(file)) body = Buffer.from(body.map((b, i) => (i === 1000 ? b ^ 0xff : b)));
      res.writeHead(200).end(body);
    };
    if (deep.has(file)) void gate.opened.then(send);
    else send();
  });
  let url = '';
  const engine = new Engine(async () => ort);

  beforeAll(async () => {
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(held.address() as AddressInfo).port}/model/`;
  });
  afterAll(async () => {
    await engine.unload();
    await new Promise((r) => held.close(r));
  });

  /** A load with the deep blocks held back (damaged once let go, if `damaged`), once it can generate. */
  const heldLoad = async (damaged: boolean) => {
    newGate();
    corrupt = damaged;
    let started: StartInfo | null = null;
    const load = engine.load(url, 'wasm', undefined, {}, (info) => (started = info));
    load.catch(() => undefined); // the test awaits it where it expects a failure
    await vi.waitFor(() => expect(started).not.toBeNull(), { timeout: 20_000 });
    return { load, started: started! };
  };

  it('starts before they are in: shallow images finish without them, a deep one waits, the images are the same', async () => {
    const { load, started } = await heldLoad(false);
    expect(started.backend).toBe('wasm');
    // θ 1: every pass exits at its minimum depth, so no deep block is needed
    const shallowParams = { seed: 3, steps: 4, threshold: 1 };
    const early = await engine.generate(shallowParams);
    expect(early.steps.every((s) => s.passes.every((p) => p.exitBlock === shallow - 1))).toBe(true);
    // full depth needs every block: it waits for them
    const fullParams = { seed: 3, steps: 2, mode: 'full' as const };
    let fullDone = false;
    const full = engine.generate(fullParams).then((r) => ((fullDone = true), r));
    await new Promise((r) => setTimeout(r, 200));
    expect(fullDone).toBe(false);
    gate.open();
    const waited = await full;
    const info = await load;
    expect(info.downloadedBytes).toBeGreaterThan(0);
    // the same images as from the model loaded whole
    const [again, fullAgain] = [await engine.generate(shallowParams), await engine.generate(fullParams)];
    expect(maxAbsDiff(early.image, again.image)).toBe(0);
    expect(maxAbsDiff(waited.image, fullAgain.image)).toBe(0);
    expect(engine.stats()).toMatchObject({ loaded: true, liveTensors: 0, running: false });
  });

  it('a new load while one is under way stops it: the old one rejects as cancelled, the new one runs', async () => {
    const first = await heldLoad(false);
    const second = engine.load(url, 'wasm');
    await expect(first.load).rejects.toMatchObject({ name: 'CancelledError' });
    gate.open();
    await second;
    expect((await engine.generate({ seed: 1, steps: 2, mode: 'full' })).steps).toHaveLength(2);
    expect(engine.stats()).toMatchObject({ loaded: true, liveTensors: 0, running: false });
  });

  // θ 0 at the default guidance: two passes a step, so one may be mid-run when the load fails and
  // releases their tensors (the page once met ONNX Runtime's "The tensor is disposed." here)
  it.each([
    ['full depth', { seed: 1, steps: 2, mode: 'full' as const }],
    ['θ 0, guided', { seed: 1, steps: 3, threshold: 0 }],
    ['θ 0, guided, another seed', { seed: 2, steps: 3, threshold: 0 }],
  ])(
    'a deep block that arrives damaged fails the waiting run (%s) and the load with its IntegrityError, leaving nothing',
    async (_, params) => {
      const { load } = await heldLoad(true);
      const run = engine.generate(params).catch((e: unknown) => e);
      gate.open();
      const [runError, loadError] = [await run, await load.catch((e: unknown) => e)];
      expect(loadError).toMatchObject({ name: 'IntegrityError', field: 'sha256' });
      expect(runError).toMatchObject({ name: 'IntegrityError' });
      expect(engine.stats()).toMatchObject({ loaded: false, liveTensors: 0, running: false });
      await expect(engine.generate({})).rejects.toBeInstanceOf(NotLoadedError);
    },
  );
});

describe('Engine filling the browser’s code cache for the runtime', () => {
  // the files the page's load reads: a session each
  const segmentFiles = () =>
    modelFiles(JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')) as Manifest, {
      skipFusedBlocks: true,
    }).length;
  /** The runtime builds a browser filled its code cache for, in memory. */
  const fakeRuntimes = () => {
    const done = new Set<string>();
    const runtimes: FilledRuntimes & { done: Set<string> } = {
      done,
      pending: async () => (done.has('ort.wasm') ? null : 'ort.wasm'),
      filled: async (runtime: string) => void done.add(runtime),
    };
    return runtimes;
  };
  const hostWith = (filledRuntimes: FilledRuntimes): EngineHost => ({
    source: (url) => httpSource(url),
    chooseBackend: async () => ({ backend: 'wasm', reason: 'test' }),
    openCache: async () => ({ cache: undefined, notice: null }),
    filledRuntimes,
  });
  /** OrtExecutor.exercise, spied on: `before` runs ahead of each call. */
  const spyExercise = (before: () => void = () => undefined) => {
    const original = OrtExecutor.prototype.exercise;
    return vi.spyOn(OrtExecutor.prototype, 'exercise').mockImplementation(function (
      this: OrtExecutor,
      ...args
    ) {
      before();
      return original.apply(this, args);
    });
  };
  // past the quiet second the engine waits for before each session
  const pastQuiet = () => new Promise((r) => setTimeout(r, 1500));

  it('after a runtime build’s first image, every session is made once more and released, once', async () => {
    const runtimes = fakeRuntimes();
    const engine = new Engine(async () => ort, hostWith(runtimes));
    const exercise = spyExercise();
    try {
      await engine.load(`${server.url}/model/`, 'wasm');
      await pastQuiet();
      expect(exercise).not.toHaveBeenCalled(); // not before an image: its benefit was never measured
      expect((await engine.generate({ steps: 2, seed: 1 })).steps).toHaveLength(2);
      await vi.waitFor(() => expect(runtimes.done.has('ort.wasm')).toBe(true), { timeout: 20_000 });
      expect(exercise).toHaveBeenCalledTimes(segmentFiles());
      expect(new Set(exercise.mock.calls.map(([, name]) => name)).size).toBe(segmentFiles());
      // the loaded model is untouched: it still generates, and nothing it made is left alive
      expect((await engine.generate({ steps: 2, seed: 1 })).steps).toHaveLength(2);
      expect(engine.stats()).toMatchObject({ loaded: true, liveTensors: 0 });
      // a later load of the same build (a return visit, another model) does not do it again
      exercise.mockClear();
      await engine.load(`${server.url}/model/`, 'wasm');
      await engine.generate({ steps: 2, seed: 1 });
      await pastQuiet();
      expect(exercise).not.toHaveBeenCalled();
    } finally {
      exercise.mockRestore();
      await engine.unload();
    }
  });

  it('waits for the run: an image asked for while the model loads runs alone', async () => {
    const runtimes = fakeRuntimes();
    const engine = new Engine(async () => ort, hostWith(runtimes));
    const during: boolean[] = []; // for each session made again: whether a run was under way
    const exercise = spyExercise(() => during.push(engine.stats().running));
    try {
      // as the page does: Generate pressed the moment the model can generate, before the load ends;
      // the run lasts until its caller has taken the last step, which the test holds past the quiet second
      let answer!: () => void;
      const answered = new Promise<void>((r) => (answer = r));
      let run: Promise<unknown> | undefined;
      await engine.load(`${server.url}/model/`, 'wasm', undefined, {}, () => {
        run = engine.generate({ steps: 4, seed: 2 }, () => answered);
      });
      await pastQuiet();
      expect(engine.stats().running).toBe(true);
      expect(during).toEqual([]); // nothing while the run is under way
      answer();
      await run;
      await vi.waitFor(() => expect(runtimes.done.size).toBe(1), { timeout: 20_000 });
      expect(during).toHaveLength(segmentFiles());
      expect(during.every((running) => !running)).toBe(true);
    } finally {
      exercise.mockRestore();
      await engine.unload();
    }
  });

  it('stops when the model goes, and tries again at the next load', async () => {
    const runtimes = fakeRuntimes();
    const engine = new Engine(async () => ort, hostWith(runtimes));
    let unloaded: Promise<void> | undefined;
    // the model goes while the first session is being made
    const exercise = spyExercise(() => (unloaded ??= engine.unload()));
    try {
      await engine.load(`${server.url}/model/`, 'wasm');
      await engine.generate({ steps: 2, seed: 1 });
      await vi.waitFor(() => expect(unloaded).toBeDefined(), { timeout: 20_000 });
      await unloaded;
      await pastQuiet();
      expect(exercise).toHaveBeenCalledTimes(1);
      expect(runtimes.done.size).toBe(0);
      expect(engine.stats()).toMatchObject({ loaded: false, liveTensors: 0 });
      exercise.mockRestore();
      await engine.load(`${server.url}/model/`, 'wasm');
      await engine.generate({ steps: 2, seed: 1 });
      await vi.waitFor(() => expect(runtimes.done.has('ort.wasm')).toBe(true), { timeout: 20_000 });
    } finally {
      exercise.mockRestore();
      await engine.unload();
    }
  });
});

describe('OrtExecutor', () => {
  it('once released, a read rejects with the release’s reason, not ONNX Runtime’s "The tensor is disposed."', async () => {
    const exec = new OrtExecutor(ort, 'wasm');
    const t = exec.tensor('float32', new Float32Array(4), [4]);
    const why = new Error('block_12.onnx: sha256 mismatch');
    await exec.release(why);
    expect(exec.liveCount()).toBe(0);
    await expect(exec.read(t)).rejects.toBe(why);
    expect(exec.releasedBecause).toBe(why);
  });
});
