/**
 * One image: seeded noise → for each sampling step, the adaptive forward pass(es) → guidance →
 * sampler update, with a progress event per step and the compute accounting (accounting.ts).
 */
import {
  addCounts,
  copyTotals,
  emptyTotals,
  noneSkipped,
  passFlops,
  type SkippedBySource,
  type Totals,
} from './accounting';
import type { Denoiser } from './denoiser';
import { CancelledError, ParameterError } from './errors';
import { nullClassOf, type Manifest } from './manifest';
import { Mulberry32, normals } from './noise';
import type { GenerateParams, PassBatching } from './params';
import { guide, makeSampler } from './samplers';
import { makeSchedule } from './noise-schedule';
import { blocksBeforeFirstExit, runPass, type DepthPolicy, type PassResult } from './exit-rule';

export interface PassSummary {
  label: 'cond' | 'uncond' | 'batch';
  /** How this pass's depth was set: by its exit decisions, or ahead (a fixed depth or full depth). */
  depth: 'adaptive' | 'fixed';
  exitBlock: number;
  /**
   * Mean uncertainty of each block that ran. For a batched pass, the one its exit was decided on:
   * the larger of the two under 'all' (both must be ≤ θ), the smaller under 'any'.
   */
  uncertainties: number[];
}

export interface StepEvent {
  step: number;
  steps: number;
  t: number;
  passes: PassSummary[];
  /** The unconditional pass, when the guidance schedule did not run it at this step, and why. */
  scheduleSkipped: 'unguided' | 'reused' | null;
  blocksRun: number;
  blocksFull: number;
  /** This step's skipped blocks, by source. */
  blocksSkipped: SkippedBySource;
  /** FLOPs this step executed (embed, blocks run, head; every pass). */
  flops: number;
  stepMs: number;
  /** Wall time of each block that ran in this step's last pass (ms; see PassResult.blockMs). */
  blockMs: number[];
  totals: Totals;
  /** The predicted clean image x̂0 (when params.preview). */
  preview?: Float32Array;
}

export interface GenerateResult {
  /** [C·H·W] in the manifest's value range. */
  image: Float32Array;
  steps: Omit<StepEvent, 'preview' | 'totals'>[];
  totals: Totals;
}

export interface GenerateOptions {
  onStep?: (e: StepEvent) => void;
  signal?: AbortSignal;
  now?: () => number;
}

export function depthPolicy(p: GenerateParams, m: Manifest): DepthPolicy {
  switch (p.mode) {
    case 'full':
      return { kind: 'full' };
    case 'static':
      return { kind: 'static', depth: p.staticDepth };
    case 'depths':
      return { kind: 'depths', depths: p.depths };
    case 'adaptive':
      return {
        kind: 'adaptive',
        threshold: p.threshold,
        rule: m.exit.rule,
        numInBlocks: m.architecture.numInBlocks,
        minDepth: p.minDepth,
        batch: p.batching === 'any' ? 'any' : 'all',
      };
  }
}

/**
 * The guided noise is g·ε_c + (1 − g)·ε_u: an error in the unconditional estimate reaches the
 * image scaled by |1 − g|, the conditional's by g. 'weighted' batching gives the unconditional
 * pass the same error budget in the guided noise, θ·g/|1 − g| (5θ at g = 1.25), so it can stop
 * where the conditional pass, which carries the class, keeps going. 'shallow' stops it at the
 * minimum depth always: guiding with a weaker unconditional estimate costs no quality here (it
 * is close to autoguidance, Karras et al. 2024, which guides with a weaker model on purpose;
 * docs/research-log.md), in the static modes as well; 'weighted' changes only adaptive passes. Full depth, the
 * reference, is never changed.
 */
export function unconditionalPolicy(
  policy: DepthPolicy,
  batching: PassBatching,
  guidance: number,
  minDepth: number,
): DepthPolicy {
  if (policy.kind === 'full' || guidance === 1) return policy;
  // in the static modes too: a static schedule can guide from a shallow pass as the exits do, so
  // it is the fair baseline at the same settings
  if (batching === 'shallow') return { kind: 'static', depth: minDepth };
  if (policy.kind !== 'adaptive') return policy;
  if (batching === 'weighted')
    return { ...policy, threshold: (policy.threshold * guidance) / Math.abs(1 - guidance) };
  return policy;
}

/** A policy that could exit before the denoiser's minimum depth is a parameter error, up front. */
function checkDepthFloor(policy: DepthPolicy, denoiser: Denoiser, steps: number): void {
  const floor = denoiser.minimumDepth ?? 1;
  let lowest = denoiser.numBlocks;
  for (let k = 0; k < steps; k++)
    lowest = Math.min(lowest, blocksBeforeFirstExit(policy, denoiser.numBlocks, k));
  if (lowest >= floor) return;
  const name = policy.kind === 'static' ? 'staticDepth' : policy.kind === 'depths' ? 'depths' : 'minDepth';
  throw new ParameterError(
    name,
    `allows an exit after ${lowest} blocks, but this model was loaded without its first ${floor} blocks ` +
      `(they run fused in one graph): use at least ${floor}, or load the model with every block`,
  );
}

