/**
 * `adadiff bench`: wall time per image in Node (wasm) or in Chromium's worker (--browser), and
 * --markdown: this run saved beside the earlier ones in the model's results folder (docs/results/<model>/,
 * next to the markdown file), BENCHMARKS.md and its plots rendered from the newest of each kind.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_MODEL_ID, readManifest, resolveParams, type Manifest } from '../../runtime';
import { directorySource, shippedModelIds } from '../../node/source';
import {
  firstImageFileName,
  firstImageMarkdown,
  runFirstImageBench,
  type FirstImageReport,
  type FirstImageSite,
} from '../../bench/first-image';
import { runBrowserBench } from '../../bench/browser';
import { runBench, type BenchReport } from '../../bench/harness';
import { frontierSeries, type FrontierReport } from '../../bench/frontier';
import { svgPlot } from '../../bench/plot';
import { benchFileName, benchKey, benchMarkdown, fidVsSaved } from '../../bench/report';
import { newestPerKey, PLOTS, resultsFolder, type SavedResult } from '../../bench/results';
import { num, onlyFlags, thresholdList, UsageError, type CliIo, type Values } from '../flags';
import { DEFAULT_MODEL, loadModelDir, modelDirFlag, withRunner } from '../runner';
import { runScaleCommand, scaleSection, SCALE_RESULTS } from './scale';

export async function runBenchCommand(values: Values, io: CliIo): Promise<number> {
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
    'first-image',
    'throttle',
    'site',
    'scale',
    'matmul',
  ]);
  if (values.scale) {
    if (await runScaleCommand(values, io))
      await renderBenchMarkdown(values.markdown!, await readManifest(directorySource(DEFAULT_MODEL)));
    return 0;
  }
  if (values.matmul !== undefined) throw new UsageError('--matmul goes with --scale');
  if (values['first-image']) return runFirstImageCommand(values, io);
  if (values.throttle !== undefined) throw new UsageError('--throttle goes with --first-image');
  if (values.site !== undefined) throw new UsageError('--site goes with --first-image');
  const reps = num('reps', values.reps) ?? 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 100)
    throw new UsageError(`--reps must be an integer 1…100`);
  const thresholds = thresholdList(values);
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be wasm or webgpu');
  if (backend === 'webgpu' && !values.browser)
    throw new UsageError('--backend webgpu needs --browser (Node has no WebGPU)');
  const modelDir = modelDirFlag(values.model);
  const mono = (await readManifest(directorySource(modelDir))).baselines?.monolithic;
  if (!values.browser && mono && !existsSync(path.join(modelDir, mono.path))) {
    throw new UsageError(
      `bench times the monolithic graph too, and ${path.join(modelDir, mono.path)} is missing (the installed package leaves it out): run bench in a checkout of adadiff-web`,
    );
  }
  const model = await loadModelDir(modelDir, { includeMonolithic: !values.browser });
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
    report = await withRunner(model, (runner) =>
      runBench(runner, model, {
        reps,
        steps,
        thresholds: sweep,
        environment: `Node ${process.version}`,
        onProgress: progress,
      }),
    );
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

async function runFirstImageCommand(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, [
    'model',
    'reps',
    'json',
    'quiet',
    'backend',
    'first-image',
    'throttle',
    'markdown',
    'site',
  ]);
  const reps = num('reps', values.reps) ?? 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 20)
    throw new UsageError('--reps must be an integer 1…20');
  const throttle = num('throttle', values.throttle) ?? 10;
  if (!(throttle >= 0 && throttle <= 10_000)) throw new UsageError('--throttle must be 0…10000 Mbit/s');
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be wasm or webgpu');
  // every shipped model unless named, the default first (its results folder keeps the report)
  const shipped = [DEFAULT_MODEL_ID, ...shippedModelIds().filter((id) => id !== DEFAULT_MODEL_ID)];
  const modelDirs = (values.model?.split(',').filter(Boolean) ?? shipped).map(modelDirFlag);
  for (const dir of modelDirs) await readManifest(directorySource(dir)); // a bad directory fails here, clearly
  const report = await runFirstImageBench({
    modelDirs,
    backend,
    reps,
    throttleMbps: throttle === 0 ? null : throttle,
    sites: siteFlag(values.site),
    onProgress: values.quiet ? undefined : io.stderr,
  });
  if (values.markdown) {
    // saved with the first model's results; BENCHMARKS.md shows those of the shipped model
    const first = await readManifest(directorySource(modelDirs[0]!));
    const dir = resultsDir(values.markdown, first.id);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, firstImageFileName(report)), `${JSON.stringify(report, null, 2)}\n`);
    const shipped = await loadModelDir(DEFAULT_MODEL);
    await renderBenchMarkdown(values.markdown, shipped.manifest);
  }
  if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else
    io.stderr(
      report.rows
        .map(
          (r) =>
            `${r.site ? `${r.site} ` : ''}${r.model} ${r.cache.padEnd(4)} ready ${(r.readyMs / 1000).toFixed(1)} s, first image ${(r.firstImageMs / 1000).toFixed(1)} s, ${(r.transferredBytes / 1e6).toFixed(2)} MB`,
        )
        .join('\n') + '\n',
    );
  return 0;
}

/** --site LABEL=DIR,…: the builds to time side by side (a DIR alone is labelled by its path). */
function siteFlag(given: string | undefined): FirstImageSite[] | undefined {
  if (given === undefined) return undefined;
  const sites = given
    .split(',')
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf('=');
      return at > 0 ? { label: entry.slice(0, at), dir: entry.slice(at + 1) } : { label: entry, dir: entry };
    });
  const labels = sites.map((x) => x.label);
  if (!sites.length || sites.some((x) => !x.dir) || new Set(labels).size !== labels.length)
    throw new UsageError(
      '--site takes LABEL=DIR,LABEL=DIR… (built sites, e.g. before=../old/dist,after=dist), each label once',
    );
  return sites;
}

