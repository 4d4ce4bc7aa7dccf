/**
 * The exit rule: AdaDiff's step-wise adaptive depth runs blocks in order and stops at the first one
 * confident enough, by the rule the manifest names. Depth policies also express the baselines users
 * compare against (full depth, a fixed depth, a depth per step) so all run through the same loop.
 */
import type { Denoiser } from './denoiser';
import { yieldIfBusy } from './yield';

export type BatchPolicy = 'all' | 'any';

/**
 * 'first': the first block at or after the minimum depth whose mean uncertainty is at most θ (this
 * project's models, as the paper describes the rule). 'official': the official AdaDiff code's
 * UViT.forward, for its checkpoints: a block is confident when its uncertainty is below θ (its
 * certainty above 1 − θ); among the in-blocks the second confident one exits, any two, the count
 * never resetting, so in-block 0 never exits; the mid-block and out-blocks exit at the first
 * confident one. The official forward decides on the mean over the whole batch tensor; its eval
 * samples one image at a time, and this runtime decides per image (or per batch policy).
 */
export const EXIT_RULES = ['first', 'official'] as const;
export type ExitRule = (typeof EXIT_RULES)[number];

export type DepthPolicy =
  | {
      kind: 'adaptive';
      /** θ, read by `rule`. 0 never exits early (an uncertainty is a sigmoid's, > 0). */
      threshold: number;
      rule: ExitRule;
      /** The in-blocks, which the official rule treats apart. */
      numInBlocks: number;
      /** Never exit before this many blocks have run. */
      minDepth: number;
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

/**
 * Whether to exit after block i. `confidentInBlocks` counts the confident in-blocks so far (the
 * official rule's patience); the caller passes back what this returns.
 */
export function decideExit(
  policy: DepthPolicy,
  i: number,
  numBlocks: number,
  stepIndex: number,
  uncertainty: Float32Array,
  confidentInBlocks: number,
): { exit: boolean; confidentInBlocks: number } {
  const count = confidentInBlocks;
  if (i >= numBlocks - 1) return { exit: true, confidentInBlocks: count };
  switch (policy.kind) {
    case 'full':
      return { exit: false, confidentInBlocks: count };
    case 'static':
      return { exit: i + 1 >= policy.depth, confidentInBlocks: count };
    case 'depths':
      return { exit: i + 1 >= (policy.depths[stepIndex] ?? numBlocks), confidentInBlocks: count };
    case 'adaptive': {
      // compare in float32, as the uncertainty is and as PyTorch compares (same decisions at θ = u)
      const theta = Math.fround(policy.threshold);
      const official = policy.rule === 'official';
      const confident = Array.from(uncertainty, (u) => (official ? u < theta : u <= theta));
      const ok = policy.batch === 'all' ? confident.every(Boolean) : confident.some(Boolean);
      if (!ok || i + 1 < policy.minDepth) return { exit: false, confidentInBlocks: count };
      if (!official || i >= policy.numInBlocks) return { exit: true, confidentInBlocks: count };
      return { exit: count + 1 >= 2, confidentInBlocks: count + 1 };
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
    let confidentInBlocks = 0;
    for (let i = 0; i < denoiser.numBlocks; i++) {
      await yieldIfBusy();
      signal?.throwIfAborted();
      const started = performance.now();
      const u = await pass.runBlock(i);
      blockMs.push(performance.now() - started + beginMs);
      beginMs = 0;
      uncertainties.push(Array.from(u));
      const d = decideExit(policy, i, denoiser.numBlocks, stepIndex, u, confidentInBlocks);
      confidentInBlocks = d.confidentInBlocks;
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
