/**
 * `adadiff` — the command-line generator over the same runtime the page uses (wasm in Node).
 * Exit codes: 0 ok, 1 the run failed (model, backend), 2 bad usage (flag or value).
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  addTotals,
  emptyTotals,
  encodePng,
  generate,
  isAdaDiffError,
  loadModel,
  messageOf,
  ParameterError,
  PASS_BATCHINGS,
  SAMPLERS,
  resolveParams,
  samplingTimesteps,
  SegmentRunner,
  switchDepths,
  runBench,
  withoutGuidanceSchedule,
  type BenchReport,
  type GenerateParams,
  type Manifest,
} from '../runtime';
import { benchKey, benchMarkdown, fidVsSaved, frontierSeries, svgPlot, type FrontierReport } from './bench';
import { BrowserBenchError, runBrowserBench } from './browser-bench';
import { adaptiveSweep, runEval, type EvalConfig } from './eval';
import { runSoak } from './soak';
import { directorySource, loadOrt } from './node-source';

const DEFAULT_MODEL = 'public/models/fmnist-uvit13';

export const USAGE = `usage: adadiff generate --model DIR [options]
       adadiff bench [--model DIR] [--reps N] [--steps K] [--thresholds a,b,…] [--json] [--markdown FILE]
                     [--browser [--backend wasm|webgpu]]   (Chromium; run npm run build first)
       adadiff soak [--model DIR] [--count N] [--steps K] [--json]   (node --expose-gc for exact heap figures)
       adadiff eval [--model DIR] [--per-class N] [--steps K] [--thresholds a,b,…] [--write-manifest] [--json]
                    [--max-agreement-drop D] [--max-fid-ratio R] [--batching MODE] [--uncond-every N]
                    [--guidance-max-t T] [--no-guidance-schedule]
                    [--depth N | --schedule d1,… | --switch-t T --shallow-depth D]   (a baseline instead of θs)

  --model DIR          model directory with manifest.json (e.g. public/models/fmnist-uvit13)
  --class NAME|INDEX   class to draw (default 0)
  --count N            images to make, seeds S, S+1, … (default 1)
  --seed S             integer seed 0…4294967295 (default 1)
  --steps K            sampling steps (default: the manifest's)
  --sampler NAME       ddim | dpmpp2m | ddpm (default: the manifest's)
  --eta η              DDIM stochasticity 0…1 (default 0)
  --guidance G         classifier-free guidance scale; 1 = none (default: the manifest's)
  --threshold θ        uncertainty threshold 0…1; 0 = full depth (default: the manifest's)
  --min-depth N        never exit before N blocks (default: the manifest's)
  --patience N         confident blocks in a row needed in the first half (default 1)
  --batching MODE      separate | weighted | shallow | all | any: how the two guidance passes
                       exit (default: the manifest's)
  --uncond-every N     run the unconditional guidance pass every N-th guided step, reuse it
                       between (default: the manifest's; --threshold 0 runs it every step)
  --guidance-max-t T   guide only the steps with timestep t ≤ T (default: the manifest's;
                       --threshold 0 guides every step)
  --no-guidance-schedule  guide every step and run the unconditional pass at each (what the
                       exits save alone; same as --uncond-every 1 --guidance-max-t T−1)
  --depth N            static baseline: always run N blocks (overrides --threshold)
  --schedule d1,d2,…   static baseline: run d_k blocks at step k (one depth per step)
  --switch-t T --shallow-depth D
                       static baseline (DuoDiff-style): D blocks at the steps with t > T, all below
  --out DIR            write one PNG per image
  --json               print a JSON summary on stdout
  --quiet              no progress on stderr
  -h, --help           this text

bench: wall time per image (Node wasm, or the page's worker in Chromium with --browser) for the
monolithic graph, segmented full depth, adaptive θ sweep, static depth and a per-timestep
schedule; --markdown saves docs/bench-<where>.json and renders FILE from every saved run, with
SVG plots in docs/.
eval: N samples per class at full depth and each θ (default: the manifest's calibrated θs; its
default θ always runs): class agreement and FID by the classifier in tools/export/eval, PSNR
against full depth, blocks saved. The default θ is the largest saving within the bound (agreement
at most D = 0.02 below full depth, FID at most R = 1.10× full depth); when no θ is within it, the
manifest's θ is kept and reported with withinBound false. --write-manifest stores the calibration
and that default θ in manifest.json. With --depth, --schedule or --switch-t, eval runs that static
baseline against full depth instead of the θ sweep. Every row reports its saving by source:
savedByExits (exit decisions), savedBySchedule (passes the guidance schedule did not run) and
savedByFixedDepth (depths fixed ahead: the shallow unconditional pass, static baselines).`;

class UsageError extends Error {}

const OPTIONS = {
  model: { type: 'string' },
  class: { type: 'string' },
  count: { type: 'string' },
  seed: { type: 'string' },
  steps: { type: 'string' },
  sampler: { type: 'string' },
  eta: { type: 'string' },
  guidance: { type: 'string' },
  threshold: { type: 'string' },
  'min-depth': { type: 'string' },
  patience: { type: 'string' },
  batching: { type: 'string' },
  'uncond-every': { type: 'string' },
  'guidance-max-t': { type: 'string' },
  'no-guidance-schedule': { type: 'boolean' },
  depth: { type: 'string' },
  schedule: { type: 'string' },
  'switch-t': { type: 'string' },
  'shallow-depth': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  reps: { type: 'string' },
  browser: { type: 'boolean' },
  backend: { type: 'string' },
  'per-class': { type: 'string' },
  classifier: { type: 'string' },
  'write-manifest': { type: 'boolean' },
  'max-agreement-drop': { type: 'string' },
  'max-fid-ratio': { type: 'string' },
  thresholds: { type: 'string' },
  markdown: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A number flag: the whole string must be a finite number (no "3abc", no "", no NaN). */
