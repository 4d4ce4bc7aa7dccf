// @vitest-environment jsdom
/** The page's stores, intents and components, with a scripted engine in place of the worker. */
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  addCounts,
  defaultParams,
  emptyTotals,
  lastTimestep,
  parseManifest,
  type GenerateParams,
  type StepEvent,
  type Totals,
} from '../../src/runtime';
import {
  cancelIntent,
  generateIntent,
  chooseModelIntent,
  loadModelIntent,
  setEngine,
  setEngineFactory,
} from '../../src/ui/actions';
import { BlockChart } from '../../src/components/BlockChart';
import { needsConsent, resolveModelUrl } from '../../src/session/model-url';
import {
  calibrationFor,
  calibrationSummary,
  changedFromCalibration,
} from '../../src/ui/components/calibration';
import { Controls } from '../../src/ui/components/Controls';
import { Counters } from '../../src/ui/components/Counters';
import { forgetRefusal, useConsent } from '../../src/ui/state/consent';
import { useModel } from '../../src/ui/state/model';
import {
  PAGE_DEFAULTS,
  paramsFromUrl,
  paramsToSearch,
  settingsFor,
  useParams,
} from '../../src/ui/state/params';
import { compareImages, initialRun, useRun } from '../../src/ui/state/run';
import { WorkerCrashedError, type EngineClient } from '../../src/worker/client';
import { CancelledError, DeviceLostError } from '../../src/runtime/errors';
import { MODEL_DIR } from './fixtures';

const manifest = parseManifest(JSON.parse(readFileSync(path.join(MODEL_DIR, 'manifest.json'), 'utf8')));

/** run of full blocks, the skipped ones by exits; `bySchedule` more skipped by the guidance schedule. */
const totals = (run: number, full: number, bySchedule = 0): Totals => {
  const t = addCounts(emptyTotals(), {
    blocksRun: run,
    blocksFull: full,
    flops: run,
    flopsFull: full,
    source: 'exits',
  });
  if (bySchedule)
    addCounts(t, {
      blocksRun: 0,
      blocksFull: bySchedule,
      flops: 0,
      flopsFull: bySchedule,
      source: 'schedule',
    });
  t.wallMs = 100;
  return t;
};

/** An engine whose generate emits one step per exit block given, and can be cancelled. */
function fakeEngine(exits: number[], opts: { failLoad?: string } = {}) {
  const calls: Partial<GenerateParams>[] = [];
  let cancelled = false;
  const engine: EngineClient = {
    async load(_url, _backend, onProgress) {
      if (opts.failLoad) throw Object.assign(new Error(opts.failLoad), { name: 'FetchError' });
      onProgress?.({ loaded: 50, total: 100, file: 'embed.onnx', fromCache: false });
      onProgress?.({ loaded: 100, total: 100, file: 'head.onnx', fromCache: false });
      return {
        manifest,
        backend: 'wasm',
        backendReason: 'no WebGPU adapter',
        downloadedBytes: 100,
        cacheNotice: null,
        loadMs: 5,
      };
    },
    async generate(params, onStep) {
      calls.push(params);
      cancelled = false;
      let run = 0;
      for (const [k, e] of exits.entries()) {
        await new Promise((r) => setTimeout(r, 1));
        if (cancelled) throw new CancelledError();
        run += e + 1;
        const ev: StepEvent = {
          step: k,
          steps: exits.length,
          t: 999 - k,
          passes: [
            { label: 'cond', depth: 'adaptive', exitBlock: e, uncertainties: [0.3, 0.05].slice(0, e + 1) },
          ],
          scheduleSkipped: null,
          blocksRun: e + 1,
          blocksFull: 13,
          blocksSkipped: { exits: 12 - e, schedule: 0, fixedDepth: 0 },
          flops: 1,
          stepMs: 1,
          blockMs: [],
          totals: totals(run, 13 * (k + 1)),
          preview: new Float32Array(784),
        };
        onStep?.(ev);
      }
      return { image: new Float32Array(784).fill(0.5), steps: [], totals: totals(run, 13 * exits.length) };
    },
    async cancel() {
      cancelled = true;
    },
    async unload() {},
    async stats() {
      return { loaded: true, liveTensors: 0, running: false };
    },
    terminate() {},
  };
  return { engine, calls };
}

