/**
 * Generate parameters: one descriptor each, defaults from the manifest, and validation that
 * rejects (never clamps) anything out of range with a ParameterError naming the parameter. No
 * schema library: the page imports this module, and the descriptors already say everything.
 */
import { PASS_BATCHINGS, type PassBatching } from './batching';
import { ParameterError } from './errors';
import { isConditional, type Manifest } from './manifest';

// the views read a model's kind through the descriptors' module, as they read its ranges
export { isConditional } from './manifest';

/** The calibration's full-depth row: the reference its savings and quality are read against. */
export function fullDepthRow<R extends { mode?: 'full' }>(rows: readonly R[]): R | undefined {
  return rows.find((r) => r.mode === 'full');
}
import { lastTimestep, maxSteps } from './noise-schedule';
import { SAMPLERS, type SamplerName } from './samplers';

export const MODES = ['adaptive', 'full', 'static', 'depths'] as const;
export type Mode = (typeof MODES)[number];

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
  /**
   * θ, the uncertainty threshold: a pass ends at the first block whose mean uncertainty is at most
   * θ. A plain number: θ 0 lets no block exit (the guidance schedule still applies); full depth,
   * the reference, is mode 'full'.
   */
  threshold: number;
  minDepth: number;
  batching: PassBatching;
  /**
   * Run the unconditional guidance pass on every N-th step only (from the first); the steps
   * between reuse its last estimate. 1 runs it at every step. It enters the guided noise with
   * weight |1 − g| against the conditional pass's g and changes slowly between steps, so
   * skipping it whole costs less than exiting either pass earlier (docs/research-log.md). Mode 'full', the
   * model run whole (the reference every saving is counted against), ignores it.
   */
  unconditionalEvery: number;
  /**
   * Guide only the steps whose timestep t is ≤ this; the noisier steps run the conditional pass
   * alone. Guidance at the noisiest steps changes little in the image (Kynkäänniemi et al. 2024,
   * "Applying guidance in a limited interval"; docs/research-log.md), so its unconditional pass is skipped
   * there. Default: the manifest's, else every step. unconditionalEvery counts guided steps.
   * Mode 'full' ignores it.
   */
  guidanceMaxT: number;
  mode: Mode;
  /** Blocks per step for mode 'static'. */
  staticDepth: number;
  /** Blocks at each step for mode 'depths' (length = steps). */
  depths: number[];
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
    batching: m.defaults.batching ?? 'separate',
    unconditionalEvery: m.defaults.unconditionalEvery ?? 1,
    guidanceMaxT: m.defaults.guidanceMaxT ?? lastTimestep(m.schedule),
    mode: 'adaptive',
    staticDepth: m.architecture.numBlocks,
    depths: [],
    preview: false,
  };
}

/** Points worth marking on the θ slider: the model's default, and the official threshold where one exists. */
export function thresholdMarks(m: Manifest): { value: number; label: string }[] {
  const marks = [{ value: m.defaults.threshold, label: `the model's default, θ ${m.defaults.threshold}` }];
  const c = m.exit.officialCertainty;
  if (c !== undefined) {
    const value = Number((1 - c).toFixed(6));
    marks.push({ value, label: `the official threshold: certainty ${c}, θ ${value}` });
  }
  return marks;
}

/**
 * The guidance schedule turned off: the unconditional pass at every guided step, guidance at every
 * step. What the exits save alone shows only without it (it skips whole passes at any θ).
 */
export function withoutGuidanceSchedule(
  m: Manifest,
): Pick<GenerateParams, 'unconditionalEvery' | 'guidanceMaxT'> {
  return { unconditionalEvery: 1, guidanceMaxT: lastTimestep(m.schedule) };
}

/**
 * One descriptor per generate parameter: its name, the page's link key, the CLI flag, the label,
 * the range and what its default is. The zod schema, the page's URL parser and controls, and the
 * CLI's flags and usage all read from here, so a name or a range is written once.
 */
