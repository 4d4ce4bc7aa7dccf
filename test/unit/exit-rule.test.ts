/** The adaptive scheduler against a scripted denoiser whose uncertainties we choose. */
import { describe, expect, it } from 'vitest';
import {
  blocksBeforeFirstExit,
  decideExit,
  runPass,
  type Denoiser,
  type DepthPolicy,
  type ForwardPass,
} from '../../src/runtime';

/** uncertainties[sample][block]; records which blocks ran and whether the pass was disposed. */
function scripted(uncertainties: number[][]) {
  const log = { blocks: [] as number[], exits: 0, disposed: 0, begun: 0, mustRun: [] as number[] };
  const numBlocks = uncertainties[0]!.length;
  const denoiser: Denoiser = {
    numBlocks,
    async begin(_x, _t, _classes, mustRun = 1): Promise<ForwardPass> {
      log.begun++;
      log.mustRun.push(mustRun);
      let last = -1;
      return {
        async runBlock(i) {
          if (i !== last + 1) throw new Error('out of order');
          last = i;
          log.blocks.push(i);
          return Float32Array.from(uncertainties.map((row) => row[i]!));
        },
        async exit() {
          log.exits++;
          return Float32Array.from([last]); // the head "returns" which block it exited at
        },
        dispose() {
          log.disposed++;
        },
      };
    },
  };
  return { denoiser, log };
}

const adaptive = (
  threshold: number,
  extra: Partial<Extract<DepthPolicy, { kind: 'adaptive' }>> = {},
): DepthPolicy => ({
  kind: 'adaptive',
  threshold,
  rule: 'first',
  numInBlocks: 3,
  minDepth: 1,
  batch: 'all',
  ...extra,
});

const run = (u: number[][], policy: DepthPolicy, step = 0) => {
  const s = scripted(u);
  return runPass(
    s.denoiser,
    new Float32Array(1),
    500,
    u.map(() => 0),
    policy,
    step,
  ).then((r) => ({ ...r, log: s.log }));
};

describe('adaptive exit', () => {
  const u = [[0.5, 0.4, 0.09, 0.05, 0.2, 0.01, 0.3]];

  it('exits at the first block whose uncertainty ≤ θ and runs no block after it', async () => {
    const r = await run(u, adaptive(0.1));
    expect(r.exitBlock).toBe(2);
    expect(r.log.blocks).toEqual([0, 1, 2]);
    expect(r.eps[0]).toBe(2);
    expect(r.log.disposed).toBe(1);
  });

  it('θ equal to the uncertainty exits (≤, not <)', async () => {
    expect((await run(u, adaptive(0.4))).exitBlock).toBe(1);
  });

  it('θ = 0 never exits early; the last block always exits', async () => {
    const r = await run(u, adaptive(0));
    expect(r.exitBlock).toBe(6);
    expect(r.uncertainties).toHaveLength(7);
  });

  it('minimum depth delays the exit', async () => {
    expect((await run(u, adaptive(0.1, { minDepth: 5 }))).exitBlock).toBe(4 + 1);
    expect((await run(u, adaptive(0.5, { minDepth: 2 }))).exitBlock).toBe(1);
  });

  it('the official rule: the second confident in-block, any two; the first confident mid- or out-block; below θ', async () => {
    const official = (theta: number) => adaptive(theta, { rule: 'official' });
    // 7 blocks: in-blocks 0–2, mid-block 3, out-blocks 4–6; blocks 2 and 3 are confident at θ 0.1
    expect((await run(u, official(0.1))).exitBlock).toBe(3); // in-block 2 is the first: passed over
    // two in-blocks apart count too: 0 and 2 confident, 1 not (the count never resets)
    expect((await run([[0.05, 0.5, 0.05, 0.5, 0.5, 0.5, 0.5]], official(0.1))).exitBlock).toBe(2);
    // a single confident in-block is passed over; the first confident out-block exits
    expect((await run([[0.5, 0.05, 0.5, 0.5, 0.5, 0.05, 0.5]], official(0.1))).exitBlock).toBe(5);
    // strictly below θ: an uncertainty equal to θ is not confident (its certainty is not above 1 − θ)
    expect((await run([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]], official(0.1))).exitBlock).toBe(6);
    expect((await run([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]], adaptive(0.1))).exitBlock).toBe(0);
  });

  it('batch policy: "all" waits for every sample, "any" for one', async () => {
    const batch = [
      [0.5, 0.05, 0.05, 0.05],
      [0.5, 0.5, 0.05, 0.05],
    ];
    expect((await run(batch, adaptive(0.1, { batch: 'all' }))).exitBlock).toBe(2);
    expect((await run(batch, adaptive(0.1, { batch: 'any' }))).exitBlock).toBe(1);
  });

  it('disposes the pass when cancelled mid-way', async () => {
    const s = scripted(u);
    const ac = new AbortController();
    ac.abort();
    await expect(
      runPass(s.denoiser, new Float32Array(1), 1, [0], adaptive(0.1), 0, ac.signal),
    ).rejects.toThrow();
    expect(s.log.disposed).toBe(s.log.begun);
  });
});

describe('baselines through the same loop', () => {
  const u = [[0.01, 0.01, 0.01, 0.01, 0.01]];
  it('full depth ignores confident blocks', async () => {
    expect((await run(u, { kind: 'full' })).exitBlock).toBe(4);
  });
  it('static depth runs exactly N blocks', async () => {
    expect((await run(u, { kind: 'static', depth: 3 })).exitBlock).toBe(2);
  });
  it('a per-timestep schedule picks the depth of the current step', async () => {
    expect((await run(u, { kind: 'depths', depths: [1, 4] }, 0)).exitBlock).toBe(0);
    expect((await run(u, { kind: 'depths', depths: [1, 4] }, 1)).exitBlock).toBe(3);
  });
  it('decideExit always exits at the last block', () => {
    expect(decideExit({ kind: 'full' }, 4, 5, 0, Float32Array.from([1]), 0).exit).toBe(true);
  });
});

describe('what a pass must run before its first possible exit (where a fused prefix may run)', () => {
  const u = [[0.01, 0.01, 0.01, 0.01, 0.01]];
  it('is the policy minimum, clamped to the model', () => {
    expect(blocksBeforeFirstExit(adaptive(0.1, { minDepth: 3 }), 5, 0)).toBe(3);
    expect(blocksBeforeFirstExit({ kind: 'full' }, 5, 0)).toBe(5);
    expect(blocksBeforeFirstExit({ kind: 'static', depth: 9 }, 5, 0)).toBe(5);
    expect(blocksBeforeFirstExit({ kind: 'depths', depths: [2, 4] }, 5, 1)).toBe(4);
  });
  it('is what runPass tells the denoiser, and no exit comes sooner', async () => {
    for (const [policy, mustRun] of [
      [adaptive(0.1, { minDepth: 3 }), 3],
      [adaptive(0.1), 1],
      [{ kind: 'full' }, 5],
      [{ kind: 'static', depth: 2 }, 2],
    ] as [DepthPolicy, number][]) {
      const r = await run(u, policy);
      expect(r.log.mustRun).toEqual([mustRun]);
      expect(r.exitBlock + 1).toBeGreaterThanOrEqual(mustRun);
    }
  });
});