function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(v)) throw new UsageError(`--${flag} must be a number, got "${value}"`);
  return v;
}

function classIndex(m: Manifest, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const i = m.classes.findIndex((c) => c.toLowerCase() === value.toLowerCase());
  if (i < 0)
    throw new UsageError(
      `--class "${value}" is not one of: ${m.classes.join(', ')} (or 0…${m.classes.length - 1})`,
    );
  return i;
}

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const processIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.stderr(`adadiff: ${messageOf(e)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const command = COMMANDS[positionals[0] ?? ''];
  if (!command || positionals.length !== 1) {
    io.stderr(
      `adadiff: ${positionals.length ? `unknown command "${positionals.join(' ')}"` : 'no command'}\n${USAGE}\n`,
    );
    return 2;
  }
  try {
    return await command(values, io);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ParameterError) {
      io.stderr(`adadiff: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    const known = isAdaDiffError(e) || e instanceof BrowserBenchError;
    io.stderr(`adadiff: ${known ? e.message : `unexpected error: ${messageOf(e)}`}\n`);
    return 1;
  }
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const COMMANDS: Record<string, (values: Values, io: CliIo) => Promise<number>> = {
  generate: (v, io) => runGenerate(v, io),
  bench: (v, io) => runBenchCommand(v, io),
  eval: (v, io) => runEvalCommand(v, io),
  soak: (v, io) => runSoakCommand(v, io),
};

/** Each command accepts only its own flags. */
function onlyFlags(values: Values, allowed: string[]): void {
  const extra = Object.keys(values).filter((k) => !allowed.includes(k));
  if (extra.length) throw new UsageError(`--${extra[0]} is not an option of this command`);
}

