/**
 * The shipped model against PyTorch: every ONNX segment on the exporter's inputs, the chained
 * full-depth model, and whole DDIM runs (full depth and at the default θ) with their exit decisions.
 */
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { directorySource } from '../../src/node/source';
import {
  generate,
  loadModel,
  resolveParams,
  SegmentRunner,
  type Denoiser,
  type GenerateParams,
  type LoadedModel,
  type Totals,
  withoutGuidanceSchedule,
} from '../../src/runtime';
import { openMonolithic, type Monolithic } from '../../src/bench/monolithic';
import { PREPACK_MAX_MODEL_BYTES } from '../../src/runtime/executor';
import { checkParity, TOLERANCE } from '../parity/check.mjs';
import { compareSampling, PIXEL_TOLERANCE, RUNS } from '../parity/sampling';
import { FIXTURE_DIR, MODEL_DIR, maxAbsDiff, readFixtures } from './fixtures';

ort.env.logLevel = 'error';
const fx = readFixtures();
let model: LoadedModel;
let runner: SegmentRunner;
let monolithic: Monolithic;

beforeAll(async () => {
  model = await loadModel(directorySource(MODEL_DIR), { includeMonolithic: true });
  const handed = { ...model, files: new Map(model.files) };
  runner = await SegmentRunner.create(ort, handed, { backend: 'wasm' });
  // the runner needs no bytes once its sessions exist (so a loaded model holds no copy of its weights)
  handed.files.clear();
  monolithic = await openMonolithic(runner, model.files);
});
afterAll(async () => {
  await runner?.release();
});

describe('export parity (onnxruntime-web wasm vs PyTorch)', () => {
  it('the manifest lists ≥ 13 block segments, each verified by sha256 at load', () => {
    expect(model.manifest.segments.blocks.length).toBeGreaterThanOrEqual(13);
    const prefix = model.manifest.segments.prefix ? 1 : 0;
    expect(model.files.size).toBe(model.manifest.segments.blocks.length + 3 + prefix);
  });

  it('every segment, every exit, the chained full depth and the monolithic graph: max abs error ≤ 1e-4', async () => {
    const results = await checkParity(MODEL_DIR, FIXTURE_DIR);
    const prefix = model.manifest.segments.prefix;
    // a fused prefix is compared on its tokens, temb, each uncertainty and each skip it hands out
    const fused = prefix ? 2 + prefix.depth + prefix.outputs.length - 3 : 0;
    expect(results.length).toBe(2 + 3 * model.manifest.segments.blocks.length + 2 + fused);
    for (const r of results) expect(r.error, r.name).toBeLessThanOrEqual(TOLERANCE);
  });

  it('the runtime’s own chain (SegmentRunner) gives the same ε as PyTorch and the monolithic graph', async () => {
    const x = fx.f32('segments.x');
    const t = fx.f32('segments.t');
    const y = fx.i64('segments.y');
    const want = fx.f32('segments.eps');
    const per = x.length / 2;
    for (let b = 0; b < 2; b++) {
      // runner.begin takes one timestep per pass, so chain each sample on its own
      const pass = await runner.begin(x.slice(b * per, (b + 1) * per), t[b]!, [y[b]!]);
      for (let i = 0; i < runner.numBlocks; i++) await pass.runBlock(i);
      const eps = await pass.exit();
      pass.dispose();
      expect(maxAbsDiff(eps, want.subarray(b * per, (b + 1) * per))).toBeLessThanOrEqual(1e-4);
      const mono = await monolithic.run(x.slice(b * per, (b + 1) * per), t[b]!, [y[b]!]);
      expect(maxAbsDiff(mono, want.subarray(b * per, (b + 1) * per))).toBeLessThanOrEqual(1e-4);
    }
    expect(runner.liveTensorCount()).toBe(0);
  });

  it('through the fused prefix: the same uncertainty for every block and the same ε', async () => {
    const depth = model.manifest.segments.prefix?.depth;
    if (!depth) return; // a model exported without one
    expect(runner.prefixDepth).toBe(depth);
    const x = fx.f32('segments.x');
    const t = fx.f32('segments.t');
    const y = fx.i64('segments.y');
    const per = x.length / 2;
    for (let b = 0; b < 2; b++) {
      const pass = await runner.begin(x.slice(b * per, (b + 1) * per), t[b]!, [y[b]!], depth);
      for (let i = 0; i < runner.numBlocks; i++) {
        const u = await pass.runBlock(i);
        const want = fx.f32(`segments.block${i}.uncertainty`)[b]!;
        expect(Math.abs(u[0]! - want), `block ${i}`).toBeLessThanOrEqual(1e-4);
      }
      const eps = await pass.exit();
      pass.dispose();
      expect(maxAbsDiff(eps, fx.f32('segments.eps').subarray(b * per, (b + 1) * per))).toBeLessThanOrEqual(
        1e-4,
      );
    }
    // an exit inside the prefix cannot be served: a clear error, not a wrong ε
    const early = await runner.begin(x.slice(0, per), t[0]!, [y[0]!], depth);
    await early.runBlock(0);
    await expect(early.exit()).rejects.toThrow(/inside the fused prefix/);
    early.dispose();
    expect(runner.liveTensorCount()).toBe(0);
  });
});

