/**
 * Seeded noise, bit for bit the same as tools/export/core/noise.py: mulberry32 → uniform doubles in
 * (0, 1) → Box–Muller normals → float32. Same seed, same initial noise in PyTorch, Node and the
 * browser, so fixtures and shared URLs reproduce images exactly.
 */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }
}

/** Fills `count` standard normals from the generator (pairs; an odd tail drops its sine). */
export function normals(rng: Mulberry32, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(rng.uniform()));
    const angle = 2 * Math.PI * rng.uniform();
    out[i] = r * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = r * Math.sin(angle);
  }
  return out;
}
