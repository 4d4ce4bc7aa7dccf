import { describe, expect, it } from 'vitest';
import {
  ddim,
  ddpm,
  dpmpp2m,
  eulerMaruyama,
  guide,
  impliedEps,
  makeSchedule,
  predictX0,
  samplingTimesteps,
  type Sampler,
} from '../../src/runtime';

const schedule = makeSchedule({ type: 'ddpm-linear', numTimesteps: 1000, betaStart: 1e-4, betaEnd: 0.02 });
const zeros = (n: number) => () => new Float32Array(n);

/** A sample at timestep t whose x̂0 lies inside [-1, 1], so clipping does not enter the comparison. */
function noisy(t: number, x0: number[], eps: number[]): { x: Float32Array; eps: Float32Array } {
  const ab = schedule.alphaBar(t);
  return {
    x: Float32Array.from(x0, (v, i) => Math.sqrt(ab) * v + Math.sqrt(1 - ab) * eps[i]!),
    eps: Float32Array.from(eps),
  };
}

describe('schedule', () => {
  it('matches numpy’s linear-beta ᾱ (reference values from tools/export)', () => {
    expect(schedule.alphaBar(0)).toBeCloseTo(0.9999, 12);
    expect(schedule.alphaBar(499) / 0.07858724288177824).toBeCloseTo(1, 10);
    expect(schedule.alphaBar(999) / 4.035829765375676e-5).toBeCloseTo(1, 9);
  });

  it('uses trailing timesteps as the exporter does', () => {
    expect(samplingTimesteps(1000, 20).slice(0, 5)).toEqual([999, 949, 899, 849, 799]);
    expect(samplingTimesteps(1000, 7)).toEqual([999, 856, 713, 570, 428, 285, 142]);
  });
});

describe('DDIM', () => {
  it('one step equals the PyTorch reference (x0 clipped to [-1, 1])', () => {
    const x = Float32Array.from([0.5, -0.2, 1.3]);
    const eps = Float32Array.from([0.1, 0.3, -0.7]);
    const out = ddim(0).step(schedule, { x, eps, t: 999, tPrev: 499, noise: zeros(3) }, null);
    expect(Array.from(out.x0)).toEqual([1, -1, 1]);
    const want = [0.7541968822479248, -0.46622034907341003, 1.5221343040466309];
    out.x.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
  });

  it('steps with the noise the clipped x̂0 implies: √ᾱ·x̂0 + √(1−ᾱ)·ε gives back x_t', () => {
    const t = 600;
    const tPrev = 550;
    const ab = schedule.alphaBar(t);
    const abPrev = schedule.alphaBar(tPrev);
    // x̂0 of the model's ε lies far outside [-1, 1] for the first two entries, as under strong guidance
    const x = Float32Array.from([0.9, -0.95, 0.1]);
    const eps = Float32Array.from([-1.5, 1.4, 0.2]);
    const out = ddim(0).step(schedule, { x, eps, t, tPrev, noise: zeros(3) }, null);
    const implied = impliedEps(x, out.x0, ab);
    x.forEach((v, i) =>
      expect(Math.sqrt(ab) * out.x0[i]! + Math.sqrt(1 - ab) * implied[i]!).toBeCloseTo(v, 6),
    );
    expect(Math.abs(implied[0]! - eps[0]!)).toBeGreaterThan(0.1); // the clip changed it
    out.x.forEach((v, i) =>
      expect(v).toBeCloseTo(Math.sqrt(abPrev) * out.x0[i]! + Math.sqrt(1 - abPrev) * implied[i]!, 6),
    );
    // where nothing was clipped, the implied noise is the model's own
    expect(implied[2]).toBeCloseTo(eps[2]!, 5);
  });

  it('DDPM’s mean is DDIM with η = 1 (same posterior), and both draw noise only when σ > 0', () => {
    const { x, eps } = noisy(700, [0.3, -0.4], [0.2, -0.1]);
    let draws = 0;
    const noise = () => {
      draws++;
      return new Float32Array(2);
    };
    const a = ddpm().step(schedule, { x, eps, t: 700, tPrev: 650, noise }, null);
    const b = ddim(1).step(schedule, { x, eps, t: 700, tPrev: 650, noise }, null);
    a.x.forEach((v, i) => expect(v).toBeCloseTo(b.x[i]!, 5));
    expect(draws).toBe(2);
    ddim(0).step(schedule, { x, eps, t: 700, tPrev: 650, noise }, null);
    expect(draws).toBe(2);
  });
});

/** A model that knows the clean image exactly: every sampler must end on it. */
function exactRun(sampler: Sampler<unknown>, steps: number): { final: Float32Array; target: Float32Array } {
  const target = Float32Array.from([0.25, -0.5, 0.75, 0]);
  let x: Float32Array = Float32Array.from([1.1, -0.3, 0.2, -1.7]);
  let state = sampler.initialState;
  const ts = samplingTimesteps(1000, steps);
  ts.forEach((t, k) => {
    const ab = schedule.alphaBar(t);
    const eps = x.map((v, i) => (v - Math.sqrt(ab) * target[i]!) / Math.sqrt(1 - ab));
    const out = sampler.step(
      schedule,
      { x, eps, t, tPrev: ts[k + 1] ?? -1, noise: () => new Float32Array(4) },
      state,
    );
    x = out.x;
    state = out.state;
  });
  return { final: x, target };
}

