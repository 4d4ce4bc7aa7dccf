/**
 * The benchmark behind `adadiff bench`, in Node and in the browser's worker: wall time per image
 * through the runtime users run, for the monolithic full-depth graph, segmented full depth,
 * adaptive exits at a sweep of θ, a static depth with the adaptive default's average depth, and
 * a per-timestep depth schedule learned from the adaptive default's own exits (DuoDiff/ASE-style).
 * The monolithic graph also runs with the adaptive rows' guidance schedule (its unconditional pass
 * on the same steps): the baseline a user who knows guidance intervals would run, and the one the
 * headline ratio is against. Runs interleave (A B C … A B C …) so ratios hold on a noisy machine; medians after one warm-up
 * round. Where the model has a fused prefix, segmented full depth and the default θ also run
 * without it, to measure what it saves; the default θ also runs with speculation flipped from the
 * runner's setting (see segments.ts); one block is timed with and without its read-back.
 * The rows that run both guidance passes to the same depth (full, static, schedule) batch them,
 * the fastest way to run them; the adaptive rows run as the manifest says (its batching). The
 * full-depth rows guide and run the unconditional pass at every step (mode 'full' ignores
 * unconditionalEvery and guidanceMaxT); the others skip and reuse it as the manifest says, so the
 * static and schedule rows do the adaptive default's work.
 */
import {
  generate,
  lastTimestep,
  resolveParams,
  type Backend,
  type Denoiser,
  type GenerateParams,
  type LoadedModel,
  type PassBatching,
  type SegmentRunner,
  type Totals,
} from '../runtime';
import type { GraphCaptureProbe } from './graph-capture';
import { openMonolithic, timeBlock } from './monolithic';
import { median } from './stats';
import { trainingStep } from './weights';

export interface BenchConfig {
  name: string;
  kind: 'monolithic' | 'monolithic-scheduled' | 'segmented-full' | 'adaptive' | 'static' | 'schedule';
  threshold: number | null;
  params: Partial<GenerateParams>;
  denoiser: Denoiser;
  /** Whether passes may use the fused prefix (false: every block is its own session run). */
  fused: boolean;
  /** Whether passes queue the next block before reading the uncertainty. */
  speculative: boolean;
}

/** A run's blocks and saving by source, as its Totals have them (accounting.ts). */
type Saving = Pick<
  Totals,
  'blocksRun' | 'blocksFull' | 'savedFraction' | 'savedByExits' | 'savedBySchedule' | 'savedByFixedDepth'
>;

export interface BenchRow extends Saving {
  name: string;
  kind: BenchConfig['kind'];
  threshold: number | null;
  medianMs: number;
  runsMs: number[];
  flopsSavedFraction: number;
  fused: boolean;
  speculative: boolean;
  /** Median time relative to the plain monolithic graph (both passes at every step). */
  vsMonolithic: number;
  /** Median time relative to the monolithic graph run with the same guidance schedule. */
  vsMonolithicScheduled: number;
}

export interface BenchReport {
  model: string;
  /** The weights' optimiser step (manifest.provenance); absent in reports written before it was recorded. */
  modelStep?: number;
  backend: Backend;
  /** Where it ran, e.g. "Node v20.20.2" or the browser's user agent. */
  environment: string;
  steps: number;
  /** Absent in reports written before it was recorded: DDIM. */
  sampler?: string;
  guidance: number;
  /** How the adaptive rows run the guidance passes (the manifest's); the others batch them. */
  batching?: PassBatching;
  /** The unconditional pass's interval in every row but full depth (the manifest's). */
  unconditionalEvery?: number;
  /** Guidance only at t ≤ this in every row but full depth (the manifest's). */
  guidanceMaxT?: number;
  reps: number;
  rows: BenchRow[];
  /** One block timed with and without reading its uncertainty back (ms per run, medians). */
  readback?: { block: number; runs: number; withMs: number; withoutMs: number };
  /** WebGPU only: whether each onnxruntime-web build's graph capture replays correctly, and its cost. */
  graphCapture?: GraphCaptureProbe[];
  default: Omit<Saving, 'blocksRun' | 'blocksFull'> & {
    threshold: number;
    adaptiveMs: number;
    segmentedFullMs: number;
    /** The monolithic graph, both guidance passes at every step. */
    monolithicMs: number;
    /**
     * The monolithic graph with the same guidance schedule (unguided steps, the unconditional pass
     * reused): what a user who knows guidance intervals would run instead. The headline ratio.
     */
    monolithicScheduledMs: number;
  };
}