beforeEach(() => {
  useRun.setState(initialRun);
  useParams.setState({ ...PAGE_DEFAULTS, given: {}, ignored: [] });
  useModel.setState({ status: 'idle', manifest: null, error: null });
});
afterEach(() => {
  cleanup();
  setEngine(null);
  setEngineFactory(null);
});

describe('shareable URL parameters', () => {
  it('round-trips every parameter set, and leaves out what is the model’s or the page’s own', () => {
    const given = {
      classIndex: 7,
      seed: 42,
      steps: 12,
      sampler: 'dpmpp2m' as const,
      guidance: 2,
      threshold: 0.125,
      batching: 'shallow' as const,
      unconditionalEvery: 3,
      guidanceMaxT: 700,
    };
    const p = { ...PAGE_DEFAULTS, given, guidanceSchedule: false, compare: true };
    expect(paramsFromUrl(paramsToSearch(p)).values).toEqual({
      ...given,
      guidanceSchedule: false,
      compare: true,
    });
    // nothing set: an empty link, whatever the model; a link's other parameters are kept
    expect(paramsToSearch({ ...PAGE_DEFAULTS, given: {} })).toBe('?');
    expect(
      paramsToSearch({ ...PAGE_DEFAULTS, given: { seed: 3 } }, new URLSearchParams('model=emoji&steps=9')),
    ).toBe('?model=emoji&seed=3');
  });

  it('drops invalid values and reports them instead of clamping', () => {
    const r = paramsFromUrl('?threshold=NaN&steps=-3&seed=1.5&sampler=euler&class=2');
    expect(r.values).toEqual({ classIndex: 2 });
    expect(r.ignored).toEqual(['seed=1.5', 'steps=-3', 'sampler=euler', 'threshold=NaN']);
    const pass = paramsFromUrl('?batching=deep&uncondEvery=0&guidanceMaxT=1.5&compare=1');
    expect(pass.values).toEqual({ compare: true });
    expect(pass.ignored).toEqual(['batching=deep', 'uncondEvery=0', 'guidanceMaxT=1.5']);
  });
});

describe('model URLs from a shared link', () => {
  const page = new URL('https://adadiff.example/app/?seed=1');
  it('same-origin http(s) needs no consent, other schemes are refused, other origins need consent', () => {
    const trusted = [page.origin];
    expect(resolveModelUrl('models/m', page.href).href).toBe('https://adadiff.example/app/models/m/');
    expect(needsConsent(resolveModelUrl('models/m/', page.href), trusted)).toBe(false);
    expect(() => resolveModelUrl('javascript:alert(1)', page.href)).toThrow(/must be http: or https:/);
    expect(() => resolveModelUrl('http://[bad', page.href)).toThrow(/not a valid model URL/);
    expect(needsConsent(resolveModelUrl('https://evil.example/m/', page.href), trusted)).toBe(true);
  });

  it('a model from another site waits for the visitor; a refusal is a load error and the engine is never touched', async () => {
    const fake = fakeEngine([]);
    let loads = 0;
    setEngine({ ...fake.engine, load: (...a) => (loads++, fake.engine.load(...a)) });
    const loading = loadModelIntent('https://elsewhere.example/m/');
    await vi.waitFor(() => expect(useConsent.getState().asking).toBe('https://elsewhere.example'));
    expect(loads).toBe(0);
    useConsent.getState().answer('deny');
    await loading;
    expect(useModel.getState()).toMatchObject({ status: 'error', errorName: 'ConsentRefusedError' });
    expect(useModel.getState().error).toMatch(/chose not to load a model from https:\/\/elsewhere\.example/);
    expect(loads).toBe(0);
    // remembered: the next load of that origin is refused without asking
    await loadModelIntent('https://elsewhere.example/other/');
    expect(useConsent.getState().asking).toBeNull();
    expect(loads).toBe(0);
    forgetRefusal('https://elsewhere.example/m/', location.href);
    const again = loadModelIntent('https://elsewhere.example/m/');
    await vi.waitFor(() => expect(useConsent.getState().asking).toBe('https://elsewhere.example'));
    useConsent.getState().answer('allow');
    await again;
    expect(loads).toBe(1);
    expect(useModel.getState().status).toBe('ready');
    localStorage.clear();
  });
});

