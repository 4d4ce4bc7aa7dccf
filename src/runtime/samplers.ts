/**
 * Samplers as small pure step functions over the schedule (as diffusers' schedulers): given the
 * current sample, the model's noise estimate and the two timesteps, return the next sample and
 * the predicted clean image. The model never knows which sampler drives it.
 */
import type { NoiseSchedule } from './noise-schedule';

export type SamplerName = 'ddim' | 'dpmpp2m' | 'ddpm' | 'euler-maruyama';
export const SAMPLERS: readonly SamplerName[] = ['ddim', 'dpmpp2m', 'ddpm', 'euler-maruyama'];

export interface StepInput {
  x: Float32Array;
  eps: Float32Array;
  t: number;
  /** The next timestep, −1 after the last step. */
  tPrev: number;
  /** Fresh standard normals for stochastic samplers (same length as x); called at most once. */
  noise: () => Float32Array;
}

export interface StepOutput<S> {
  x: Float32Array;
  x0: Float32Array;
  state: S;
}

export interface Sampler<S = unknown> {
  name: SamplerName;
  initialState: S;
  step(schedule: NoiseSchedule, input: StepInput, state: S): StepOutput<S>;
}

/** The data range x̂0 is clipped to: the manifest's image.valueRange. */
export type ValueRange = readonly [number, number];

/** x̂0 = (x − √(1−ᾱ)·ε) / √ᾱ, clipped to the data range as the exporter's sampler does. */
export function predictX0(
  x: Float32Array,
  eps: Float32Array,
  ab: number,
  [lo, hi]: ValueRange = [-1, 1],
): Float32Array {
  const out = new Float32Array(x.length);
  const s1 = Math.sqrt(1 - ab);
  const s0 = Math.sqrt(ab);
  for (let i = 0; i < x.length; i++) {
    const v = ((x[i] as number) - s1 * (eps[i] as number)) / s0;
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}

/**
 * The noise that a (clipped) x̂0 implies: ε = (x − √ᾱ·x̂0) / √(1−ᾱ). DDIM must step with it, not
 * with the model's ε: once x̂0 is clipped the two disagree, and under guidance the mismatch grows
 * with every step (FID 70 → 151 from 20 to 50 steps on the step-9721 model).
 */
export function impliedEps(x: Float32Array, x0: Float32Array, ab: number): Float32Array {
  const out = new Float32Array(x.length);
  const s1 = Math.sqrt(1 - ab);
  const s0 = Math.sqrt(ab);
  for (let i = 0; i < x.length; i++) out[i] = ((x[i] as number) - s0 * (x0[i] as number)) / s1;
  return out;
}

export function ddim(eta = 0, range?: ValueRange): Sampler<null> {
  return {
    name: 'ddim',
    initialState: null,
    step(schedule, { x, eps, t, tPrev, noise }) {
      const ab = schedule.alphaBar(t);
      const abPrev = schedule.alphaBar(tPrev);
      const x0 = predictX0(x, eps, ab, range);
      const sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
      const dirScale = Math.sqrt(Math.max(1 - abPrev - sigma * sigma, 0));
      const z = sigma > 0 ? noise() : null;
      const out = new Float32Array(x.length);
      const a = Math.sqrt(abPrev);
      const epsClipped = impliedEps(x, x0, ab);
      for (let i = 0; i < x.length; i++) {
        out[i] =
          a * (x0[i] as number) + dirScale * (epsClipped[i] as number) + (z ? sigma * (z[i] as number) : 0);
      }
      return { x: out, x0, state: null };
    },
  };
}

/** Ancestral DDPM over strided steps: a sample of the posterior q(x_prev | x_t, x̂0). */
export function ddpm(range?: ValueRange): Sampler<null> {
  return {
    name: 'ddpm',
    initialState: null,
    step(schedule, { x, eps, t, tPrev, noise }) {
      const ab = schedule.alphaBar(t);
      const abPrev = schedule.alphaBar(tPrev);
      const alpha = ab / abPrev;
      const beta = 1 - alpha;
      const x0 = predictX0(x, eps, ab, range);
      const c0 = (Math.sqrt(abPrev) * beta) / (1 - ab);
      const ct = (Math.sqrt(alpha) * (1 - abPrev)) / (1 - ab);
      const std = Math.sqrt((beta * (1 - abPrev)) / (1 - ab));
      const z = tPrev >= 0 && std > 0 ? noise() : null;
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) {
        out[i] = c0 * (x0[i] as number) + ct * (x[i] as number) + (z ? std * (z[i] as number) : 0);
      }
      return { x: out, x0, state: null };
    },
  };
}

