/** `adadiff soak`: many generations in one process, the heap sampled, live tensors counted at the end. */
import { resolveParams } from '../../runtime';
import { num, onlyFlags, UsageError, type CliIo, type Values } from '../flags';
import { loadModelDir, modelDirFlag, withRunner } from '../runner';
import { runSoak } from '../soak';

export async function runSoakCommand(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, ['model', 'count', 'steps', 'json', 'quiet']);
  const count = num('count', values.count) ?? 1000;
  if (!Number.isInteger(count) || count < 1 || count > 1e6)
    throw new UsageError('--count must be an integer 1…1000000');
  const model = await loadModelDir(modelDirFlag(values.model));
  const steps = resolveParams(model.manifest, { steps: num('steps', values.steps) ?? 2 }).steps;
  return withRunner(model, async (runner) => {
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
  });
}