export async function generate(
  denoiser: Denoiser,
  manifest: Manifest,
  params: GenerateParams,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const { channels, height, width } = manifest.image;
  const size = channels * height * width;
  const rng = new Mulberry32(params.seed);
  let x = normals(rng, size);
  const schedule = makeSchedule(manifest.schedule);
  const timesteps = schedule.timesteps(params.steps);
  const [lo, hi] = manifest.image.valueRange;
  const sampler = makeSampler(params.sampler, params.eta, manifest.image.valueRange);
  let samplerState = sampler.initialState;
  const policy = depthPolicy(params, manifest);
  const uncondPolicy = unconditionalPolicy(policy, params.batching, params.guidance, params.minDepth);
  const n = denoiser.numBlocks;
  checkDepthFloor(policy, denoiser, timesteps.length);
  const useGuidance = params.guidance !== 1;
  const totals = emptyTotals();
  // full depth is the reference every saving is counted against: both passes at every step
  const uncondEvery = params.mode === 'full' ? 1 : params.unconditionalEvery;
  const guidanceMaxT = params.mode === 'full' ? Infinity : params.guidanceMaxT;
  const separatePasses = params.batching !== 'all' && params.batching !== 'any';
  let guidedSteps = 0; // the unconditional pass runs on every uncondEvery-th of them
  let heldUncond: Float32Array | null = null; // the last unconditional estimate, for the steps that reuse it
  const records: GenerateResult['steps'] = [];
  const fullFlops = passFlops(manifest, n);
  // full depth would have run the unconditional pass too: one not run counts as all blocks skipped
  const skipUncond = () =>
    addCounts(totals, { blocksRun: 0, blocksFull: n, flops: 0, flopsFull: fullFlops, source: 'schedule' });

  try {
    for (let k = 0; k < timesteps.length; k++) {
      options.signal?.throwIfAborted();
      const stepStart = now();
      const t = timesteps[k]!;
      const passes: PassSummary[] = [];
      const stepSkipped = noneSkipped();
      let lastBlockMs: number[] = [];
      const account = (
        r: PassResult,
        label: PassSummary['label'],
        passPolicy: DepthPolicy,
        batch: number,
      ) => {
        lastBlockMs = r.blockMs;
        const deciding = (u: number[]) =>
          label !== 'batch' ? u[0]! : params.batching === 'any' ? Math.min(...u) : Math.max(...u);
        const depth = passPolicy.kind === 'adaptive' ? 'adaptive' : 'fixed';
        passes.push({ label, depth, exitBlock: r.exitBlock, uncertainties: r.uncertainties.map(deciding) });
        const source = depth === 'adaptive' ? 'exits' : 'fixedDepth';
        stepSkipped[source] += (n - r.blocksRun) * batch;
        addCounts(totals, {
          blocksRun: r.blocksRun * batch,
          blocksFull: n * batch,
          flops: passFlops(manifest, r.blocksRun) * batch,
          flopsFull: fullFlops * batch,
          source,
        });
      };
      const guided = useGuidance && t <= guidanceMaxT;
      const reuseUncond = guided && heldUncond !== null && guidedSteps % uncondEvery !== 0;
      const scheduleSkipped: StepEvent['scheduleSkipped'] = !useGuidance
        ? null
        : !guided
          ? 'unguided'
          : reuseUncond
            ? 'reused'
            : null;
      if (scheduleSkipped) {
        stepSkipped.schedule += n;
        skipUncond();
      }
      if (guided) guidedSteps++;
      let eps: Float32Array;
      if (!guided) {
        const r = await runPass(denoiser, x, t, [params.classIndex], policy, k, options.signal);
        account(r, 'cond', policy, 1);
        eps = r.eps;
      } else if (reuseUncond || separatePasses) {
        const c = await runPass(denoiser, x, t, [params.classIndex], policy, k, options.signal);
        account(c, 'cond', policy, 1);
        if (!reuseUncond) {
          const u = await runPass(denoiser, x, t, [nullClassOf(manifest)], uncondPolicy, k, options.signal);
          account(u, 'uncond', uncondPolicy, 1);
          heldUncond = u.eps;
        }
        eps = guide(c.eps, heldUncond!, params.guidance); // set above, or held from an earlier step
      } else {
        const both = new Float32Array(2 * size);
        both.set(x);
        both.set(x, size);
        const r = await runPass(
          denoiser,
          both,
          t,
          [params.classIndex, nullClassOf(manifest)],
          policy,
          k,
          options.signal,
        );
        account(r, 'batch', policy, 2);
        heldUncond = r.eps.slice(size);
        eps = guide(r.eps.subarray(0, size), r.eps.subarray(size), params.guidance);
      }
      const tPrev = k + 1 < timesteps.length ? timesteps[k + 1]! : -1;
      const out = sampler.step(schedule, { x, eps, t, tPrev, noise: () => normals(rng, size) }, samplerState);
      x = out.x;
      samplerState = out.state;
      // a batched pass runs each block for both samples: count it twice, as blocksFull does
      const samples = (p: PassSummary) => (p.label === 'batch' ? 2 : 1);
      const stepBlocks = passes.reduce((s, p) => s + (p.exitBlock + 1) * samples(p), 0);
      const stepFlops = passes.reduce((s, p) => s + passFlops(manifest, p.exitBlock + 1) * samples(p), 0);
      totals.wallMs = now() - started;
      const record = {
        step: k,
        steps: timesteps.length,
        t,
        passes,
        scheduleSkipped,
        blocksRun: stepBlocks,
        blocksFull: n * (useGuidance ? 2 : 1),
        blocksSkipped: stepSkipped,
        flops: stepFlops,
        stepMs: now() - stepStart,
        blockMs: lastBlockMs,
      };
      records.push(record);
      options.onStep?.({
        ...record,
        totals: copyTotals(totals),
        ...(params.preview ? { preview: out.x0 } : {}),
      });
    }
  } catch (e) {
    if (options.signal?.aborted) throw new CancelledError();
    throw e;
  }
  for (let i = 0; i < x.length; i++) x[i] = Math.min(hi, Math.max(lo, x[i]!));
  totals.wallMs = now() - started;
  return { image: x, steps: records, totals };
}