async function runGenerate(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, GENERATE_FLAGS);
  if (!values.model) throw new UsageError('--model DIR is required');
  const count = num('count', values.count) ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 10000) {
    throw new UsageError(`--count must be an integer 1…10000, got ${values.count}`);
  }
  const progress = values.quiet ? () => undefined : io.stderr;
  const model = await loadModel(directorySource(values.model));
  const { manifest } = model;
  const threshold = num('threshold', values.threshold);
  const steps = resolveParams(manifest, { steps: num('steps', values.steps) }).steps;
  const baseline = baselineParams(manifest, values, steps);
  const base: Partial<GenerateParams> = {
    ...scheduleParams(manifest, values),
    classIndex: classIndex(manifest, values.class),
    seed: num('seed', values.seed),
    steps,
    sampler: values.sampler as GenerateParams['sampler'] | undefined,
    eta: num('eta', values.eta),
    guidance: num('guidance', values.guidance),
    threshold,
    minDepth: num('min-depth', values['min-depth']),
    patience: num('patience', values.patience),
    mode: threshold === 0 ? 'full' : 'adaptive',
    ...baseline?.params,
  };
  const first = resolveParams(manifest, base); // validate every flag before any work
  if (first.seed + count - 1 > 0xffffffff) throw new UsageError('--seed + --count runs past 4294967295');

  const ort = await loadOrt();
  const runner = await SegmentRunner.create(ort, model, { backend: 'wasm' });
  try {
    if (values.out) await mkdir(values.out, { recursive: true });
    const images = [];
    const sum = emptyTotals();
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const params = { ...first, seed: first.seed + i };
      const result = await generate(runner, manifest, params, {
        onStep: (e) =>
          progress(
            `image ${i + 1}/${count} step ${e.step + 1}/${e.steps} t=${e.t} exits ${e.passes
              .map((p) => p.exitBlock + 1)
              .join(
                '/',
              )} of ${runner.numBlocks} blocks, saved ${(100 * e.totals.savedFraction).toFixed(1)}%\n`,
          ),
      });
      let file: string | null = null;
      if (values.out) {
        file = path.join(values.out, `${manifest.id}-c${params.classIndex}-s${params.seed}.png`);
        await writeFile(file, encodePng(result.image, manifest));
      }
      addTotals(sum, result.totals);
      images.push({
        file,
        class: params.classIndex,
        className: manifest.classes[params.classIndex],
        seed: params.seed,
        blocksRun: result.totals.blocksRun,
        blocksFull: result.totals.blocksFull,
        savedFraction: result.totals.savedFraction,
        savedByExits: result.totals.savedByExits,
        savedBySchedule: result.totals.savedBySchedule,
        savedByFixedDepth: result.totals.savedByFixedDepth,
        flopsSavedFraction: result.totals.flopsSavedFraction,
        wallMs: result.totals.wallMs,
      });
    }
    sum.wallMs = performance.now() - started;
    const summary = {
      model: manifest.id,
      backend: 'wasm',
      mode: first.mode,
      threshold: first.mode === 'adaptive' ? first.threshold : first.mode === 'full' ? 0 : null,
      steps: first.steps,
      sampler: first.sampler,
      guidance: first.guidance,
      batching: first.batching,
      unconditionalEvery: first.unconditionalEvery,
      guidanceMaxT: first.guidanceMaxT,
      ...(first.mode === 'static' ? { staticDepth: first.staticDepth } : {}),
      ...(first.mode === 'schedule' ? { depthSchedule: first.depthSchedule } : {}),
      images,
      totals: sum,
      savedFraction: sum.savedFraction,
      savedByExits: sum.savedByExits,
      savedBySchedule: sum.savedBySchedule,
      savedByFixedDepth: sum.savedByFixedDepth,
      wallMs: sum.wallMs,
    };
    if (values.json) io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
    else
      progress(
        `${count} image(s) in ${(sum.wallMs / 1000).toFixed(1)} s; blocks run ${sum.blocksRun}/${sum.blocksFull} (saved ${(100 * sum.savedFraction).toFixed(1)} %: exits ${(100 * sum.savedByExits).toFixed(1)}, guidance schedule ${(100 * sum.savedBySchedule).toFixed(1)}, fixed depth ${(100 * sum.savedByFixedDepth).toFixed(1)})\n`,
      );
    return 0;
  } finally {
    await runner.release();
  }
}