describe('intents update the stores', () => {
  it('load reports progress and the backend; what nobody set is the manifest’s', async () => {
    setEngine(fakeEngine([]).engine);
    await loadModelIntent(`${location.origin}/models/m/`);
    const m = useModel.getState();
    expect(m.status).toBe('ready');
    expect(m.backend).toBe('wasm');
    expect([m.loaded, m.total]).toEqual([100, 100]);
    expect(useParams.getState().given).toEqual({});
    expect(settingsFor(useParams.getState(), manifest)).toMatchObject({
      threshold: manifest.defaults.threshold,
      steps: manifest.defaults.steps,
      guidance: manifest.defaults.guidance,
      batching: manifest.defaults.batching,
      unconditionalEvery: manifest.defaults.unconditionalEvery,
      guidanceMaxT: manifest.defaults.guidanceMaxT,
    });
  });

  it('a link value outside the loaded model’s range is dropped and listed; switching models keeps the seed alone', async () => {
    setEngine(fakeEngine([]).engine);
    useParams.setState({ given: { classIndex: 42, guidanceMaxT: 5000, seed: 8, threshold: 0.3 } });
    await loadModelIntent(`${location.origin}/models/m/`);
    expect(useParams.getState().given).toEqual({ seed: 8, threshold: 0.3 });
    expect(useParams.getState().ignored).toEqual(['class=42', 'guidanceMaxT=5000']);
    setEngine(fakeEngine([]).engine);
    await chooseModelIntent(`${location.origin}/models/other/`);
    expect(useParams.getState().given).toEqual({ seed: 8 });
    expect(new URLSearchParams(location.search).get('model')).toBe(`${location.origin}/models/other/`);
  });

  it('a failed load shows the error, and retry works', async () => {
    setEngine(fakeEngine([], { failLoad: 'could not load x: HTTP 404' }).engine);
    await loadModelIntent(`${location.origin}/bad/`);
    expect(useModel.getState()).toMatchObject({
      status: 'error',
      error: 'could not load x: HTTP 404',
      errorName: 'FetchError',
    });
    setEngine(fakeEngine([]).engine);
    await loadModelIntent(`${location.origin}/good/`);
    expect(useModel.getState().status).toBe('ready');
  });

  it('generate streams one row per step and ends with the image and totals', async () => {
    const fake = fakeEngine([1, 4, 12]);
    setEngine(fake.engine);
    await loadModelIntent(`${location.origin}/m/`);
    useParams.getState().set({ threshold: 0.2, seed: 9 });
    await generateIntent();
    const r = useRun.getState();
    expect(r.status).toBe('done');
    expect(r.rows.map((row) => row.passes[0]!.exitBlock)).toEqual([1, 4, 12]);
    expect(r.totals!.blocksRun).toBe(2 + 5 + 13);
    expect(r.image).not.toBeNull();
    // the page sends θ; the runtime alone decides what θ means (0: full depth)
    expect(fake.calls[0]).toMatchObject({ threshold: 0.2, seed: 9, preview: true });
    expect(fake.calls[0]!.mode).toBeUndefined();
    useParams.getState().set({ batching: 'separate', unconditionalEvery: 1, guidanceMaxT: 500 });
    await generateIntent();
    expect(fake.calls[1]).toMatchObject({ batching: 'separate', unconditionalEvery: 1, guidanceMaxT: 500 });
  });

  it('fast steps reach the run store in batches: the first at once, every row by the end', async () => {
    setEngine(fakeEngine(new Array(40).fill(3)).engine);
    await loadModelIntent(`${location.origin}/m/`);
    const seen: number[] = [];
    const stop = useRun.subscribe((s, before) => {
      if (s.rows !== before.rows && s.rows.length > 0) seen.push(s.rows.length);
    });
    await generateIntent();
    stop();
    expect(seen[0]).toBe(1);
    expect(seen.length).toBeLessThan(40); // 40 steps ~1 ms apart: far fewer store writes than steps
    expect(seen[seen.length - 1]).toBe(40);
    expect(useRun.getState().totals!.blocksRun).toBe(40 * 4);
  });

  it('θ = 0 asks for full depth; compare runs a second, full-depth generation', async () => {
    const fake = fakeEngine([12]);
    setEngine(fake.engine);
    await loadModelIntent(`${location.origin}/m/`);
    useParams.getState().set({ threshold: 0, compare: true });
    await generateIntent();
    expect(fake.calls.map((c) => [c.threshold, c.mode])).toEqual([
      [0, undefined],
      [0, 'full'],
    ]);
    expect(useRun.getState().compare?.psnr).toBe(Infinity);
  });

  it('cancel ends the run as cancelled, not as an error', async () => {
    setEngine(fakeEngine(new Array(50).fill(3)).engine);
    await loadModelIntent(`${location.origin}/m/`);
    const run = generateIntent();
    await new Promise((r) => setTimeout(r, 5));
    await cancelIntent();
    await run;
    expect(useRun.getState()).toMatchObject({ status: 'cancelled', error: null });
  });

  it('a lost GPU device reloads the model on wasm and says so; the next generate works', async () => {
    const fake = fakeEngine([2]);
    const backends: string[] = [];
    let lose = true;
    const engine: EngineClient = {
      ...fake.engine,
      load: (url, backend, p) => (backends.push(backend), fake.engine.load(url, backend, p)),
      generate: (params, onStep) =>
        lose ? Promise.reject(new DeviceLostError('destroyed')) : fake.engine.generate(params, onStep),
    };
    // the engine on the lost device is let go; the next one (here the same script) loads on wasm
    setEngine(engine);
    setEngineFactory(() => engine);
    useParams.getState().set({ backend: 'webgpu' });
    await loadModelIntent(`${location.origin}/m/`);
    await generateIntent();
    expect(backends).toEqual(['webgpu', 'wasm']);
    expect(useParams.getState().backend).toBe('wasm');
    expect(useRun.getState()).toMatchObject({ status: 'error' });
    expect(useRun.getState().error).toMatch(/device was lost .*Switched to wasm: press Generate again/);
    lose = false;
    await generateIntent();
    expect(useRun.getState().status).toBe('done');
  });

  it('a crashed worker is replaced: a fresh engine reloads the model, settings are kept', async () => {
    const crashing = fakeEngine([2]);
    let terminated = 0;
    setEngine({
      ...crashing.engine,
      generate: () => Promise.reject(new WorkerCrashedError('the engine stopped unexpectedly (boom)')),
      terminate: () => void terminated++,
    });
    const fresh = fakeEngine([1, 12]);
    let created = 0;
    setEngineFactory(() => (created++, fresh.engine));
    await loadModelIntent(`${location.origin}/m/`);
    useParams.getState().set({ seed: 77, threshold: 0.25 });
    await generateIntent();
    expect([terminated, created]).toEqual([1, 1]);
    expect(useModel.getState().status).toBe('ready');
    expect(useRun.getState().error).toMatch(
      /stopped unexpectedly \(boom\)\. A fresh engine has loaded the model/,
    );
    await generateIntent();
    expect(useRun.getState().status).toBe('done');
    expect(fresh.calls[0]).toMatchObject({ seed: 77, threshold: 0.25 });
  });
});

