/**
 * AdaDiff's step-wise adaptive depth: run blocks in order and stop at the first one whose mean
 * uncertainty is ≤ θ. Depth policies also express the baselines users compare against (full
 * depth, a fixed depth, a per-timestep depth schedule) so all run through the same loop.
 */
import type { Denoiser } from './denoiser';
import { yieldIfBusy } from './yield';

export type BatchPolicy = 'all' | 'any';

export type DepthPolicy =
  | {
      kind: 'adaptive';
      /** θ: exit when mean uncertainty ≤ θ. 0 never exits early (uncertainty is a sigmoid, > 0). */
      threshold: number;
      /** Never exit before this many blocks have run. */
      minDepth: number;
      /** Confident blocks in a row required in the first half (the official code uses 2). */
      patience: number;
      /** For a batch that shares one pass: exit when all samples (or any) are confident. */
      batch: BatchPolicy;
    }
  | { kind: 'full' }
  | { kind: 'static'; depth: number }
  /** depths[k] = blocks to run at sampling step k (DuoDiff/ASE-style static schedules). */
  | { kind: 'depths'; depths: readonly number[] };

export interface PassResult {
  eps: Float32Array;
  /** 0-based index of the block whose tokens went through the head. */
  exitBlock: number;
  /** Mean uncertainty of every block that ran, per sample: [block][sample]. */
  uncertainties: number[][];
  blocksRun: number;
  /**
   * Wall time of each block that ran (ms), as the scheduler waited for it; blocks a fused prefix
   * ran show 0 but the first, which holds the begin (embed, or the whole prefix).
   */
  blockMs: number[];
}

/** Whether to exit after block i, given the confident streak so far. */
export function decideExit(
  policy: DepthPolicy,
  i: number,
  numBlocks: number,
  stepIndex: number,
  uncertainty: Float32Array,
  streak: number,
): { exit: boolean; streak: number } {
  if (i >= numBlocks - 1) return { exit: true, streak };
  switch (policy.kind) {
    case 'full':
      return { exit: false, streak };
    case 'static':
      return { exit: i + 1 >= policy.depth, streak };
    case 'depths':
      return { exit: i + 1 >= (policy.depths[stepIndex] ?? numBlocks), streak };
    case 'adaptive': {
      // compare in float32, as the uncertainty is and as PyTorch compares (same decisions at θ = u)
      const theta = Math.fround(policy.threshold);
      const confident = Array.from(uncertainty, (u) => u <= theta);
      const ok = policy.batch === 'all' ? confident.every(Boolean) : confident.some(Boolean);
      const nextStreak = ok ? streak + 1 : 0;
      if (!ok || i + 1 < policy.minDepth) return { exit: false, streak: nextStreak };
      const firstHalf = i < Math.floor(numBlocks / 2);
      return { exit: !firstHalf || nextStreak >= policy.patience, streak: nextStreak };
    }
  }
}

/**
 * A DuoDiff-style switch schedule: a shallow depth at the noisy steps (t > switchT), full depth
 * below. One depth per sampling step, for mode 'depths'.
 */
export function switchDepths(
  timesteps: readonly number[],
  switchT: number,
  shallowDepth: number,
  numBlocks: number,
): number[] {
  return timesteps.map((t) => (t > switchT ? shallowDepth : numBlocks));
}

/** Blocks a pass runs whatever the uncertainties say: no policy exits before this. */
export function blocksBeforeFirstExit(policy: DepthPolicy, numBlocks: number, stepIndex: number): number {
  const depth = (() => {
    switch (policy.kind) {
      case 'full':
        return numBlocks;
      case 'static':
        return policy.depth;
      case 'depths':
        return policy.depths[stepIndex] ?? numBlocks;
      case 'adaptive':
        return policy.minDepth;
    }
  })();
  return Math.min(numBlocks, Math.max(1, depth));
}

/** One noise prediction with early exit. The pass is always disposed, even when cancelled. */
export async function runPass(
  denoiser: Denoiser,
  x: Float32Array,
  t: number,
  classes: readonly number[],
  policy: DepthPolicy,
  stepIndex: number,
  signal?: AbortSignal,
): Promise<PassResult> {
  const mustRun = blocksBeforeFirstExit(policy, denoiser.numBlocks, stepIndex);
  const began = performance.now();
  const pass = await denoiser.begin(x, t, classes, mustRun);
  let beginMs = performance.now() - began;
  try {
    const uncertainties: number[][] = [];
    const blockMs: number[] = [];
    let streak = 0;
    for (let i = 0; i < denoiser.numBlocks; i++) {
      await yieldIfBusy();
      signal?.throwIfAborted();
      const started = performance.now();
      const u = await pass.runBlock(i);
      blockMs.push(performance.now() - started + beginMs);
      beginMs = 0;
      uncertainties.push(Array.from(u));
      const d = decideExit(policy, i, denoiser.numBlocks, stepIndex, u, streak);
      streak = d.streak;
      if (d.exit) {
        signal?.throwIfAborted();
        return { eps: await pass.exit(), exitBlock: i, uncertainties, blocksRun: i + 1, blockMs };
      }
    }
    throw new Error('unreachable: the last block always exits');
  } finally {
    pass.dispose();
  }
}