export interface ParamSpec<K extends keyof GenerateParams = keyof GenerateParams> {
  key: K;
  /** How the page's link names it; absent: a link cannot set it. */
  urlKey?: string;
  /** The CLI flag, without "--"; absent: the CLI does not take it. */
  flag?: string;
  /** The flag's value in the usage text, e.g. "N" or "θ". */
  metavar?: string;
  /** How the page labels it. */
  label: string;
  /** One line for the usage text; its default is added from `defaultText`. */
  help: string;
  /** How the default is described (the value itself comes from defaultParams). */
  defaultText: string;
  kind: 'int' | 'number' | 'enum' | 'boolean' | 'ints';
  /** The allowed values of an enum. */
  values?: readonly string[];
  /** How the page names each value of an enum. */
  valueLabels?: Readonly<Record<string, string>>;
  /**
   * The inclusive range of a number (or of each entry of 'ints'). Without a model (a link read
   * before the model loads) a bound that depends on the model is not known yet: null.
   */
  range?: (m: Manifest | null) => readonly [number, number] | null;
}

const blocks = (m: Manifest | null) => (m ? ([1, m.architecture.numBlocks] as const) : null);

export const PARAM_SPECS = {
  classIndex: {
    key: 'classIndex',
    urlKey: 'class',
    label: 'Class',
    help: 'class to draw, by name or index (a model with no classes: 0)',
    defaultText: '0',
    kind: 'int',
    range: (m) => (m ? [0, Math.max(0, m.classes.length - 1)] : [0, Infinity]),
  },
  seed: {
    key: 'seed',
    urlKey: 'seed',
    flag: 'seed',
    metavar: 'S',
    label: 'Seed',
    help: 'integer seed; the same seed gives the same image in Node and the browser',
    defaultText: '1',
    kind: 'int',
    range: () => [0, MAX_SEED],
  },
  steps: {
    key: 'steps',
    urlKey: 'steps',
    flag: 'steps',
    metavar: 'K',
    label: 'Steps',
    help: 'sampling steps',
    defaultText: "the manifest's",
    kind: 'int',
    range: (m) => [1, m ? maxSteps(m.schedule, MAX_STEPS) : MAX_STEPS],
  },
  sampler: {
    key: 'sampler',
    urlKey: 'sampler',
    flag: 'sampler',
    metavar: 'NAME',
    label: 'Sampler',
    help: 'DDIM, DPM-Solver++ (2M), ancestral DDPM, or Euler–Maruyama (continuous-time models)',
    defaultText: "the manifest's",
    kind: 'enum',
    values: SAMPLERS,
    valueLabels: {
      ddim: 'DDIM',
      dpmpp2m: 'DPM-Solver++ (2M)',
      ddpm: 'DDPM (ancestral)',
      'euler-maruyama': 'Euler–Maruyama (the official eval; continuous-time models)',
    },
  },
  eta: {
    key: 'eta',
    flag: 'eta',
    metavar: 'η',
    label: 'DDIM η',
    help: 'DDIM stochasticity',
    defaultText: '0',
    kind: 'number',
    range: () => [0, 1],
  },
  guidance: {
    key: 'guidance',
    urlKey: 'guidance',
    flag: 'guidance',
    metavar: 'G',
    label: 'Guidance',
    help: 'classifier-free guidance scale; 1 = no unconditional pass (a model with no classes: 1)',
    defaultText: "the manifest's",
    kind: 'number',
    // a model with no classes has nothing to guide towards
    range: (m) => (m && !isConditional(m) ? [1, 1] : [0, 30]),
  },
  threshold: {
    key: 'threshold',
    urlKey: 'threshold',
    flag: 'threshold',
    metavar: 'θ',
    label: 'Uncertainty threshold θ',
    help: 'uncertainty threshold: a pass ends at the first block at most this uncertain (0: no exit)',
    defaultText: "the manifest's",
    kind: 'number',
    range: () => [0, 1],
  },
  minDepth: {
    key: 'minDepth',
    flag: 'min-depth',
    metavar: 'N',
    label: 'Minimum depth',
    help: 'never exit before N blocks',
    defaultText: "the manifest's",
    kind: 'int',
    range: blocks,
  },
  batching: {
    key: 'batching',
    urlKey: 'batching',
    flag: 'batching',
    metavar: 'MODE',
    label: 'Unconditional pass',
    help: 'how the two guidance passes exit',
    defaultText: "the manifest's",
    kind: 'enum',
    values: PASS_BATCHINGS,
  },
  unconditionalEvery: {
    key: 'unconditionalEvery',
    urlKey: 'uncondEvery',
    flag: 'uncond-every',
    metavar: 'N',
    label: 'Run it every N-th guided step',
    help: 'run the unconditional guidance pass every N-th guided step, reuse it between',
    defaultText: "the manifest's; --full-depth runs it every step",
    kind: 'int',
    range: () => [1, MAX_STEPS],
  },
  guidanceMaxT: {
    key: 'guidanceMaxT',
    urlKey: 'guidanceMaxT',
    flag: 'guidance-max-t',
    metavar: 'T',
    label: 'Guide only at timesteps t ≤',
    help: 'guide only the steps with timestep t ≤ T',
    defaultText: "the manifest's; --full-depth guides every step",
    kind: 'int',
    range: (m) => [0, m ? lastTimestep(m.schedule) : Infinity],
  },
  mode: {
    key: 'mode',
    label: 'Mode',
    help: 'adaptive exits, full depth (every block of both passes at every step: the reference), or a static baseline',
    defaultText: 'adaptive',
    kind: 'enum',
    values: MODES,
  },
  staticDepth: {
    key: 'staticDepth',
    flag: 'depth',
    metavar: 'N',
    label: 'Static depth',
    help: 'static baseline: always run N blocks (overrides --threshold)',
    defaultText: 'every block',
    kind: 'int',
    range: blocks,
  },
  depths: {
    key: 'depths',
    label: 'Depth per step',
    help: 'static baseline: the blocks to run at each step',
    defaultText: 'none',
    kind: 'ints',
    range: blocks,
  },
  preview: {
    key: 'preview',
    label: 'Preview',
    help: 'send the predicted clean image with every step',
    defaultText: 'off',
    kind: 'boolean',
  },
} as const satisfies { [K in keyof GenerateParams]: ParamSpec<K> };

