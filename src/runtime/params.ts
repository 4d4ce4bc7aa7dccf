/**
 * Generate parameters: defaults from the manifest, and validation that rejects (never clamps)
 * anything out of range with a ParameterError naming the parameter.
 */
import { z } from 'zod';
import { PASS_BATCHINGS, type PassBatching } from './batching';
import { ParameterError } from './errors';
import type { Manifest } from './manifest';
import { SAMPLERS, type SamplerName } from './samplers';

export type Mode = 'adaptive' | 'full' | 'static' | 'schedule';

export { PASS_BATCHINGS, type PassBatching } from './batching';

export interface GenerateParams {
  classIndex: number;
  seed: number;
  steps: number;
  sampler: SamplerName;
  /** DDIM's η (0 = deterministic). */
  eta: number;
  /** Classifier-free guidance scale; 1 runs no unconditional pass. */
  guidance: number;
  /** θ, the uncertainty threshold; 0 = full depth. */
  threshold: number;
  minDepth: number;
  patience: number;
  batching: PassBatching;
  /**
   * Run the unconditional guidance pass on every N-th step only (from the first); the steps
   * between reuse its last estimate. 1 runs it at every step. It enters the guided noise with
   * weight |1 − g| against the conditional pass's g and changes slowly between steps, so
   * skipping it whole costs less than exiting either pass earlier (MODEL.md). Mode 'full', the
   * model run whole (the reference every saving is counted against), ignores it.
   */
  unconditionalEvery: number;
  /**
   * Guide only the steps whose timestep t is ≤ this; the noisier steps run the conditional pass
   * alone. Guidance at the noisiest steps changes little in the image (Kynkäänniemi et al. 2024,
   * "Applying guidance in a limited interval"; MODEL.md), so its unconditional pass is skipped
   * there. Default: the manifest's, else every step. unconditionalEvery counts guided steps.
   * Mode 'full' ignores it.
   */
  guidanceMaxT: number;
  mode: Mode;
  /** Blocks per step for mode 'static'. */
  staticDepth: number;
  /** Blocks at each step for mode 'schedule' (length = steps). */
  depthSchedule: number[];
  /** Send the predicted clean image with every step event. */
  preview: boolean;
}

export const MAX_STEPS = 1000;
export const MAX_SEED = 0xffffffff;

export function defaultParams(m: Manifest): GenerateParams {
  return {
    classIndex: 0,
    seed: 1,
    steps: m.defaults.steps,
    sampler: m.defaults.sampler,
    eta: 0,
    guidance: m.defaults.guidance,
    threshold: m.defaults.threshold,
    minDepth: m.defaults.minDepth ?? 1,
    patience: 1,
    batching: m.defaults.batching ?? 'separate',
    unconditionalEvery: m.defaults.unconditionalEvery ?? 1,
    guidanceMaxT: m.defaults.guidanceMaxT ?? m.schedule.numTimesteps - 1,
    mode: 'adaptive',
    staticDepth: m.architecture.numBlocks,
    depthSchedule: [],
    preview: false,
  };
}

/**
 * The guidance schedule turned off: the unconditional pass at every guided step, guidance at every
 * step. What the exits save alone shows only without it (it skips whole passes at any θ).
 */
export function withoutGuidanceSchedule(
  m: Manifest,
): Pick<GenerateParams, 'unconditionalEvery' | 'guidanceMaxT'> {
  return { unconditionalEvery: 1, guidanceMaxT: m.schedule.numTimesteps - 1 };
}

/** Whether params run a guidance schedule, i.e. skip some unconditional passes at any θ. */
export function hasGuidanceSchedule(
  m: Manifest,
  p: Pick<GenerateParams, 'unconditionalEvery' | 'guidanceMaxT'>,
): boolean {
  return p.unconditionalEvery > 1 || p.guidanceMaxT < m.schedule.numTimesteps - 1;
}

const int = (min: number, max: number) => z.number().int('must be an integer').min(min).max(max);

function schema(m: Manifest) {
  const blocks = m.architecture.numBlocks;
  const steps = Math.min(MAX_STEPS, m.schedule.numTimesteps);
  return z
    .object({
      classIndex: int(0, m.classes.length - 1),
      seed: int(0, MAX_SEED),
      steps: int(1, steps),
      sampler: z.enum(SAMPLERS as [SamplerName, ...SamplerName[]]),
      eta: z.number().min(0).max(1),
      guidance: z.number().min(0).max(30),
      threshold: z.number().min(0).max(1),
      minDepth: int(1, blocks),
      patience: int(1, blocks),
      batching: z.enum(PASS_BATCHINGS),
      unconditionalEvery: int(1, MAX_STEPS),
      guidanceMaxT: int(0, m.schedule.numTimesteps - 1),
      mode: z.enum(['adaptive', 'full', 'static', 'schedule']),
      staticDepth: int(1, blocks),
      depthSchedule: z.array(int(1, blocks)),
      preview: z.boolean(),
    })
    .strict();
}

/** Fill defaults, then validate everything; throws ParameterError("<name> …"). */
export function resolveParams(m: Manifest, given: Partial<GenerateParams>): GenerateParams {
  const merged = { ...defaultParams(m), ...stripUndefined(given) };
  // the one place the rule lives: θ 0 means full depth, unless a mode is asked for outright
  if (given.mode === undefined) merged.mode = merged.threshold === 0 ? 'full' : 'adaptive';
  const result = schema(m).safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = issue.path.length
      ? issue.path.map(String).join('.')
      : (issue as { keys?: string[] }).keys?.[0];
    const value = issue.path.length ? readPath(merged, issue.path) : undefined;
    throw new ParameterError(
      name ?? 'parameters',
      issue.code === 'unrecognized_keys'
        ? 'is not a generate parameter'
        : `${describe(value)}: ${issue.message}`,
    );
  }
  const p = result.data;
  if (p.mode === 'schedule' && p.depthSchedule.length !== p.steps) {
    throw new ParameterError('depthSchedule', `has ${p.depthSchedule.length} entries, steps is ${p.steps}`);
  }
  return p;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function readPath(o: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], o);
}

function describe(v: unknown): string {
  if (typeof v === 'number') return `is ${v}`;
  return `is ${JSON.stringify(v) ?? String(v)}`;
}
