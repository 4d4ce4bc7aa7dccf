/**
 * The command line's one vocabulary: every flag, how a number is read (whole string, finite), and
 * the flag groups the commands share (the guidance schedule, the static baselines).
 */
import { parseArgs } from 'node:util';
import {
  PARAM_SPECS,
  makeSchedule,
  switchDepths,
  withoutGuidanceSchedule,
  type GenerateParams,
  type Manifest,
  type ParamSpec,
} from '../runtime';
import type { EvalConfig } from './eval';

/** Where a command writes: the process's streams, or a test's strings. */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** A mistake in the command line: exit code 2 with the usage text. */
export class UsageError extends Error {}

type Specs = typeof PARAM_SPECS;
/** The flags the generate parameters' descriptors name. */
type SpecFlag = {
  [K in keyof Specs]: Specs[K] extends { flag: infer F extends string } ? F : never;
}[keyof Specs];

const SPECS_WITH_FLAGS = (Object.values(PARAM_SPECS) as ParamSpec[]).filter((s) => s.flag);

const SPEC_OPTIONS = Object.fromEntries(SPECS_WITH_FLAGS.map((s) => [s.flag, { type: 'string' }])) as Record<
  SpecFlag,
  { type: 'string' }
>;

export const OPTIONS = {
  ...SPEC_OPTIONS,
  model: { type: 'string' },
  class: { type: 'string' },
  count: { type: 'string' },
  'no-guidance-schedule': { type: 'boolean' },
  'full-depth': { type: 'boolean' },
  depths: { type: 'string' },
  'switch-t': { type: 'string' },
  'shallow-depth': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  reps: { type: 'string' },
  browser: { type: 'boolean' },
  backend: { type: 'string' },
  'first-image': { type: 'boolean' },
  scale: { type: 'boolean' },
  matmul: { type: 'string' },
  throttle: { type: 'string' },
  site: { type: 'string' },
  'per-class': { type: 'string' },
  classifier: { type: 'string' },
  'write-manifest': { type: 'boolean' },
  'max-agreement-drop': { type: 'string' },
  'max-fid-ratio': { type: 'string' },
  thresholds: { type: 'string' },
  markdown: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The usage lines of the generate parameters' flags, from their descriptors. */
export function paramUsage(): string {
  return SPECS_WITH_FLAGS.map((spec) => {
    const values = spec.kind === 'enum' ? `${spec.values!.join(' | ')}: ` : '';
    const range = spec.range?.(null);
    const within = spec.kind !== 'enum' && range && range[1] !== Infinity ? ` ${range[0]}…${range[1]}` : '';
    const head = `  --${spec.flag} ${spec.metavar ?? ''}`.padEnd(23);
    return `${head}${values}${spec.help}${within ? `;${within}` : ''} (default: ${spec.defaultText})`;
  }).join('\n');
}

/**
 * The generate parameters given as flags, read as their descriptors say: an enum must name one of
 * its values, a number must be a whole finite number. Ranges are the runtime's to check (its
 * ParameterError names the parameter). `skip`: flags a caller reads in its own way.
 */
export function specParams(values: Values, skip: readonly string[] = []): Partial<GenerateParams> {
  const out: Record<string, unknown> = {};
  for (const spec of SPECS_WITH_FLAGS) {
    const flag = spec.flag as SpecFlag;
    const raw = values[flag];
    if (raw === undefined || skip.includes(flag)) continue;
    if (spec.kind === 'enum') {
      if (!spec.values!.includes(raw))
        throw new UsageError(`--${flag} must be one of ${spec.values!.join(', ')}, got "${raw}"`);
      out[spec.key] = raw;
    } else out[spec.key] = num(flag, raw);
  }
  return out as Partial<GenerateParams>;
}

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

export const BASELINE_FLAGS = ['full-depth', 'depth', 'depths', 'switch-t', 'shallow-depth'];

export function thresholdList(values: Values): number[] {
  const list = (values.thresholds ?? '')
    .split(',')
    .filter((v) => v.trim() !== '')
    .map((v) => num('thresholds', v)!);
  if (list.some((t) => t < 0 || t > 1)) throw new UsageError('--thresholds must lie in [0, 1]');
  return list;
}

/** The guidance-pass flags, shared by generate and eval; --no-guidance-schedule wins over the other two. */
export function scheduleParams(m: Manifest, values: Values): Partial<GenerateParams> {
  if (values['no-guidance-schedule'] && (values['uncond-every'] || values['guidance-max-t']))
    throw new UsageError('--no-guidance-schedule cannot be combined with --uncond-every or --guidance-max-t');
  const given = specParams(values);
  return {
    batching: given.batching,
    ...(values['no-guidance-schedule']
      ? withoutGuidanceSchedule(m)
      : { unconditionalEvery: given.unconditionalEvery, guidanceMaxT: given.guidanceMaxT }),
  };
}

/**
 * A static baseline from --depth, --depths or --switch-t/--shallow-depth (at most one), or null.
 * Each runs through the same loop as the exits; its skipped blocks count as fixed depth.
 */
export function baselineParams(m: Manifest, values: Values, steps: number): EvalConfig | null {
  const given = ['full-depth', 'depth', 'depths', 'switch-t'].filter(
    (f) => values[f as keyof Values] !== undefined,
  );
  if (given.length > 1) throw new UsageError(`--${given.join(', --')}: choose one baseline`);
  if ((values['switch-t'] === undefined) !== (values['shallow-depth'] === undefined))
    throw new UsageError('--switch-t and --shallow-depth go together');
  const n = m.architecture.numBlocks;
  if (values['full-depth']) {
    // the reference every saving is counted against: said outright, never implied by a θ
    return { label: 'full depth', threshold: null, params: { mode: 'full' } };
  }
  if (values.depth !== undefined) {
    const depth = num('depth', values.depth)!;
    return {
      label: `static depth ${depth}`,
      threshold: null,
      params: { mode: 'static', staticDepth: depth },
    };
  }
  if (values.depths !== undefined) {
    const depths = values.depths.split(',').map((v) => num('depths', v)!);
    if (depths.length !== steps)
      throw new UsageError(
        `--depths has ${depths.length} depths, but there are ${steps} steps: one per step`,
      );
    return {
      label: `depths ${depths.join(',')}`,
      threshold: null,
      params: { mode: 'depths', depths },
    };
  }
  if (values['switch-t'] !== undefined) {
    const switchT = num('switch-t', values['switch-t'])!;
    const shallow = num('shallow-depth', values['shallow-depth'])!;
    if (!Number.isInteger(shallow) || shallow < 1 || shallow > n)
      throw new UsageError(`--shallow-depth must be an integer 1…${n}, got ${values['shallow-depth']}`);
    const depths = switchDepths(makeSchedule(m.schedule).timesteps(steps), switchT, shallow, n);
    return {
      label: `switch: depth ${shallow} at t > ${switchT}, full below`,
      threshold: null,
      params: { mode: 'depths', depths },
    };
  }
  return null;
}
