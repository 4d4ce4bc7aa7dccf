/**
 * What the page says about the model's calibration: the measured row nearest to the slider's θ,
 * and which of the user's settings differ from those it was measured at.
 */
import type { CalibrationRow, GenerateParams, Manifest } from '../../runtime';
import { defaultParams, fullDepthRow } from '../../runtime/params';

/** The manifest's measured adaptive row nearest to θ, if the model was calibrated. */
export function calibrationFor(rows: CalibrationRow[], threshold: number): CalibrationRow | null {
  let best: CalibrationRow | null = null;
  for (const r of rows.filter((r) => r !== fullDepthRow(rows)))
    if (!best || Math.abs(r.threshold - threshold) < Math.abs(best.threshold - threshold)) best = r;
  return best;
}

/**
 * What the slider's θ costs, in the calibration's words. FID alone means nothing to a reader (it
 * depends on the sample size), so it is given relative to full depth, as is agreement.
 */
export function calibrationSummary(rows: CalibrationRow[], threshold: number): string {
  const cal = calibrationFor(rows, threshold);
  if (!cal) return 'Higher θ exits earlier: faster, less exact. This model has no calibration table yet.';
  const full = fullDepthRow(rows);
  const exits =
    cal.savedByExits !== undefined && cal !== full
      ? ` (by the exits ${(100 * cal.savedByExits).toFixed(1)} %, the rest at any θ by the guidance schedule and fixed depths)`
      : '';
  const parts = [
    `Measured near θ = ${cal.threshold}: ${(100 * cal.savedFraction).toFixed(0)} % blocks saved${exits}`,
  ];
  if (cal.agreement !== undefined)
    parts.push(
      `class agreement ${(100 * cal.agreement).toFixed(0)} %` +
        (full?.agreement !== undefined && cal !== full
          ? ` (full depth ${(100 * full.agreement).toFixed(0)} %)`
          : ''),
    );
  if (cal.fid !== undefined)
    parts.push(
      full?.fid && cal !== full
        ? `FID ${(cal.fid / full.fid).toFixed(2)}× full depth`
        : `FID ${cal.fid.toFixed(1)}`,
    );
  return `${parts.join(', ')}.`;
}

/** The settings a calibration row was measured at, by the names the page shows. */
export const CALIBRATED_SETTINGS = {
  steps: 'steps',
  sampler: 'sampler',
  guidance: 'guidance',
  batching: 'how the unconditional pass exits',
  unconditionalEvery: 'how often it runs',
  guidanceMaxT: 'guidance interval',
} as const;
// a switched-off guidance schedule differs from the model's in unconditionalEvery and guidanceMaxT
export type CalibratedSetting = keyof typeof CALIBRATED_SETTINGS;
export const GUIDANCE_PASS: CalibratedSetting[] = ['batching', 'unconditionalEvery', 'guidanceMaxT'];

/**
 * The settings that differ from the model's defaults, which its calibration table was measured
 * with: the table's figures say nothing about other settings.
 */
export function changedFromCalibration(
  p: Pick<GenerateParams, CalibratedSetting>,
  manifest: Manifest,
): CalibratedSetting[] {
  const d = defaultParams(manifest);
  return (Object.keys(CALIBRATED_SETTINGS) as CalibratedSetting[]).filter((k) => p[k] !== d[k]);
}