/**
 * Whether a value fits a descriptor (its kind, its values, its range for this model), or the
 * message saying why not. Without a model only the bounds that do not depend on one are checked.
 */
export function checkValue(spec: ParamSpec, m: Manifest | null, v: unknown): string | null {
  const range = spec.range?.(m) ?? null;
  const inRange = (x: number) => !range || (x >= range[0] && x <= range[1]);
  const within = !range ? '' : range[1] === Infinity ? ` at least ${range[0]}` : ` ${range[0]}…${range[1]}`;
  switch (spec.kind) {
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'enum':
      return spec.values!.includes(v as string) ? null : `must be one of ${spec.values!.join(', ')}`;
    case 'ints':
      return Array.isArray(v) && v.every((x) => Number.isInteger(x) && inRange(x))
        ? null
        : `must be a list of integers${within}`;
    case 'int':
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a number';
      if (spec.kind === 'int' && !Number.isInteger(v)) return 'must be an integer';
      return inRange(v) ? null : `must be${within}`;
    default:
      return null;
  }
}

/**
 * Fill defaults, then validate everything against the descriptors; throws ParameterError naming
 * the parameter, its value and what it must be. Nothing is clamped.
 */
export function resolveParams(m: Manifest, given: Partial<GenerateParams>): GenerateParams {
  const unknown = Object.keys(given).find((k) => !(k in PARAM_SPECS));
  if (unknown) throw new ParameterError(unknown, 'is not a generate parameter');
  const merged = { ...defaultParams(m), ...stripUndefined(given) };
  for (const spec of Object.values(PARAM_SPECS) as ParamSpec[]) {
    const value = merged[spec.key];
    const why = checkValue(spec, m, value);
    if (why) throw new ParameterError(spec.key, `${describe(value)}: ${why}`);
  }
  if (merged.mode === 'depths' && merged.depths.length !== merged.steps) {
    throw new ParameterError('depths', `has ${merged.depths.length} entries, steps is ${merged.steps}`);
  }
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describe(v: unknown): string {
  if (typeof v === 'number') return `is ${v}`;
  return `is ${JSON.stringify(v) ?? String(v)}`;
}
