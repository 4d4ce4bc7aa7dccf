/**
 * `adadiff bench --scale [--browser]`: a model of the paper's size in Node wasm, or Chromium wasm
 * (src/bench/scale.ts); with --markdown, saved under docs/results/scale/ (bench.ts then renders
 * BENCHMARKS.md with the rest).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrt } from '../../node/source';
import { runBrowserScale } from '../../bench/browser-scale';
import { nodeScaleBench } from '../../bench/scale-node';
import { probeShapeFile, scaleMarkdown, type ScaleReport } from '../../bench/scale';
import { num, onlyFlags, UsageError, type CliIo, type Values } from '../flags';
import { modelDirFlag } from '../runner';

/** Where scale reports are saved, beside the markdown file: one per model, storage and runtime. */
export const SCALE_RESULTS = path.join('docs', 'results', 'scale');

/** Runs (and with --markdown saves) the scale bench; true when BENCHMARKS.md is to be rendered. */
export async function runScaleCommand(values: Values, io: CliIo): Promise<boolean> {
  onlyFlags(values, ['scale', 'model', 'matmul', 'reps', 'json', 'markdown', 'quiet', 'browser', 'backend']);
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu') throw new UsageError('--backend must be wasm or webgpu');
  if (backend === 'webgpu' && !values.browser)
    throw new UsageError('--scale --backend webgpu needs --browser: WebGPU runs in Chromium');
  if (values.model === undefined)
    throw new UsageError(
      '--scale needs --model DIR: a model of the size to time (tools.export import-official --random-weights)',
    );
  const reps = num('reps', values.reps) ?? 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 100)
    throw new UsageError('--reps must be an integer 1…100');
  const modelDir = modelDirFlag(values.model);
  // checked here, not after a browser has started and asked for them
  if (!existsSync(path.join(modelDir, 'manifest.json')))
    throw new UsageError(`--model ${values.model}: no manifest.json in ${modelDir}`);
  if (values.matmul !== undefined && !/\.onnx$/.test(values.matmul))
    throw new UsageError(`--matmul ${values.matmul}: give the .onnx file tools.export matmul-probe wrote`);
  for (const file of values.matmul ? [values.matmul, probeShapeFile(values.matmul)] : []) {
    if (!existsSync(file))
      throw new UsageError(
        `--matmul: ${file} is missing; write the probe with tools.export matmul-probe --out FILE.onnx`,
      );
  }
  const options = {
    reps,
    matmul: values.matmul,
    onProgress: values.quiet ? undefined : io.stderr,
  };
  const report = values.browser
    ? await runBrowserScale({ modelDir, backend, ...options })
    : await nodeScaleBench(await loadOrt(), modelDir, options);
  if (values.markdown) {
    const dir = path.join(path.dirname(values.markdown), SCALE_RESULTS);
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(
        dir,
        `${report.model}-${report.storage}${values.browser ? '-chromium' : ''}${backend === 'webgpu' ? '-webgpu' : ''}.json`,
      ),
      `${JSON.stringify(report, null, 2)}\n`,
    );
  }
  if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  return Boolean(values.markdown);
}

/** BENCHMARKS.md's scale section from the saved scale reports (none saved: nothing), Node's before Chromium's. */
export async function scaleSection(dir: string): Promise<string> {
  if (!existsSync(dir)) return '';
  const saved: { report: ScaleReport; link: string }[] = [];
  for (const f of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
    saved.push({
      report: JSON.parse(await readFile(path.join(dir, f), 'utf8')) as ScaleReport,
      link: path.posix.join(SCALE_RESULTS.split(path.sep).join('/'), f),
    });
  }
  const inBrowser = (r: ScaleReport) =>
    (r.runtime ?? 'Node wasm').startsWith('Node') ? 0 : /webgpu/i.test(r.runtime ?? '') ? 2 : 1;
  saved.sort(
    (a, b) => a.report.storage.localeCompare(b.report.storage) || inBrowser(a.report) - inBrowser(b.report),
  );
  return saved.length
    ? `\n${scaleMarkdown(
        saved.map((s) => s.report),
        saved.map((s) => s.link),
      ).join('\n')}`
    : '';
}
