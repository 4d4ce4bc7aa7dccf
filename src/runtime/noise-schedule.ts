/**
 * The noise schedule the manifest names, and the timesteps a sampler visits. A timestep is always
 * what the network is fed: an integer DDPM step (0 … T−1), or 999·s for the official AdaDiff code's
 * continuous VP-SDE (s ∈ (0, 1]), so that timesteps compare and print alike for both kinds.
 */
export type ScheduleSpec =
  | { type: 'ddpm-linear'; numTimesteps: number; betaStart: number; betaEnd: number }
  | { type: 'vp-continuous'; betaMin: number; betaMax: number; timeScale: number; tMin: number };

export interface NoiseSchedule {
  /** ᾱ at a timestep; −1 stands for "after the last step", where the image is clean (ᾱ = 1). */
  alphaBar(t: number): number;
  /** β at a timestep, in the continuous time's units (continuous schedules only; null otherwise). */
  beta: ((t: number) => number) | null;
  /** The largest timestep, where sampling starts from pure noise. */
  lastTimestep: number;
  /** The timesteps a sampler with this many steps visits, noisiest first. */
  timesteps(steps: number): number[];
}

/** The largest timestep of a schedule (guidanceMaxT's range, "guide at every step"). */
export function lastTimestep(spec: ScheduleSpec): number {
  return spec.type === 'ddpm-linear' ? spec.numTimesteps - 1 : spec.timeScale;
}

/** The most sampling steps a schedule takes: one per discrete timestep, any number in continuous time. */
export function maxSteps(spec: ScheduleSpec, cap: number): number {
  return spec.type === 'ddpm-linear' ? Math.min(cap, spec.numTimesteps) : cap;
}

export function makeSchedule(spec: ScheduleSpec): NoiseSchedule {
  return spec.type === 'ddpm-linear' ? ddpmLinear(spec) : vpContinuous(spec);
}

function ddpmLinear(spec: Extract<ScheduleSpec, { type: 'ddpm-linear' }>): NoiseSchedule {
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
  return {
    alphaBar: (t) => (t < 0 ? 1 : (alphasCumprod[t] as number)),
    beta: null,
    lastTimestep: T - 1,
    timesteps: (steps) => samplingTimesteps(T, steps),
  };
}

/** ᾱ(s) = exp(−β_min·s − ½(β_max − β_min)·s²), as the official code's VPSDE (tools/export's VPContinuous). */
function vpContinuous(spec: Extract<ScheduleSpec, { type: 'vp-continuous' }>): NoiseSchedule {
  const { betaMin, betaMax, timeScale, tMin } = spec;
  return {
    alphaBar(t) {
      if (t < 0) return 1;
      const s = t / timeScale;
      return Math.exp(-betaMin * s - 0.5 * (betaMax - betaMin) * s * s);
    },
    beta: (t) => betaMin + ((betaMax - betaMin) * t) / timeScale,
    lastTimestep: timeScale,
    // s from 1 down to tMin in equal steps (numpy.linspace's formula): the official Euler–Maruyama grid
    timesteps(steps) {
      if (steps === 1) return [timeScale];
      const delta = (tMin - 1) / (steps - 1);
      return Array.from({ length: steps }, (_, k) => timeScale * (k === steps - 1 ? tMin : 1 + k * delta));
    },
  };
}

/** 'Trailing' spacing (starts at T−1) as tools/export/core/diffusion.py's ddim_timesteps. */
export function samplingTimesteps(numTimesteps: number, steps: number): number[] {
  const ratio = numTimesteps / steps;
  return Array.from({ length: steps }, (_, k) => Math.round(numTimesteps - k * ratio) - 1);
}