/** The runner with its fused prefix turned off: every pass starts with the embed segment. */
function unfused(runner: SegmentRunner): Denoiser {
  return { numBlocks: runner.numBlocks, begin: (x, t, classes) => runner.begin(x, t, classes, 1) };
}

/** The runner with speculation set for every pass, whatever the runner's own setting. */
function speculating(runner: SegmentRunner, speculate: boolean): Denoiser {
  return {
    numBlocks: runner.numBlocks,
    minimumDepth: runner.minimumDepth,
    begin: (x, t, classes, mustRun) => runner.begin(x, t, classes, mustRun, speculate),
  };
}

export async function runBench(
  runner: SegmentRunner,
  model: LoadedModel,
  opts: {
    reps: number;
    steps: number;
    thresholds: number[];
    environment: string;
    onProgress?: (s: string) => void;
  },
): Promise<BenchReport> {
  const { manifest } = model;
  const monolithic = await openMonolithic(runner, model.files);
  const base: Partial<GenerateParams> = { steps: opts.steps, classIndex: 0 };
  const theta = manifest.defaults.threshold;
  const guidance = manifest.defaults.guidance;
  // the adaptive default's exits decide the static and per-timestep baselines
  const probeParams = resolveParams(manifest, { ...base, seed: 1, threshold: theta });
  const probe = await generate(runner, manifest, probeParams);
  const passes = probe.steps.flatMap((s) => s.passes);
  const avgDepth = passes.reduce((a, p) => a + p.exitBlock + 1, 0) / passes.length;
  const schedule = probe.steps.map((s) =>
    Math.max(1, Math.round(s.passes.reduce((a, p) => a + p.exitBlock + 1, 0) / s.passes.length)),
  );
  const configs: BenchConfig[] = [
    {
      name: 'monolithic full depth',
      kind: 'monolithic',
      threshold: null,
      params: { mode: 'full', batching: 'all' },
      denoiser: monolithic.denoiser,
      fused: false,
      speculative: false,
    },
    {
      // static at full depth: the guidance schedule applies (mode 'full' ignores it), nothing exits
      name: 'monolithic + schedule',
      kind: 'monolithic-scheduled',
      threshold: null,
      params: { mode: 'static', staticDepth: manifest.architecture.numBlocks, batching: 'all' },
      denoiser: monolithic.denoiser,
      fused: false,
      speculative: false,
    },
    {
      name: 'segmented full depth',
      kind: 'segmented-full',
      threshold: 0,
      params: { mode: 'full', batching: 'all' },
      denoiser: runner,
      fused: true,
      speculative: runner.speculate,
    },
    ...[...new Set([theta, ...opts.thresholds])]
      .sort((a, b) => a - b)
      .map<BenchConfig>((t) => ({
        name: `adaptive θ=${t}`,
        kind: 'adaptive',
        threshold: t,
        params: { mode: 'adaptive', threshold: t },
        denoiser: runner,
        fused: true,
        speculative: runner.speculate,
      })),
    {
      name: `static depth ${Math.round(avgDepth)}`,
      kind: 'static',
      threshold: null,
      params: { mode: 'static', staticDepth: Math.max(1, Math.round(avgDepth)), batching: 'all' },
      denoiser: runner,
      fused: true,
      speculative: runner.speculate,
    },
    {
      name: 'per-timestep schedule',
      kind: 'schedule',
      threshold: null,
      params: { mode: 'depths', depths: schedule, batching: 'all' },
      denoiser: runner,
      fused: true,
      speculative: runner.speculate,
    },
    {
      name: `adaptive θ=${theta}, ${runner.speculate ? 'not ' : ''}speculative`,
      kind: 'adaptive',
      threshold: theta,
      params: { mode: 'adaptive', threshold: theta },
      denoiser: speculating(runner, !runner.speculate),
      fused: true,
      speculative: !runner.speculate,
    },
  ];
  if (runner.prefixDepth > 0) {
    const without = `, without the fused prefix`;
    configs.push(
      {
        ...configs[2]!,
        name: configs[2]!.name + without,
        denoiser: unfused(runner),
        fused: false,
        speculative: runner.speculate,
      },
      {
        name: `adaptive θ=${theta}${without}`,
        kind: 'adaptive',
        threshold: theta,
        params: { mode: 'adaptive', threshold: theta },
        denoiser: unfused(runner),
        fused: false,
        speculative: runner.speculate,
      },
    );
  }
  const times = configs.map(() => [] as number[]);
  const last = configs.map(() => null as Awaited<ReturnType<typeof generate>> | null);
  for (let rep = 0; rep <= opts.reps; rep++) {
    for (const [i, c] of configs.entries()) {
      const params = resolveParams(manifest, { ...base, ...c.params, seed: 100 + rep });
      const started = performance.now();
      const r = await generate(c.denoiser, manifest, params);
      const ms = performance.now() - started;
      if (rep > 0) times[i]!.push(ms); // round 0 warms caches and the JIT
      last[i] = r;
    }
    opts.onProgress?.(`round ${rep}/${opts.reps}\n`);
  }
  const mono = median(times[0]!);
  const monoScheduled = median(times[1]!);
  const rows: BenchRow[] = configs.map((c, i) => {
    const t = last[i]!.totals;
    const medianMs = median(times[i]!);
    return {
      name: c.name,
      kind: c.kind,
      threshold: c.threshold,
      medianMs,
      runsMs: times[i]!,
      blocksRun: t.blocksRun,
      blocksFull: t.blocksFull,
      savedFraction: t.savedFraction,
      savedByExits: t.savedByExits,
      savedBySchedule: t.savedBySchedule,
      savedByFixedDepth: t.savedByFixedDepth,
      flopsSavedFraction: t.flopsSavedFraction,
      fused: c.fused && runner.prefixDepth > 0,
      speculative: c.speculative,
      vsMonolithic: medianMs / mono,
      vsMonolithicScheduled: medianMs / monoScheduled,
    };
  });
  // the mid-block takes no skip; interleaved rounds of 50 back-to-back runs each way
  const block = manifest.architecture.numInBlocks;
  const withRead: number[] = [];
  const without: number[] = [];
  for (let rep = 0; rep <= opts.reps; rep++) {
    const a = await timeBlock(runner, block, 50, true);
    const b = await timeBlock(runner, block, 50, false);
    if (rep > 0) {
      withRead.push(a);
      without.push(b);
    }
  }
  const adaptive = rows.find((r) => r.kind === 'adaptive' && r.threshold === theta)!; // the first: as users run it
  return {
    model: manifest.id,
    modelStep: trainingStep(manifest),
    backend: runner.backend,
    environment: opts.environment,
    steps: opts.steps,
    sampler: probeParams.sampler,
    guidance,
    batching: probeParams.batching,
    unconditionalEvery: probeParams.unconditionalEvery,
    guidanceMaxT:
      probeParams.guidanceMaxT < lastTimestep(manifest.schedule) ? probeParams.guidanceMaxT : undefined,
    reps: opts.reps,
    rows,
    readback: { block, runs: 50, withMs: median(withRead), withoutMs: median(without) },
    default: {
      threshold: theta,
      savedFraction: adaptive.savedFraction,
      savedByExits: adaptive.savedByExits,
      savedBySchedule: adaptive.savedBySchedule,
      savedByFixedDepth: adaptive.savedByFixedDepth,
      adaptiveMs: adaptive.medianMs,
      segmentedFullMs: rows.find((r) => r.kind === 'segmented-full')!.medianMs,
      monolithicMs: mono,
      monolithicScheduledMs: monoScheduled,
    },
  };
}
