/**
 * `adadiff bench`: wall time per image in Node (wasm) or in Chromium's worker (--browser), and
 * --markdown: this run saved beside the earlier ones, BENCHMARKS.md and its plots rendered from all.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readManifest, resolveParams, type Manifest } from '../../runtime';
import { directorySource } from '../../node/source';
import { firstImageMarkdown, runFirstImageBench, type FirstImageReport } from '../../bench/first-image';
import { runBrowserBench } from '../../bench/browser';
import { runBench, type BenchReport } from '../../bench/harness';
import { frontierSeries, type FrontierReport } from '../../bench/frontier';
import { svgPlot } from '../../bench/plot';
import { benchKey, benchMarkdown, fidVsSaved } from '../../bench/report';
import { num, onlyFlags, thresholdList, UsageError, type CliIo, type Values } from '../flags';
import { DEFAULT_MODEL, loadModelDir, withRunner } from '../runner';

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
  ]);
  if (values['first-image']) return runFirstImageCommand(values, io);
  if (values.throttle !== undefined) throw new UsageError('--throttle goes with --first-image');
  const reps = num('reps', values.reps) ?? 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 100)
    throw new UsageError(`--reps must be an integer 1…100`);
  const thresholds = thresholdList(values);
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be wasm or webgpu');
  if (backend === 'webgpu' && !values.browser)
    throw new UsageError('--backend webgpu needs --browser (Node has no WebGPU)');
  const modelDir = values.model ?? DEFAULT_MODEL;
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
      runBench(runner, manifest, {
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
  onlyFlags(values, ['model', 'reps', 'json', 'quiet', 'backend', 'first-image', 'throttle', 'markdown']);
  const reps = num('reps', values.reps) ?? 3;
  if (!Number.isInteger(reps) || reps < 1 || reps > 20)
    throw new UsageError('--reps must be an integer 1…20');
  const throttle = num('throttle', values.throttle) ?? 10;
  if (!(throttle >= 0 && throttle <= 10_000)) throw new UsageError('--throttle must be 0…10000 Mbit/s');
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be wasm or webgpu');
  const modelDirs = (values.model ?? DEFAULT_MODEL).split(',').filter(Boolean);
  for (const dir of modelDirs) await readManifest(directorySource(dir)); // a bad directory fails here, clearly
  const report = await runFirstImageBench({
    modelDirs,
    backend,
    reps,
    throttleMbps: throttle === 0 ? null : throttle,
    onProgress: values.quiet ? undefined : io.stderr,
  });
  if (values.markdown) {
    const docs = path.join(path.dirname(values.markdown), 'docs');
    await mkdir(docs, { recursive: true });
    await writeFile(path.join(docs, `first-image-${backend}.json`), `${JSON.stringify(report, null, 2)}\n`);
    const shipped = await loadModelDir(DEFAULT_MODEL);
    await renderBenchMarkdown(values.markdown, shipped.manifest);
  }
  if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else
    io.stderr(
      report.rows
        .map(
          (r) =>
            `${r.model} ${r.cache.padEnd(4)} ready ${(r.readyMs / 1000).toFixed(1)} s, first image ${(r.firstImageMs / 1000).toFixed(1)} s, ${(r.transferredBytes / 1e6).toFixed(2)} MB`,
        )
        .join('\n') + '\n',
    );
  return 0;
}

/** Saves this run as docs/bench-<where>.json and renders the markdown from every saved run. */
export async function writeBenchMarkdown(
  file: string,
  report: BenchReport,
  manifest: Manifest,
): Promise<void> {
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
  await renderBenchMarkdown(file, manifest);
}

/** BENCHMARKS.md from every saved run in docs/ beside it: benches, first-image runs, the frontier. */
export async function renderBenchMarkdown(file: string, manifest: Manifest): Promise<void> {
  const docs = path.join(path.dirname(file), 'docs');
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
  const firstImage: FirstImageReport[] = [];
  for (const f of (await readdir(docs)).filter((f) => /^first-image-[\w-]+\.json$/.test(f)).sort())
    firstImage.push(JSON.parse(await readFile(path.join(docs, f), 'utf8')) as FirstImageReport);
  await writeFile(
    file,
    benchMarkdown(saved, manifest, frontier) +
      firstImageMarkdown(firstImage).join('\n') +
      (firstImage.length ? '\n' : ''),
  );
}

/** tools/export/studies/frontier.py's reports, where they have been made: docs/frontier.json (+ -confirm). */
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
