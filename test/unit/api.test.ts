/**
 * The engine API in Node (adadiff-web/node) on the shipped model: the promise-based contract a
 * program relies on — generate before load, named errors, cancellation by signal and by a newer
 * call, unload — over the same session the page uses.
 */
import { describe, expect, it } from 'vitest';
import { createGenerator, CancelledError, FetchError, ParameterError } from '../../src/api/node';
import { MODEL_DIR } from './fixtures';

describe('createGenerator (Node)', () => {
  it('generate() before load() loads the model, then runs; info says what loaded', async () => {
    const g = createGenerator({ model: MODEL_DIR });
    expect(g.info).toBeNull();
    const steps: number[] = [];
    const r = await g.generate({ steps: 3, seed: 5 }, { onStep: (e) => steps.push(e.t) });
    expect(steps).toHaveLength(3);
    expect(r.image).toHaveLength(28 * 28);
    expect(g.info?.backend).toBe('wasm');
    expect(g.info?.manifest.id).toBe('fmnist-uvit13');
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
