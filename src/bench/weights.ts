import type { Manifest } from '../runtime';

/** The weights' optimiser step, as the exporter records it, so that a saved report says which model it timed. */
export function trainingStep(manifest: Manifest): number | undefined {
  const step = manifest.provenance?.['optimizerSteps'];
  return typeof step === 'number' && Number.isFinite(step) ? step : undefined;
}

/** "step 15,018", or nothing for reports written before the step was recorded. */
export const stepLabel = (step: number | undefined): string | undefined =>
  step === undefined ? undefined : `step ${step.toLocaleString('en-US')}`;

/** "weights of optimiser step 15,018": how every table names the weights it ran on. */
export const weightsLabel = (step: number | undefined): string | undefined =>
  step === undefined ? undefined : `weights of optimiser ${stepLabel(step)}`;