interface DpmState {
  /** The previous step's x̂0 and its log-SNR λ, for the second-order correction. */
  previous: { x0: Float32Array; lambda: number } | null;
}

/** DPM-Solver++(2M) (Lu et al. 2022), data prediction, first order on the first and last step. */
export function dpmpp2m(range?: ValueRange): Sampler<DpmState> {
  return {
    name: 'dpmpp2m',
    initialState: { previous: null },
    step(schedule, { x, eps, t, tPrev }, state) {
      const ab = schedule.alphaBar(t);
      const abPrev = schedule.alphaBar(tPrev);
      const x0 = predictX0(x, eps, ab, range);
      const lambda = 0.5 * Math.log(ab / (1 - ab));
      if (abPrev >= 1) return { x: x0, x0, state: { previous: null } };
      const lambdaPrev = 0.5 * Math.log(abPrev / (1 - abPrev));
      const h = lambdaPrev - lambda;
      const sigmaRatio = Math.sqrt((1 - abPrev) / (1 - ab));
      const coef = Math.sqrt(abPrev) * Math.expm1(-h); // α_prev·(e^{−h} − 1), negative
      let d = x0;
      if (state.previous) {
        const r = (lambda - state.previous.lambda) / h;
        d = new Float32Array(x.length);
        const w = 1 / (2 * r);
        for (let i = 0; i < x.length; i++) {
          d[i] = (1 + w) * (x0[i] as number) - w * (state.previous.x0[i] as number);
        }
      }
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = sigmaRatio * (x[i] as number) - coef * (d[i] as number);
      return { x: out, x0, state: { previous: { x0, lambda } } };
    },
  };
}

/**
 * Euler–Maruyama on the reverse VP-SDE, the official AdaDiff eval's sampler (tools/export's
 * euler_maruyama_step): x ← x + (f − g²·score)·Δs + g·√|Δs|·z with f = −½β(s)x, g² = β(s),
 * score = −ε/√(1−ᾱ); no noise on the step to the clean image. Continuous schedules only (it needs
 * β at any time); the official eval runs 1000 steps of it.
 */
export function eulerMaruyama(range?: ValueRange): Sampler<null> {
  return {
    name: 'euler-maruyama',
    initialState: null,
    step(schedule, { x, eps, t, tPrev, noise }) {
      if (!schedule.beta) throw new Error('euler-maruyama needs a continuous (vp-continuous) noise schedule');
      const ab = schedule.alphaBar(t);
      const scale = schedule.lastTimestep; // timesteps are timeScale·s
      const ds = (Math.max(tPrev, 0) - t) / scale;
      const beta = schedule.beta(t);
      const scoreScale = -1 / Math.sqrt(1 - ab);
      const z = tPrev > 0 ? noise() : null;
      const g = z ? Math.sqrt(beta) * Math.sqrt(-ds) : 0;
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const xi = x[i] as number;
        const drift = -0.5 * beta * xi - beta * scoreScale * (eps[i] as number);
        out[i] = xi + drift * ds + (z ? g * (z[i] as number) : 0);
      }
      return { x: out, x0: predictX0(x, eps, ab, range), state: null };
    },
  };
}

export function makeSampler(name: SamplerName, eta = 0, range?: ValueRange): Sampler<unknown> {
  switch (name) {
    case 'ddim':
      return ddim(eta, range) as Sampler<unknown>;
    case 'ddpm':
      return ddpm(range) as Sampler<unknown>;
    case 'dpmpp2m':
      return dpmpp2m(range) as Sampler<unknown>;
    case 'euler-maruyama':
      return eulerMaruyama(range) as Sampler<unknown>;
  }
}

/** Classifier-free guidance: ε = ε_u + g·(ε_c − ε_u). */
export function guide(epsCond: Float32Array, epsUncond: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(epsCond.length);
  for (let i = 0; i < out.length; i++) {
    const u = epsUncond[i] as number;
    out[i] = u + scale * ((epsCond[i] as number) - u);
  }
  return out;
}
