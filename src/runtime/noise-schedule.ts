/** The noise schedule the manifest names, and the timesteps a sampler visits. */
export interface ScheduleSpec {
  type: 'ddpm-linear';
  numTimesteps: number;
  betaStart: number;
  betaEnd: number;
}

export interface NoiseSchedule {
  numTimesteps: number;
  /** ᾱ_t for t = 0 … T−1, in float64 as the exporter computes it. */
  alphasCumprod: Float64Array;
}

export function makeSchedule(spec: ScheduleSpec): NoiseSchedule {
  const T = spec.numTimesteps;
  const alphasCumprod = new Float64Array(T);
  // numpy.linspace's formula, so ᾱ matches tools/export bit for bit
  const delta = T === 1 ? 0 : (spec.betaEnd - spec.betaStart) / (T - 1);
  let product = 1;
  for (let t = 0; t < T; t++) {
    const beta = t * delta + spec.betaStart;
    product *= 1 - beta;
    alphasCumprod[t] = product;
  }
  return { numTimesteps: T, alphasCumprod };
}

/** 'Trailing' spacing (starts at T−1) as tools/export/core/diffusion.py's ddim_timesteps. */
export function samplingTimesteps(numTimesteps: number, steps: number): number[] {
  const ratio = numTimesteps / steps;
  return Array.from({ length: steps }, (_, k) => Math.round(numTimesteps - k * ratio) - 1);
}

/** ᾱ at a timestep; −1 stands for "after the last step", where the image is clean (ᾱ = 1). */
export function alphaBar(schedule: NoiseSchedule, t: number): number {
  return t < 0 ? 1 : (schedule.alphasCumprod[t] as number);
}
