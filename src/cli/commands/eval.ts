/** `adadiff eval`: quality through the runtime users run, per θ or for one static baseline, against full depth. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fullDepthRow, isConditional, parseManifest, resolveParams, type Manifest } from '../../runtime';
import { adaptiveSweep, runEval, type EvalReport, type QualityBound } from '../eval';
import {
  BASELINE_FLAGS,
  baselineParams,
  num,
  onlyFlags,
  scheduleParams,
  thresholdList,
  UsageError,
  type CliIo,
  type Values,
} from '../flags';
import { loadModelDir, modelDirFlag, withRunner } from '../runner';

/** The θs the manifest was calibrated at, so a run checks what the slider shows (runEval adds the default θ). */
function evalSweep(m: Manifest): number[] {
  const calibrated = m.calibration.filter((c) => c !== fullDepthRow(m.calibration)).map((c) => c.threshold);
  return calibrated.length > 1 ? calibrated : [0.05, 0.08, 0.1, 0.12, 0.15, 0.2];
}

/** Where tools/export keeps the classifier that judges this model's data. */
function judgeDir(m: Manifest): string {
  if (!isConditional(m))
    throw new UsageError(
      `${m.id} has no classes: adadiff eval judges class agreement. Calibrate it with ` +
        '`python3 -m tools.export evaluate`, which measures θ against full depth (PSNR).',
    );
  if (!m.data) throw new UsageError(`${m.id}'s manifest does not say its data: pass --classifier DIR`);
  return `tools/export/judges/${m.data.id}`;
}

export async function runEvalCommand(values: Values, io: CliIo): Promise<number> {
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
  const dir = modelDirFlag(values.model);
  const model = await loadModelDir(dir);
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
  return withRunner(model, async (runner, ort) => {
    const report = await runEval(ort, runner, manifest, {
      classifierDir: values.classifier ?? judgeDir(manifest),
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
    if (values['write-manifest'] && d) await writeCalibration(dir, manifest, report, bound, perClass, steps);
    if (values.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  });
}

/**
 * Stores the calibration and the default θ in the model's manifest. The result is parsed by the
 * same schema the runtime reads with before it is written, so a write can never leave a manifest
 * the runtime refuses.
 */
async function writeCalibration(
  dir: string,
  manifest: Manifest,
  report: EvalReport,
  bound: QualityBound,
  perClass: number,
  steps: number,
): Promise<void> {
  const d = report.default!;
  const file = path.join(dir, 'manifest.json');
  const current = parseManifest(JSON.parse(await readFile(file, 'utf8')), file);
  const share = (v: number) => Number(v.toFixed(4));
  const next = parseManifest(
    {
      ...current,
      calibration: report.rows.map((r) => ({
        ...(r.mode === 'full' ? { mode: 'full' } : {}),
        threshold: r.threshold,
        savedFraction: share(r.savedFraction),
        savedByExits: share(r.savedByExits),
        savedBySchedule: share(r.savedBySchedule),
        savedByFixedDepth: share(r.savedByFixedDepth),
        agreement: Number(r.agreement.toFixed(4)),
        fid: Number(r.fid.toFixed(3)),
        ...(r.psnr !== null && Number.isFinite(r.psnr) ? { psnr: Number(r.psnr.toFixed(2)) } : {}),
      })),
      defaults: { ...current.defaults, threshold: d.threshold },
      calibrationSource:
        `adadiff eval: ${perClass} per class, ${steps} steps, guidance ${manifest.defaults.guidance}; ` +
        `default θ ${d.threshold} ${d.chosenBy === 'bound' ? 'chosen within' : 'kept, no θ within'} ` +
        `the bound (agreement −${bound.maxAgreementDrop}, FID ×${bound.maxFidRatio})`,
    },
    file,
  );
  await writeFile(file, `${JSON.stringify(next, null, 2)}\n`);
}