describe('sampling against the PyTorch reference run', () => {
  const s = fx.meta.sampling;
  for (const name of RUNS) {
    it(`${name}: same seed → same pixels (≤ 1e-3) and the same exit decisions`, async () => {
      const run = s.runs[name];
      const comparison = (await compareSampling(runner, FIXTURE_DIR)).find((c) => c.run === name)!;
      const result = comparison.result;
      expect(result.steps.map((r) => r.t)).toEqual(run.trace.map((r) => r.t));
      expect(comparison.exits.got).toEqual(comparison.exits.want);
      expect(comparison.pixelError).toBeLessThanOrEqual(PIXEL_TOLERANCE);
      // the uncertainties a pass reports are those its exit was decided on
      result.steps.forEach((step, k) => {
        const rec = run.trace[k]!;
        const want = step.passes[0]!.uncertainties.map((_, i) =>
          s.batching === 'all' && rec.unc_uncond
            ? Math.max(rec.unc_cond[0]![i]!, rec.unc_uncond[0]![i]!)
            : rec.unc_cond[0]![i]!,
        );
        expect(
          maxAbsDiff(Float32Array.from(step.passes[0]!.uncertainties), Float32Array.from(want)),
        ).toBeLessThanOrEqual(1e-4);
      });
      if (name === 'full') expect(result.totals.savedFraction).toBe(0);
      // per-step accounting adds up to the totals
      expect(result.steps.reduce((a, r) => a + r.blocksRun, 0)).toBe(result.totals.blocksRun);
      expect(result.steps.reduce((a, r) => a + r.flops, 0)).toBe(result.totals.flops);
      expect(runner.liveTensorCount()).toBe(0);
    });
  }

  it('weighted batching: the conditional pass exits at θ, the unconditional at θ·g/|1 − g| on its own uncertainty', async () => {
    const threshold = 0.1;
    const guidance = 1.25;
    const params = resolveParams(model.manifest, {
      classIndex: 2,
      seed: 5,
      steps: 8,
      threshold,
      guidance,
      unconditionalEvery: 1,
      guidanceMaxT: 999,
    });
    const weighted = await generate(runner, model.manifest, { ...params, batching: 'weighted' });
    const minDepth = params.minDepth;
    const exitAt = (u: number[], bound: number) => {
      const i = u.findIndex((v, k) => k >= minDepth - 1 && v <= bound);
      return i < 0 ? u.length - 1 : i;
    };
    for (const step of weighted.steps) {
      const [cond, uncond] = step.passes;
      expect([cond!.label, uncond!.label]).toEqual(['cond', 'uncond']);
      expect(cond!.exitBlock).toBe(exitAt(cond!.uncertainties, threshold));
      expect(uncond!.exitBlock).toBe(exitAt(uncond!.uncertainties, (threshold * guidance) / (guidance - 1)));
    }
    // the scaled θ makes the unconditional pass the shallower one on this model
    const depth = (r: typeof weighted, label: string) =>
      r.steps.reduce((a, s) => a + s.passes.find((p) => p.label === label)!.exitBlock + 1, 0);
    expect(depth(weighted, 'uncond')).toBeLessThan(depth(weighted, 'cond'));
    const separate = await generate(runner, model.manifest, { ...params, batching: 'separate' });
    expect(weighted.totals.savedFraction).toBeGreaterThan(separate.totals.savedFraction);
    expect(runner.liveTensorCount()).toBe(0);
  });

  it('a reused unconditional pass runs every N-th step, is counted as skipped between, and holds its estimate', async () => {
    const given = { classIndex: 6, seed: 9, steps: 7, threshold: 0.1, guidance: 1.25, guidanceMaxT: 999 };
    const params = (n: number) => resolveParams(model.manifest, { ...given, unconditionalEvery: n });
    const [every, third] = [
      await generate(runner, model.manifest, params(1)),
      await generate(runner, model.manifest, params(3)),
    ];
    expect(every.steps.map((s) => s.passes.length)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(third.steps.map((s) => s.passes.map((p) => p.label).join('+'))).toEqual(
      ['cond+uncond', 'cond', 'cond', 'cond+uncond', 'cond', 'cond', 'cond+uncond'].map((l) =>
        model.manifest.defaults.batching === 'all' ? l.replace('cond+uncond', 'batch') : l,
      ),
    );
    // the reference still counts both passes at every step; the reused ones run nothing
    expect(third.totals.blocksFull).toBe(every.totals.blocksFull);
    expect(third.steps.map((s) => s.blocksFull)).toEqual(every.steps.map((s) => s.blocksFull));
    expect(third.totals.blocksRun).toBe(third.steps.reduce((a, s) => a + s.blocksRun, 0));
    expect(third.totals.savedFraction).toBeGreaterThan(every.totals.savedFraction);
    // until the first reuse the two runs are the same; after it they part
    expect(third.steps[0]!.passes).toEqual(every.steps[0]!.passes);
    expect(maxAbsDiff(third.image, every.image)).toBeGreaterThan(1e-3);
    // full depth, the reference, runs both passes at every step whatever the setting
    const full = await generate(runner, model.manifest, { ...params(3), mode: 'full' });
    expect(full.steps.map((s) => s.passes.length)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(full.totals.savedFraction).toBe(0);
    // with guidance 1 there is no unconditional pass to reuse: the setting changes nothing
    const plain = { ...given, guidance: 1 };
    const [a, b] = [
      await generate(
        runner,
        model.manifest,
        resolveParams(model.manifest, { ...plain, unconditionalEvery: 1 }),
      ),
      await generate(
        runner,
        model.manifest,
        resolveParams(model.manifest, { ...plain, unconditionalEvery: 4 }),
      ),
    ];
    expect(b.image).toEqual(a.image);
    expect(b.totals).toEqual({ ...a.totals, wallMs: b.totals.wallMs });
    expect(runner.liveTensorCount()).toBe(0);
  });

  it('a guidance interval runs the noisiest steps unguided, and shallow batching stops the unconditional pass at minDepth', async () => {
    // 8 steps: t = 999, 874, 749, 624, …; guidance from t ≤ 800, the unconditional pass on every 2nd guided step
    const given = { classIndex: 4, seed: 11, steps: 8, threshold: 0.05, guidance: 1.25, minDepth: 5 };
    const run = (p: Partial<GenerateParams>) =>
      generate(runner, model.manifest, resolveParams(model.manifest, { ...given, ...p }));
    const interval = await run({ batching: 'shallow', unconditionalEvery: 2, guidanceMaxT: 800 });
    expect(interval.steps.map((s) => s.passes.map((p) => p.label).join('+'))).toEqual([
      'cond',
      'cond',
      'cond+uncond',
      'cond',
      'cond+uncond',
      'cond',
      'cond+uncond',
      'cond',
    ]);
    for (const step of interval.steps) {
      const uncond = step.passes.find((p) => p.label === 'uncond');
      if (uncond) expect(uncond.exitBlock).toBe(4); // block 5, whatever its uncertainty
      expect(step.blocksFull).toBe(2 * runner.numBlocks); // the reference runs both passes at every step
    }
    const cond = interval.steps.map((s) => s.passes[0]!);
    expect(cond.some((p) => p.exitBlock > 4)).toBe(true); // the conditional pass still exits at θ
    // the two unguided steps follow the conditional estimate alone: the runs part from step 0
    const guidedAll = await run({ batching: 'shallow', unconditionalEvery: 2, guidanceMaxT: 999 });
    expect(guidedAll.steps[0]!.passes.map((p) => p.label)).toEqual(['cond', 'uncond']);
    expect(maxAbsDiff(interval.image, guidedAll.image)).toBeGreaterThan(1e-3);
    expect(interval.totals.savedFraction).toBeGreaterThan(guidedAll.totals.savedFraction);
    // shallow runs the unconditional pass no deeper than weighted does
    const weighted = await run({ batching: 'weighted', unconditionalEvery: 2, guidanceMaxT: 800 });
    expect(interval.totals.blocksRun).toBeLessThanOrEqual(weighted.totals.blocksRun);
    // mode 'full', the reference, guides every step with both passes whole
    const full = await run({ batching: 'shallow', unconditionalEvery: 2, guidanceMaxT: 800, mode: 'full' });
    const last = runner.numBlocks - 1;
    expect(full.steps.map((s) => s.passes.map((p) => `${p.label}${p.exitBlock}`).join('+'))).toEqual(
      Array(8).fill(`cond${last}+uncond${last}`),
    );
    expect(full.totals.savedFraction).toBe(0);
    expect(runner.liveTensorCount()).toBe(0);
  });

  it('the saving splits by source: exits, guidance schedule, fixed depth, summing to savedFraction', async () => {
    const given = { classIndex: 2, seed: 5, steps: 8, threshold: 0.05, guidance: 1.25, minDepth: 5 };
    const run = (p: Partial<GenerateParams>) =>
      generate(runner, model.manifest, resolveParams(model.manifest, { ...given, ...p }));
    const n = runner.numBlocks;
    const sum = (t: Totals) => t.savedByExits + t.savedBySchedule + t.savedByFixedDepth;
    const flopsSum = (t: Totals) => t.flopsSavedByExits + t.flopsSavedBySchedule + t.flopsSavedByFixedDepth;
    const scheduled = await run({ batching: 'shallow', unconditionalEvery: 2, guidanceMaxT: 800 });
    const t = scheduled.totals;
    expect(Math.abs(sum(t) - t.savedFraction)).toBeLessThan(1e-9);
    expect(Math.abs(flopsSum(t) - t.flopsSavedFraction)).toBeLessThan(1e-9);
    // 8 steps, 2 unguided + 3 of the 6 guided reuse: 5 passes not run, of 16 the reference runs
    expect(t.savedBySchedule).toBeCloseTo((5 * n) / (16 * n), 12);
    // 3 shallow unconditional passes at block 5
    expect(t.savedByFixedDepth).toBeCloseTo((3 * (n - 5)) / (16 * n), 12);
    expect(t.savedByExits).toBeGreaterThan(0);
    // per step, the event's counts add up to the totals'
    const steps = scheduled.steps;
    for (const source of ['exits', 'schedule', 'fixedDepth'] as const)
      expect(steps.reduce((a, s) => a + s.blocksSkipped[source], 0)).toBe(t.blocksSkipped[source]);
    expect(steps.map((s) => s.scheduleSkipped)).toEqual([
      'unguided',
      'unguided',
      null,
      'reused',
      null,
      'reused',
      null,
      'reused',
    ]);
    expect(steps[2]!.passes.map((p) => p.depth)).toEqual(['adaptive', 'fixed']);
    // with the schedule off and the passes exiting apart, every skipped block is an exit's
    const alone = await run({ batching: 'separate', ...withoutGuidanceSchedule(model.manifest) });
    expect(alone.totals.savedBySchedule).toBe(0);
    expect(alone.totals.savedByFixedDepth).toBe(0);
    expect(alone.totals.savedByExits).toBeCloseTo(alone.totals.savedFraction, 12);
    // a static depth is all fixed depth; with the schedule the skipped passes come on top
    const fixed = await run({ mode: 'static', staticDepth: 9, batching: 'all' });
    expect(fixed.totals.savedByExits).toBe(0);
    expect(fixed.totals.savedByFixedDepth).toBeCloseTo(((n - 9) * 11) / (16 * n), 12);
    expect(runner.liveTensorCount()).toBe(0);
  });

  it('the default generation runs the same with and without the fused prefix', async () => {
    if (!model.manifest.segments.prefix) return;
    const params = resolveParams(model.manifest, { classIndex: 3, seed: 7, steps: 8 });
    const unfused: Denoiser = {
      numBlocks: runner.numBlocks,
      begin: (x, t, classes) => runner.begin(x, t, classes, 1),
    };
    const [fused, plain] = [
      await generate(runner, model.manifest, params),
      await generate(unfused, model.manifest, params),
    ];
    expect(fused.steps.map((s) => s.passes.map((p) => p.exitBlock))).toEqual(
      plain.steps.map((s) => s.passes.map((p) => p.exitBlock)),
    );
    expect(maxAbsDiff(fused.image, plain.image)).toBeLessThanOrEqual(1e-4);
    expect(runner.liveTensorCount()).toBe(0);
  });

  it('speculative passes (queue the next block before the read; forced on wasm) give the same exits and image and free every tensor', async () => {
    expect(runner.speculate).toBe(false); // the default: measured slower wherever it ran
    const speculative: Denoiser = {
      numBlocks: runner.numBlocks,
      minimumDepth: runner.minimumDepth,
      begin: (x, t, classes, mustRun) => runner.begin(x, t, classes, mustRun, true),
    };
    for (const given of [
      { classIndex: 4, seed: 11, steps: 8 },
      { classIndex: 1, seed: 3, steps: 6, batching: 'separate' as const, minDepth: 1, threshold: 0.1 },
    ]) {
      const params = resolveParams(model.manifest, given);
      const runs = vi.spyOn(runner.executor, 'run');
      const plain = await generate(runner, model.manifest, params);
      const plainRuns = runs.mock.calls.length;
      const ahead = await generate(speculative, model.manifest, params);
      const aheadRuns = runs.mock.calls.length - plainRuns;
      runs.mockRestore();
      const exits = (r: typeof plain) => r.steps.map((s) => s.passes.map((p) => p.exitBlock));
      expect(exits(ahead)).toEqual(exits(plain));
      // each pass that exits early ran (and threw away) exactly one block more
      const early = exits(plain)
        .flat()
        .filter((e) => e < runner.numBlocks - 1).length;
      expect(aheadRuns - plainRuns).toBe(early);
      expect(new Set(exits(plain).flat()).size).toBeGreaterThan(1); // exits inside and after the prefix
      expect(maxAbsDiff(ahead.image, plain.image)).toBe(0);
      expect(runner.liveTensorCount()).toBe(0);
    }
    // cancelled mid-pass: the queued block is dropped once it has run, and nothing leaks
    const abort = new AbortController();
    let blocks = 0;
    const cancelling: Denoiser = {
      ...speculative,
      begin: async (x, t, classes, mustRun) => {
        const pass = await speculative.begin(x, t, classes, mustRun);
        return {
          runBlock: async (i) => {
            const u = await pass.runBlock(i);
            if (++blocks === 7) abort.abort();
            return u;
          },
          exit: () => pass.exit(),
          dispose: () => pass.dispose(),
        };
      },
    };
    const params = resolveParams(model.manifest, { seed: 2, mode: 'full' });
    await expect(
      generate(cancelling, model.manifest, params, { signal: abort.signal }),
    ).rejects.toMatchObject({
      name: 'CancelledError',
    });
    await vi.waitFor(() => expect(runner.liveTensorCount()).toBe(0));
  });

  it('loaded without the embed and blocks the prefix replaces (the page): fewer bytes, the same image, a clear error below its depth', async () => {
    const prefix = model.manifest.segments.prefix;
    if (!prefix) return;
    const lean = await loadModel(directorySource(MODEL_DIR), { skipFusedBlocks: true });
    const skipped = model.manifest.segments.blocks.slice(0, prefix.depth);
    expect(lean.files.size).toBe(model.manifest.segments.blocks.length - prefix.depth + 2); // + head, prefix
    for (const f of [model.manifest.segments.embed, ...skipped]) expect(lean.files.has(f.path)).toBe(false);
    const leanRunner = await SegmentRunner.create(ort, lean, { backend: 'wasm' });
    try {
      expect(leanRunner.minimumDepth).toBe(prefix.depth);
      const params = resolveParams(model.manifest, { classIndex: 2, seed: 5, steps: 6 });
      const [a, b] = [
        await generate(leanRunner, lean.manifest, params),
        await generate(runner, model.manifest, params),
      ];
      expect(maxAbsDiff(a.image, b.image)).toBeLessThanOrEqual(1e-6);
      const shallow = resolveParams(model.manifest, { ...params, minDepth: prefix.depth - 1 });
      await expect(generate(leanRunner, lean.manifest, shallow)).rejects.toMatchObject({
        name: 'ParameterError',
        message: expect.stringMatching(/minDepth .*without its first/),
      });
      const full = resolveParams(model.manifest, { ...params, mode: 'full' });
      expect((await generate(leanRunner, lean.manifest, full)).totals.savedFraction).toBe(0);
    } finally {
      await leanRunner.release();
    }
  });

  it('prepacks the weights of a small model, not those of one over PREPACK_MAX_MODEL_BYTES, to the same image', async () => {
    const asked: unknown[] = [];
    const recording = {
      ...ort,
      InferenceSession: {
        create: (bytes: Uint8Array, options: ort.InferenceSession.SessionOptions) => {
          asked.push((options.extra as { session: Record<string, string> }).session.disable_prepacking);
          return ort.InferenceSession.create(bytes, options);
        },
      },
    } as unknown as typeof ort;
    const { segments } = model.manifest;
    // the same graphs, said to be larger: the rule reads the manifest's sizes
    const large: LoadedModel = {
      ...model,
      manifest: {
        ...model.manifest,
        segments: { ...segments, head: { ...segments.head, bytes: PREPACK_MAX_MODEL_BYTES } },
      },
    };
    const params = resolveParams(model.manifest, { classIndex: 3, seed: 9, steps: 6 });
    const images: Float32Array[] = [];
    for (const [loaded, disabled] of [
      [model, undefined],
      [large, '1'],
    ] as const) {
      asked.length = 0;
      const r = await SegmentRunner.create(
        recording,
        { ...loaded, files: new Map(model.files) },
        { backend: 'wasm' },
      );
      try {
        expect(asked.length).toBeGreaterThan(0);
        expect(new Set(asked)).toEqual(new Set([disabled]));
        images.push((await generate(r, loaded.manifest, params)).image);
      } finally {
        await r.release();
      }
    }
    expect(maxAbsDiff(images[0]!, images[1]!)).toBeLessThanOrEqual(1e-5);
  });

  it('the seeded noise generator reproduces the exporter’s initial noise exactly', async () => {
    const { Mulberry32, normals } = await import('../../src/runtime');
    const want = fx.f32('sampling.noise');
    expect(maxAbsDiff(normals(new Mulberry32(s.seed), want.length), want)).toBeLessThanOrEqual(1e-6);
  });
});
