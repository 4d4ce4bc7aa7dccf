/**
 * The command line's one vocabulary: every flag, how a number is read (whole string, finite), and
 * the flag groups the commands share (the guidance schedule, the static baselines).
 */
import { parseArgs } from 'node:util';
import {
  PASS_BATCHINGS,
  SAMPLERS,
  samplingTimesteps,
  switchDepths,
  withoutGuidanceSchedule,
  type GenerateParams,
  type Manifest,
} from '../runtime';
import type { EvalConfig } from './eval';

/** Where a command writes: the process's streams, or a test's strings. */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** A mistake in the command line: exit code 2 with the usage text. */
export class UsageError extends Error {}

export const OPTIONS = {
  model: { type: 'string' },
  class: { type: 'string' },
  count: { type: 'string' },
  seed: { type: 'string' },
  steps: { type: 'string' },
  sampler: { type: 'string' },
  eta: { type: 'string' },
  guidance: { type: 'string' },
  threshold: { type: 'string' },
  'min-depth': { type: 'string' },
  patience: { type: 'string' },
  batching: { type: 'string' },
  'uncond-every': { type: 'string' },
  'guidance-max-t': { type: 'string' },
  'no-guidance-schedule': { type: 'boolean' },
  depth: { type: 'string' },
  schedule: { type: 'string' },
  'switch-t': { type: 'string' },
  'shallow-depth': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  reps: { type: 'string' },
  browser: { type: 'boolean' },
  backend: { type: 'string' },
  'per-class': { type: 'string' },
  classifier: { type: 'string' },
  'write-manifest': { type: 'boolean' },
  'max-agreement-drop': { type: 'string' },
  'max-fid-ratio': { type: 'string' },
  thresholds: { type: 'string' },
  markdown: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

/** A number flag: the whole string must be a finite number (no "3abc", no "", no NaN). */
export function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(v)) throw new UsageError(`--${flag} must be a number, got "${value}"`);
  return v;
}

export function classIndex(m: Manifest, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const i = m.classes.findIndex((c) => c.toLowerCase() === value.toLowerCase());
  if (i < 0)
    throw new UsageError(
      `--class "${value}" is not one of: ${m.classes.join(', ')} (or 0…${m.classes.length - 1})`,
    );
  return i;
}

/** Each command accepts only its own flags. */
export function onlyFlags(values: Values, allowed: string[]): void {
  const extra = Object.keys(values).filter((k) => !allowed.includes(k));
  if (extra.length) throw new UsageError(`--${extra[0]} is not an option of this command`);
}

export const BASELINE_FLAGS = ['depth', 'schedule', 'switch-t', 'shallow-depth'];

export function thresholdList(values: Values): number[] {
  const list = (values.thresholds ?? '')
    .split(',')
    .filter((v) => v.trim() !== '')
    .map((v) => num('thresholds', v)!);
  if (list.some((t) => t <= 0 || t > 1)) throw new UsageError('--thresholds must lie in (0, 1]');
  return list;
}

/** The guidance-pass flags, shared by generate and eval; --no-guidance-schedule wins over the other two. */
export function scheduleParams(m: Manifest, values: Values): Partial<GenerateParams> {
  for (const [flag, allowed] of [
    ['sampler', SAMPLERS],
    ['batching', PASS_BATCHINGS],
  ] as const) {
    const v = values[flag];
    if (v !== undefined && !(allowed as readonly string[]).includes(v)) {
      throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got "${v}"`);
    }
  }
  if (values['no-guidance-schedule'] && (values['uncond-every'] || values['guidance-max-t']))
    throw new UsageError('--no-guidance-schedule cannot be combined with --uncond-every or --guidance-max-t');
  return {
    batching: values.batching as GenerateParams['batching'] | undefined,
    ...(values['no-guidance-schedule']
      ? withoutGuidanceSchedule(m)
      : {
          unconditionalEvery: num('uncond-every', values['uncond-every']),
          guidanceMaxT: num('guidance-max-t', values['guidance-max-t']),
        }),
  };
}

/**
 * A static baseline from --depth, --schedule or --switch-t/--shallow-depth (at most one), or null.
 * Each runs through the same loop as the exits; its skipped blocks count as fixed depth.
 */
export function baselineParams(m: Manifest, values: Values, steps: number): EvalConfig | null {
  const given = ['depth', 'schedule', 'switch-t'].filter((f) => values[f as keyof Values] !== undefined);
  if (given.length > 1) throw new UsageError(`--${given.join(', --')}: choose one baseline`);
  if ((values['switch-t'] === undefined) !== (values['shallow-depth'] === undefined))
    throw new UsageError('--switch-t and --shallow-depth go together');
  const n = m.architecture.numBlocks;
  if (values.depth !== undefined) {
    const depth = num('depth', values.depth)!;
    return {
      label: `static depth ${depth}`,
      threshold: null,
      params: { mode: 'static', staticDepth: depth },
    };
  }
  if (values.schedule !== undefined) {
    const depths = values.schedule.split(',').map((v) => num('schedule', v)!);
    if (depths.length !== steps)
      throw new UsageError(
        `--schedule has ${depths.length} depths, but there are ${steps} steps: one per step`,
      );
    return {
      label: `schedule ${depths.join(',')}`,
      threshold: null,
      params: { mode: 'schedule', depthSchedule: depths },
    };
  }
  if (values['switch-t'] !== undefined) {
    const switchT = num('switch-t', values['switch-t'])!;
    const shallow = num('shallow-depth', values['shallow-depth'])!;
    if (!Number.isInteger(shallow) || shallow < 1 || shallow > n)
      throw new UsageError(`--shallow-depth must be an integer 1…${n}, got ${values['shallow-depth']}`);
    const depths = switchDepths(samplingTimesteps(m.schedule.numTimesteps, steps), switchT, shallow, n);
    return {
      label: `switch: depth ${shallow} at t > ${switchT}, full below`,
      threshold: null,
      params: { mode: 'schedule', depthSchedule: depths },
    };
  }
  return null;
}