/** The model's results folder beside the markdown file: docs/results/<model id>/. */
const resultsDir = (markdownFile: string, modelId: string) =>
  path.join(path.dirname(markdownFile), resultsFolder(modelId));

/** Saves this run in the model's results folder and renders the markdown from the saved runs. */
export async function writeBenchMarkdown(
  file: string,
  report: BenchReport,
  manifest: Manifest,
): Promise<void> {
  const dir = resultsDir(file, manifest.id);
  await mkdir(path.join(dir, 'plots'), { recursive: true });
  const key = benchKey(report);
  await writeFile(path.join(dir, benchFileName(report)), `${JSON.stringify(report, null, 2)}\n`);
  // one point per θ: the first row (with the fused prefix where the model has one)
  const adaptive = report.rows.filter(
    (r, i, all) =>
      r.kind === 'adaptive' &&
      all.findIndex((o) => o.kind === 'adaptive' && o.threshold === r.threshold) === i,
  );
  await writeFile(
    path.join(dir, PLOTS.time(key)),
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
      path.join(dir, PLOTS.qualityVsSaved),
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
      path.join(dir, PLOTS.fidVsSaved),
      svgPlot(fid, {
        title: 'Classifier-FID relative to full depth vs blocks saved',
        xLabel: 'fraction of blocks skipped',
        yLabel: 'FID / full-depth FID',
        refY: { y: 1.1, label: 'target ≤ 1.10×' },
      }),
    );
  }
  await renderBenchMarkdown(file, manifest);
}

/**
 * BENCHMARKS.md from the model's results folder: the newest bench run of each place, the newest
 * first-image run of each backend, the frontier study.
 */
export async function renderBenchMarkdown(file: string, manifest: Manifest): Promise<void> {
  const dir = resultsDir(file, manifest.id);
  const files = existsSync(dir) ? (await readdir(dir)).sort() : [];
  const read = async <T>(f: string) => JSON.parse(await readFile(path.join(dir, f), 'utf8')) as T;
  const benches: SavedResult<BenchReport>[] = [];
  for (const f of files.filter((f) => /^(step\d+-)?bench-[\w-]+\.json$/.test(f))) {
    const r = await read<BenchReport>(f);
    // results of another model would mislead next to these
    if (r.model === manifest.id && r.environment) benches.push({ report: r, file: f });
  }
  const frontier = await readFrontier(dir, files);
  if (frontier) {
    await mkdir(path.join(dir, 'plots'), { recursive: true });
    await writeFile(
      path.join(dir, PLOTS.frontier),
      svgPlot(frontierSeries(frontier.report.report), {
        title: 'Classifier-FID relative to full depth vs blocks run',
        xLabel: 'fraction of full depth’s blocks run',
        yLabel: 'FID / full-depth FID',
        refY: { y: 1.1, label: '1.10×' },
      }),
    );
  }
  const firstImages: SavedResult<FirstImageReport>[] = [];
  for (const f of files.filter((f) => /^(step\d+-)?first-image-[\w-]+\.json$/.test(f)))
    firstImages.push({ report: await read<FirstImageReport>(f), file: f });
  const firstImage = newestPerKey(
    firstImages,
    (r) => r.backend,
    (r) => r.rows[0]?.modelStep,
  ).sort((a, b) => a.file.localeCompare(b.file));
  const results = resultsFolder(manifest.id);
  const card = path.join(path.dirname(file), 'docs', 'models', `${manifest.id}.md`);
  await writeFile(
    file,
    benchMarkdown(
      newestPerKey(benches, benchKey, (r) => r.modelStep),
      manifest,
      { results, frontier, ...(existsSync(card) ? { modelCard: `docs/models/${manifest.id}.md` } : {}) },
    ) +
      firstImageMarkdown(
        firstImage.map((s) => s.report),
        firstImage.map((s) => `${results}/${s.file}`),
      ).join('\n') +
      (firstImage.length ? '\n' : '') +
      (await scaleSection(path.join(path.dirname(file), SCALE_RESULTS))),
  );
}

/**
 * tools/export/studies/frontier.py's reports on the newest weights that have them, where they have been
 * made: the study (step<N>-frontier-….json) and its check on more samples (step<N>-frontier-confirm-….json).
 */
async function readFrontier(dir: string, files: string[]) {
  const newest = async (pattern: RegExp) => {
    const saved: SavedResult<FrontierReport>[] = [];
    for (const f of files.filter((f) => pattern.test(f)))
      saved.push({
        report: JSON.parse(await readFile(path.join(dir, f), 'utf8')) as FrontierReport,
        file: f,
      });
    return (
      newestPerKey(
        saved,
        () => 'frontier',
        (r) => r.checkpointStep,
      )[0] ?? null
    );
  };
  const report = await newest(/^(step\d+-)?frontier-(?!confirm)[\w.-]*\.json$/);
  return report ? { report, confirm: await newest(/^(step\d+-)?frontier-confirm[\w.-]*\.json$/) } : null;
}