describe('components', () => {
  it('BlockChart tells apart blocks that ran, exits, fixed depths and passes the schedule skipped', () => {
    const pass = (label: 'cond' | 'uncond', depth: 'adaptive' | 'fixed', exitBlock: number) => ({
      label,
      depth,
      exitBlock,
      uncertainties: [],
    });
    const rows = [
      // unguided: the conditional pass alone, the unconditional one skipped by the schedule
      { t: 999, passes: [pass('cond', 'adaptive', 1)], scheduleSkipped: 'unguided' as const },
      // guided: the conditional pass exits at block 4, the shallow unconditional pass stops at 5
      { t: 500, passes: [pass('cond', 'adaptive', 3), pass('uncond', 'fixed', 4)], scheduleSkipped: null },
    ];
    const { container } = render(<BlockChart rows={rows} steps={2} numBlocks={13} />);
    const chart = screen.getByTestId('block-chart');
    const count = (cls: string) => chart.querySelectorAll(`rect.${cls}`).length;
    expect(count('ran')).toBe(2 + 4);
    expect(count('skipped-exit')).toBe(11 + 9);
    expect(count('ran-fixed')).toBe(5);
    expect(count('skipped-fixed')).toBe(8);
    expect(count('skipped-schedule')).toBe(13);
    const legend = [...container.querySelectorAll('[data-testid="block-chart-legend"] li')].map((li) =>
      li.getAttribute('data-cell'),
    );
    expect(legend).toEqual(['ran', 'ran-fixed', 'skipped-exit', 'skipped-fixed', 'skipped-schedule']);
  });

  it('Counters shows blocks skipped, the saved fraction, and its sources side by side', () => {
    render(<Counters totals={totals(60, 100, 30)} running={false} />);
    expect(screen.getByTestId('blocks-run').textContent).toBe('60 / 130');
    expect(screen.getByTestId('saved-fraction').textContent).toBe('70 (53.8 %)');
    expect(screen.getByTestId('saved-exits').textContent).toBe('30.8 %');
    expect(screen.getByTestId('saved-schedule').textContent).toBe('23.1 %');
    expect(screen.getByTestId('saved-fixed-depth').textContent).toBe('0.0 %');
  });

  it('Controls: the slider sets θ and the calibration beside it follows', () => {
    const calibrated = {
      ...manifest,
      calibration: [
        { threshold: 0.1, savedFraction: 0.3, agreement: 0.9 },
        { threshold: 0.2, savedFraction: 0.5, agreement: 0.85 },
      ],
    };
    render(<Controls manifest={calibrated} />);
    fireEvent.change(screen.getByLabelText(/Uncertainty threshold/), { target: { value: '0.19' } });
    expect(useParams.getState().given.threshold).toBe(0.19);
    expect(screen.getByText(/50 % blocks saved, class agreement 85 %/)).toBeTruthy();
    expect(calibrationFor(calibrated.calibration, 0.11)?.threshold).toBe(0.1);
  });

  it('Controls: the guidance-pass settings, marked when they leave the calibrated ones, and reset', () => {
    render(<Controls manifest={manifest} />);
    expect(screen.getByText('Guidance pass')).toBeTruthy();
    expect(screen.queryByText(/yours differ/)).toBeNull();
    fireEvent.change(screen.getByLabelText('Unconditional pass'), { target: { value: 'separate' } });
    fireEvent.change(screen.getByLabelText(/every N-th guided step/), { target: { value: '1' } });
    fireEvent.change(screen.getByLabelText(/Guide only at timesteps/), { target: { value: '5000' } });
    expect(useParams.getState().given).toMatchObject({
      batching: 'separate',
      unconditionalEvery: 1,
      guidanceMaxT: 999,
    });
    expect(changedFromCalibration(settingsFor(useParams.getState(), manifest), manifest)).toEqual([
      'batching',
      'unconditionalEvery',
      'guidanceMaxT',
    ]);
    expect(screen.getByText('Guidance pass (changed)')).toBeTruthy();
    expect(
      screen.getByText(
        /yours differ in how the unconditional pass exits, how often it runs, guidance interval\.$/,
      ),
    ).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Use the model’s settings' }));
    expect(useParams.getState().given).toEqual({});
    expect(changedFromCalibration(settingsFor(useParams.getState(), manifest), manifest)).toEqual([]);
    expect(screen.queryByText(/yours differ/)).toBeNull();
    fireEvent.change(screen.getByLabelText('Guidance'), { target: { value: '2' } });
    expect(screen.getByText(/yours differ in guidance\.$/)).toBeTruthy();
    expect(screen.getByText('Guidance pass')).toBeTruthy();
  });

  it('Controls: the guidance schedule switch turns reuse and the interval off, and generate follows', async () => {
    const d = defaultParams(manifest);
    const fake = fakeEngine([4, 12]);
    setEngine(fake.engine);
    await loadModelIntent(`${location.origin}/m/`);
    render(<Controls manifest={manifest} />);
    const toggle = screen.getByTestId('guidance-schedule') as HTMLInputElement;
    expect(toggle.checked).toBe(true);
    fireEvent.click(toggle);
    expect(useParams.getState().guidanceSchedule).toBe(false);
    expect((screen.getByLabelText(/every N-th guided step/) as HTMLInputElement).disabled).toBe(true);
    // the fields keep the model's values; the switch decides what generate gets
    expect(settingsFor(useParams.getState(), manifest).unconditionalEvery).toBe(d.unconditionalEvery);
    expect(screen.getByText(/yours differ in how often it runs, guidance interval\.$/)).toBeTruthy();
    await generateIntent();
    expect(fake.calls[0]).toMatchObject({
      unconditionalEvery: 1,
      guidanceMaxT: lastTimestep(manifest.schedule),
    });
    fireEvent.click(screen.getByRole('button', { name: 'Use the model’s settings' }));
    expect(useParams.getState().guidanceSchedule).toBe(true);
  });

  it('calibrationSummary gives agreement and FID against full depth when the table has it', () => {
    const rows = [
      { mode: 'full' as const, threshold: 0, savedFraction: 0, agreement: 0.88, fid: 80 },
      { threshold: 0, savedFraction: 0.42, agreement: 0.87, fid: 70 },
      { threshold: 0.14, savedFraction: 0.483, agreement: 0.86, fid: 116 },
    ];
    expect(calibrationSummary(rows, 0.15)).toBe(
      'Measured near θ = 0.14: 48 % blocks saved, class agreement 86 % (full depth 88 %), FID 1.45× full depth.',
    );
    // θ 0 is the adaptive row with no exit (the guidance schedule alone), not the full-depth reference
    expect(calibrationSummary(rows, 0.01)).toBe(
      'Measured near θ = 0: 42 % blocks saved, class agreement 87 % (full depth 88 %), FID 0.88× full depth.',
    );
    expect(calibrationSummary([{ threshold: 0.1, savedFraction: 0.3, fid: 90 }], 0.1)).toBe(
      'Measured near θ = 0.1: 30 % blocks saved, FID 90.0.',
    );
    expect(calibrationSummary([], 0.1)).toMatch(/no calibration table yet/);
  });

  it('compareImages: PSNR of identical images is infinite, of a constant offset is exact', () => {
    const a = new Float32Array(4).fill(0);
    expect(compareImages(a, a).psnr).toBe(Infinity);
    const b = new Float32Array(4).fill(0.2);
    expect(compareImages(a, b).meanAbsDiff).toBeCloseTo(0.2, 6);
    expect(compareImages(a, b).psnr).toBeCloseTo(10 * Math.log10(4 / 0.04), 4);
  });
});