const BASELINE_FLAGS = ['depth', 'schedule', 'switch-t', 'shallow-depth'];

const GENERATE_FLAGS = [
  'model',
  'class',
  'count',
  'seed',
  'steps',
  'sampler',
  'eta',
  'guidance',
  'threshold',
  'min-depth',
  'patience',
  'batching',
  'uncond-every',
  'guidance-max-t',
  'no-guidance-schedule',
  ...BASELINE_FLAGS,
  'out',
  'json',
  'quiet',
];

/** The guidance-pass flags, shared by generate and eval; --no-guidance-schedule wins over the other two. */
function scheduleParams(m: Manifest, values: Values): Partial<GenerateParams> {
  for (const [flag, allowed] of [
    ['sampler', SAMPLERS],
    ['batching', PASS_BATCHINGS],
  ] as const) {
    const v = values[flag];
    if (v !== undefined && !(allowed as readonly string[]).includes(v)) {
      throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got "${v}"`);
    }
  }
  if (values['no-guidance-schedule'] && (values['uncond-every'] || values['guidance-max-t']))
    throw new UsageError('--no-guidance-schedule cannot be combined with --uncond-every or --guidance-max-t');
  return {
    batching: values.batching as GenerateParams['batching'] | undefined,
    ...(values['no-guidance-schedule']
      ? withoutGuidanceSchedule(m)
      : {
          unconditionalEvery: num('uncond-every', values['uncond-every']),
          guidanceMaxT: num('guidance-max-t', values['guidance-max-t']),
        }),
  };
}

/**
 * A static baseline from --depth, --schedule or --switch-t/--shallow-depth (at most one), or null.
 * Each runs through the same loop as the exits; its skipped blocks count as fixed depth.
 */
function baselineParams(m: Manifest, values: Values, steps: number): EvalConfig | null {
  const given = ['depth', 'schedule', 'switch-t'].filter((f) => values[f as keyof Values] !== undefined);
  if (given.length > 1) throw new UsageError(`--${given.join(', --')}: choose one baseline`);
  if ((values['switch-t'] === undefined) !== (values['shallow-depth'] === undefined))
    throw new UsageError('--switch-t and --shallow-depth go together');
  const n = m.architecture.numBlocks;
  if (values.depth !== undefined) {
    const depth = num('depth', values.depth)!;
    return {
      label: `static depth ${depth}`,
      threshold: null,
      params: { mode: 'static', staticDepth: depth },
    };
  }
  if (values.schedule !== undefined) {
    const depths = values.schedule.split(',').map((v) => num('schedule', v)!);
    if (depths.length !== steps)
      throw new UsageError(
        `--schedule has ${depths.length} depths, but there are ${steps} steps: one per step`,
      );
    return {
      label: `schedule ${depths.join(',')}`,
      threshold: null,
      params: { mode: 'schedule', depthSchedule: depths },
    };
  }
  if (values['switch-t'] !== undefined) {
    const switchT = num('switch-t', values['switch-t'])!;
    const shallow = num('shallow-depth', values['shallow-depth'])!;
    if (!Number.isInteger(shallow) || shallow < 1 || shallow > n)
      throw new UsageError(`--shallow-depth must be an integer 1…${n}, got ${values['shallow-depth']}`);
    const depths = switchDepths(samplingTimesteps(m.schedule.numTimesteps, steps), switchT, shallow, n);
    return {
      label: `switch: depth ${shallow} at t > ${switchT}, full below`,
      threshold: null,
      params: { mode: 'schedule', depthSchedule: depths },
    };
  }
  return null;
}

function thresholdList(values: Values): number[] {
  const list = (values.thresholds ?? '')
    .split(',')
    .filter((v) => v.trim() !== '')
    .map((v) => num('thresholds', v)!);
  if (list.some((t) => t <= 0 || t > 1)) throw new UsageError('--thresholds must lie in (0, 1]');
  return list;
}

async function runBenchCommand(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, [
    'model',
    'reps',
    'steps',
    'thresholds',
    'json',
    'markdown',
    'quiet',
    'browser',
    'backend',
  ]);
  const reps = num('reps', values.reps) ?? 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 100)
    throw new UsageError(`--reps must be an integer 1…100`);
  const thresholds = thresholdList(values);
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be wasm or webgpu');
  if (backend === 'webgpu' && !values.browser)
    throw new UsageError('--backend webgpu needs --browser (Node has no WebGPU)');
  const modelDir = values.model ?? DEFAULT_MODEL;
  const model = await loadModel(directorySource(modelDir), { includeMonolithic: !values.browser });
  const { manifest } = model;
  const steps = resolveParams(manifest, { steps: num('steps', values.steps) }).steps;
  const calibrated = manifest.calibration.map((c) => c.threshold).filter((t) => t > 0);
  const sweep = thresholds.length ? thresholds : calibrated.length ? calibrated : [0.05, 0.1, 0.15, 0.2];
  const progress = values.quiet ? undefined : io.stderr;
  let report: BenchReport;
  if (values.browser) {
    report = await runBrowserBench({
      modelDir,
      backend,
      reps,
      steps,
      thresholds: sweep,
      onProgress: progress,
    });
  } else {
    const runner = await SegmentRunner.create(await loadOrt(), model, { backend: 'wasm', monolithic: true });
    try {
      report = await runBench(runner, manifest, {
        reps,
        steps,
        thresholds: sweep,
        environment: `Node ${process.version}`,
        onProgress: progress,
      });
    } finally {
      await runner.release();
    }
  }
  if (values.markdown) await writeBenchMarkdown(values.markdown, report, manifest);
  if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else
    io.stderr(
      report.rows
        .map(
          (r) =>
            `${r.name.padEnd(26)} ${r.medianMs.toFixed(1).padStart(8)} ms  saved ${(100 * r.savedFraction).toFixed(1)} %`,
        )
        .join('\n') + '\n',
    );
  return 0;
}

/** Saves this run as docs/bench-<where>.json and renders the markdown from every saved run. */
async function writeBenchMarkdown(file: string, report: BenchReport, manifest: Manifest): Promise<void> {
  const docs = path.join(path.dirname(file), 'docs');
  await mkdir(docs, { recursive: true });
  const key = benchKey(report);
  await writeFile(path.join(docs, `bench-${key}.json`), `${JSON.stringify(report, null, 2)}\n`);
  // one point per θ: the first row (with the fused prefix where the model has one)
  const adaptive = report.rows.filter(
    (r, i, all) =>
      r.kind === 'adaptive' &&
      all.findIndex((o) => o.kind === 'adaptive' && o.threshold === r.threshold) === i,
  );
  await writeFile(
    path.join(docs, `bench-time-${key}.svg`),
    svgPlot(
      adaptive.map((r) => ({ x: r.threshold!, y: r.medianMs })),
      {
        title: `Wall time per image vs θ (${key})`,
        xLabel: 'uncertainty threshold θ',
        yLabel: 'ms per image',
        refY: { y: report.default.monolithicMs, label: 'monolithic full depth' },
      },
    ),
  );
  const cal = manifest.calibration.filter((c) => c.agreement !== undefined);
  if (cal.length) {
    await writeFile(
      path.join(docs, 'bench-quality-vs-saved.svg'),
      svgPlot(
        cal.map((c) => ({ x: c.savedFraction, y: c.agreement!, label: `θ=${c.threshold}` })),
        {
          title: 'Class agreement vs blocks saved',
          xLabel: 'fraction of blocks skipped',
          yLabel: 'class agreement',
        },
      ),
    );
  }
  const fid = fidVsSaved(manifest);
  if (fid.length) {
    await writeFile(
      path.join(docs, 'bench-fid-vs-saved.svg'),
      svgPlot(fid, {
        title: 'Classifier-FID relative to full depth vs blocks saved',
        xLabel: 'fraction of blocks skipped',
        yLabel: 'FID / full-depth FID',
        refY: { y: 1.1, label: 'target ≤ 1.10×' },
      }),
    );
  }
  const saved: BenchReport[] = [];
  for (const f of (await readdir(docs)).filter((f) => /^bench-[\w-]+\.json$/.test(f)).sort()) {
    const r = JSON.parse(await readFile(path.join(docs, f), 'utf8')) as BenchReport;
    // results of another model would mislead next to these
    if (r.model === manifest.id && r.environment) saved.push(r);
  }
  const frontier = await readFrontier(docs);
  if (frontier) {
    await writeFile(
      path.join(docs, 'bench-frontier.svg'),
      svgPlot(frontierSeries(frontier.report), {
        title: 'Classifier-FID relative to full depth vs blocks run',
        xLabel: 'fraction of full depth’s blocks run',
        yLabel: 'FID / full-depth FID',
        refY: { y: 1.1, label: '1.10×' },
      }),
    );
  }
  await writeFile(file, benchMarkdown(saved, manifest, frontier));
}

/** tools/export/frontier.py's reports, where they have been made: docs/frontier.json (+ -confirm). */
async function readFrontier(docs: string) {
  const read = async (name: string) => {
    try {
      return JSON.parse(await readFile(path.join(docs, name), 'utf8')) as FrontierReport;
    } catch {
      return null;
    }
  };
  const report = await read('frontier.json');
  return report ? { report, confirm: await read('frontier-confirm.json') } : null;
}

/** The θs the manifest was calibrated at, so a run checks what the slider shows (runEval adds the default θ). */
function evalSweep(m: Manifest): number[] {
  const calibrated = m.calibration.map((c) => c.threshold);
  return calibrated.length > 1 ? calibrated : [0.05, 0.08, 0.1, 0.12, 0.15, 0.2];
}

async function runEvalCommand(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, [
    'model',
    'per-class',
    'steps',
    'thresholds',
    'classifier',
    'write-manifest',
    'max-agreement-drop',
    'max-fid-ratio',
    'batching',
    'uncond-every',
    'guidance-max-t',
    'no-guidance-schedule',
    ...BASELINE_FLAGS,
    'json',
    'quiet',
  ]);
  const bound = {
    maxAgreementDrop: num('max-agreement-drop', values['max-agreement-drop']) ?? 0.02,
    maxFidRatio: num('max-fid-ratio', values['max-fid-ratio']) ?? 1.1,
  };
  if (bound.maxAgreementDrop < 0 || bound.maxAgreementDrop > 1)
    throw new UsageError('--max-agreement-drop must be 0…1 (a fraction: 0.02 = 2 points)');
  if (bound.maxFidRatio < 1)
    throw new UsageError('--max-fid-ratio must be at least 1 (FID relative to full depth)');
  const perClass = num('per-class', values['per-class']) ?? 20;
  if (!Number.isInteger(perClass) || perClass < 2 || perClass > 10000) {
    throw new UsageError('--per-class must be an integer 2…10000 (FID needs at least two samples)');
  }
  const dir = values.model ?? DEFAULT_MODEL;
  const model = await loadModel(directorySource(dir));
  const { manifest } = model;
  const steps = resolveParams(manifest, { steps: num('steps', values.steps) }).steps;
  const given = thresholdList(values);
  const baseline = baselineParams(manifest, values, steps);
  if (baseline && given.length)
    throw new UsageError('--thresholds sweeps θ; a baseline flag runs no θ: choose one');
  if (baseline && values['write-manifest'])
    throw new UsageError('--write-manifest stores a θ calibration; a baseline run has none');
  const common = scheduleParams(manifest, values);
  resolveParams(manifest, { ...common, ...baseline?.params, steps }); // every flag checked before any work
  const ort = await loadOrt();
  const runner = await SegmentRunner.create(ort, model, { backend: 'wasm' });
  try {
    const report = await runEval(ort, runner, manifest, {
      classifierDir: values.classifier ?? 'tools/export/eval',
      perClass,
      steps,
      configs: baseline
        ? [baseline]
        : adaptiveSweep(given.length ? given : evalSweep(manifest), manifest.defaults.threshold),
      common,
      bound,
      onProgress: values.quiet ? undefined : io.stderr,
    });
    const d = report.default;
    if (d && !d.withinBound) {
      // not progress: a run whose default misses the bound says so even with --quiet
      io.stderr(
        `adadiff eval: no θ kept agreement within ${(100 * bound.maxAgreementDrop).toFixed(1)} points and FID within ${bound.maxFidRatio.toFixed(2)}× of full depth; ` +
          `the manifest's θ ${d.threshold} stays the default (${(100 * d.savedFraction).toFixed(1)} % skipped, FID ${(d.fid / d.fidFull).toFixed(2)}× full depth). ` +
          `--max-fid-ratio and --max-agreement-drop set the bound.\n`,
      );
    }
    if (values['write-manifest'] && d) {
      const file = path.join(dir, 'manifest.json');
      const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const share = (v: number) => Number(v.toFixed(4));
      json.calibration = report.rows.map((r) => ({
        threshold: r.threshold,
        savedFraction: share(r.savedFraction),
        savedByExits: share(r.savedByExits),
        savedBySchedule: share(r.savedBySchedule),
        savedByFixedDepth: share(r.savedByFixedDepth),
        agreement: Number(r.agreement.toFixed(4)),
        fid: Number(r.fid.toFixed(3)),
        ...(r.psnr !== null && Number.isFinite(r.psnr) ? { psnr: Number(r.psnr.toFixed(2)) } : {}),
      }));
      json.defaults.threshold = d.threshold;
      json.calibrationSource =
        `adadiff eval: ${perClass} per class, ${steps} steps, guidance ${manifest.defaults.guidance}; ` +
        `default θ ${d.threshold} ${d.chosenBy === 'bound' ? 'chosen within' : 'kept, no θ within'} ` +
        `the bound (agreement −${bound.maxAgreementDrop}, FID ×${bound.maxFidRatio})`;
      await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
    }
    if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } finally {
    await runner.release();
  }
}

async function runSoakCommand(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, ['model', 'count', 'steps', 'json', 'quiet']);
  const count = num('count', values.count) ?? 1000;
  if (!Number.isInteger(count) || count < 1 || count > 1e6)
    throw new UsageError('--count must be an integer 1…1000000');
  const model = await loadModel(directorySource(values.model ?? DEFAULT_MODEL));
  const steps = resolveParams(model.manifest, { steps: num('steps', values.steps) ?? 2 }).steps;
  const runner = await SegmentRunner.create(await loadOrt(), model, { backend: 'wasm' });
  try {
    const report = await runSoak(runner, model.manifest, {
      count,
      steps,
      every: Math.max(1, Math.round(count / 20)),
      onProgress: values.quiet ? undefined : io.stderr,
    });
    if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else
      io.stderr(
        `heap ${report.warmupHeapMB} MB after warm-up → ${report.finalHeapMB} MB after ${count} (${(100 * report.growth).toFixed(1)} %)\n`,
      );
    return report.liveTensors === 0 ? 0 : 1;
  } finally {
    await runner.release();
  }
}
