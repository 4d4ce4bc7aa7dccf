/**
 * `adadiff bench --scale`: a model of the paper's size in Node wasm (src/bench/scale.ts); with
 * --markdown, saved under docs/results/scale/ (bench.ts then renders BENCHMARKS.md with the rest).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrt } from '../../node/source';
import { scaleBench } from '../../bench/scale';
import { num, onlyFlags, UsageError, type CliIo, type Values } from '../flags';
import { modelDirFlag } from '../runner';

/** Where scale reports are saved, beside the markdown file: one per model and storage. */
export const SCALE_RESULTS = path.join('docs', 'results', 'scale');

/** Runs (and with --markdown saves) the scale bench; true when BENCHMARKS.md is to be rendered. */
export async function runScaleCommand(values: Values, io: CliIo): Promise<boolean> {
  onlyFlags(values, ['scale', 'model', 'matmul', 'reps', 'json', 'markdown', 'quiet']);
  if (values.model === undefined)
    throw new UsageError(
      '--scale needs --model DIR: a model of the size to time (tools.export import-official --random-weights)',
    );
  const reps = num('reps', values.reps) ?? 5;
  if (!Number.isInteger(reps) || reps < 1 || reps > 100)
    throw new UsageError('--reps must be an integer 1…100');
  const report = await scaleBench(await loadOrt(), modelDirFlag(values.model), {
    reps,
    ...(values.matmul ? { matmul: values.matmul } : {}),
    onProgress: values.quiet ? undefined : io.stderr,
  });
  if (values.markdown) {
    const dir = path.join(path.dirname(values.markdown), SCALE_RESULTS);
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, `${report.model}-${report.storage}.json`),
      `${JSON.stringify(report, null, 2)}\n`,
    );
  }
  if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  return Boolean(values.markdown);
}