describe('every sampler recovers the clean image from an exact noise model', () => {
  for (const [name, make] of [
    ['ddim', () => ddim(0)],
    ['ddpm', () => ddpm()],
    ['dpmpp2m', () => dpmpp2m()],
  ] as const) {
    it(name, () => {
      const { final, target } = exactRun(make() as Sampler<unknown>, 10);
      final.forEach((v, i) => expect(v).toBeCloseTo(target[i]!, 4));
    });
  }

  it('DPM-Solver++(2M) is DDIM on its first (first-order) step and differs on the second', () => {
    const { x, eps: eps1 } = noisy(999, [0.3, -0.4], [0.2, -0.1]);
    const s = dpmpp2m();
    const d = ddim(0);
    const a1 = s.step(schedule, { x, eps: eps1, t: 999, tPrev: 899, noise: zeros(2) }, s.initialState);
    const b1 = d.step(schedule, { x, eps: eps1, t: 999, tPrev: 899, noise: zeros(2) }, null);
    a1.x.forEach((v, i) => expect(v).toBeCloseTo(b1.x[i]!, 5));
    const eps2 = noisy(899, [0.1, 0.2], [0, 0]).x.map(
      (v, i) => (a1.x[i]! - v) / Math.sqrt(1 - schedule.alphaBar(899)),
    );
    const a2 = s.step(schedule, { x: a1.x, eps: eps2, t: 899, tPrev: 799, noise: zeros(2) }, a1.state);
    const b2 = d.step(schedule, { x: a1.x, eps: eps2, t: 899, tPrev: 799, noise: zeros(2) }, null);
    expect(Math.abs(a2.x[0]! - b2.x[0]!)).toBeGreaterThan(1e-4);
  });
});

describe('the data range', () => {
  it('x̂0 is clipped to the manifest’s value range, not to ±1, by every sampler', () => {
    const x = Float32Array.from([0.9, -0.9, 0.1]);
    const eps = Float32Array.from([-1.5, 1.5, 0]);
    const range = [0, 1] as const;
    const x0 = predictX0(x, eps, schedule.alphaBar(600), range);
    expect(Math.min(...x0)).toBeGreaterThanOrEqual(0);
    expect(x0[1]).toBe(0); // far below the range: clipped to its low end, 0, not −1
    expect(x0[0]).toBe(1);
    for (const s of [ddim(0, range), ddpm(range), dpmpp2m(range)] as Sampler<unknown>[]) {
      const out = s.step(schedule, { x, eps, t: 600, tPrev: 550, noise: zeros(3) }, s.initialState);
      expect(Array.from(out.x0)).toEqual(Array.from(x0));
    }
  });
});

describe('continuous time (the official AdaDiff code’s VP-SDE)', () => {
  const vp = makeSchedule({ type: 'vp-continuous', betaMin: 0.1, betaMax: 20, timeScale: 999, tMin: 1e-3 });

  it('ᾱ(s) = exp(−0.1·s − 9.95·s²) at network time 999·s; the official Euler–Maruyama grid', () => {
    expect(vp.alphaBar(999 * 0.5)).toBeCloseTo(Math.exp(-0.05 - 9.95 * 0.25), 14);
    expect(vp.alphaBar(-1)).toBe(1);
    expect(vp.timesteps(4).map((t) => Number(t.toFixed(3)))).toEqual([999, 666.333, 333.666, 0.999]);
    expect(vp.lastTimestep).toBe(999);
  });

  it('Euler–Maruyama steps the reverse SDE, with no noise on the step to the clean image', () => {
    const x = Float32Array.from([0.5, -1]);
    const eps = Float32Array.from([0.2, 0.1]);
    const z = Float32Array.from([1, -1]);
    const s = eulerMaruyama();
    const out = s.step(vp, { x, eps, t: 999 * 0.5, tPrev: 999 * 0.25, noise: () => z }, null);
    const beta = 0.1 + 19.9 * 0.5;
    const ab = Math.exp(-0.05 - 9.95 * 0.25);
    const ds = -0.25;
    x.forEach((xi, i) => {
      const want =
        xi + (-0.5 * beta * xi + (beta * eps[i]!) / Math.sqrt(1 - ab)) * ds + Math.sqrt(beta * 0.25) * z[i]!;
      expect(out.x[i]).toBeCloseTo(want, 5);
    });
    let drew = false;
    const last = s.step(vp, { x, eps, t: 0.999, tPrev: -1, noise: () => ((drew = true), z) }, null);
    expect(drew).toBe(false);
    const [b0, ab0] = [vp.beta!(0.999), vp.alphaBar(0.999)];
    expect(last.x[0]).toBeCloseTo(0.5 + (-0.5 * b0 * 0.5 + (b0 * 0.2) / Math.sqrt(1 - ab0)) * -0.001, 5);
    // a discrete schedule has no β at any time: refused, not guessed
    expect(() => s.step(schedule, { x, eps, t: 999, tPrev: 949, noise: () => z }, null)).toThrow(
      /continuous/,
    );
  });
});

describe('guidance', () => {
  it('ε = ε_u + g·(ε_c − ε_u)', () => {
    expect(Array.from(guide(Float32Array.from([1, 2]), Float32Array.from([0, 1]), 3))).toEqual([3, 4]);
    expect(Array.from(guide(Float32Array.from([1, 2]), Float32Array.from([0, 1]), 1))).toEqual([1, 2]);
  });
});
