/**
 * BENCHMARKS.md's frontier: tools/export/studies/frontier.py's report (docs/results/<model>/step<N>-frontier-*.json)
 * as one plot of FID against blocks run, every curve with and without the guidance schedule, and its table.
 */
import type { PlotPoint, PlotSeries } from './plot';
import { stepLabel, weightsLabel } from './weights';

/** One row of tools/export/studies/frontier.py's report. */
export interface FrontierRow {
  key: string;
  setting: 'schedule' | 'none';
  curve: 'full' | 'adaptive' | 'static' | 'switch' | 'switch-match';
  threshold: number;
  savedFraction: number;
  savedByExits: number;
  savedBySchedule: number;
  savedByFixedDepth: number;
  agreement: number;
  fid: number;
  samples: number;
  depth?: number;
  switchT?: number;
  shallowDepth?: number;
  bestSwitch?: boolean;
}

export interface FrontierReport {
  /** The weights' optimiser step; absent in reports written before it was recorded. */
  checkpointStep?: number;
  /** The default θ of those weights' manifest, which the study ran as "the adaptive default". */
  defaultThreshold?: number;
  perClass: number;
  steps: number;
  /** Absent in reports written before it was recorded: DDIM. */
  sampler?: string;
  guidance: number;
  minDepth: number;
  seed: number;
  rows: FrontierRow[];
}

const SETTING_NAME = { schedule: 'with the guidance schedule', none: 'without it' } as const;
const CURVE_COLOR = { adaptive: '#3552d6', static: '#d9822b', switch: '#1f8a4c' } as const;

/** FID relative to full depth against the fraction of blocks run: each curve with and without the schedule. */
export function frontierSeries(f: FrontierReport): PlotSeries[] {
  const full = f.rows.find((r) => r.curve === 'full');
  if (!full) return [];
  const point = (r: FrontierRow): PlotPoint => ({ x: 1 - r.savedFraction, y: r.fid / full.fid });
  return (['schedule', 'none'] as const).flatMap((setting) => {
    const rows = f.rows.filter((r) => r.setting === setting);
    const best = rows.find((r) => r.bestSwitch);
    const curves: [keyof typeof CURVE_COLOR, string, FrontierRow[]][] = [
      ['adaptive', 'adaptive θ sweep', rows.filter((r) => r.curve === 'adaptive')],
      ['static', 'static depth', rows.filter((r) => r.curve === 'static')],
      [
        'switch',
        best ? `switch, depth ${best.shallowDepth} at t > T` : 'switch',
        rows.filter((r) => r.curve.startsWith('switch') && r.shallowDepth === best?.shallowDepth),
      ],
    ];
    return curves
      .filter(([, , r]) => r.length)
      .map(([curve, name, r]) => ({
        name: `${name}, ${SETTING_NAME[setting]}`,
        points: r.map(point),
        color: CURVE_COLOR[curve],
        dashed: setting === 'none',
      }));
  });
}

/** Where the frontier's plot and reports are, as the markdown links them. */
export interface FrontierLinks {
  plot: string;
  report: string;
  confirm?: string | undefined;
}

/**
 * The frontier's table: every point, its saving by source, and the adaptive default against the best switch;
 * with links, the plot and the reports the tables come from.
 */
export function frontierMarkdown(
  f: FrontierReport,
  confirm: FrontierReport | null,
  shippedStep?: number,
  links?: FrontierLinks,
): string[] {
  const full = f.rows.find((r) => r.curve === 'full');
  if (!full) return [];
  const pts = (v: number) => (100 * v).toFixed(1);
  const describe = (r: FrontierRow) =>
    r.curve === 'adaptive'
      ? `adaptive θ ${r.threshold}`
      : r.curve === 'static'
        ? `static depth ${r.depth}`
        : r.curve === 'full'
          ? 'full depth'
          : `switch: depth ${r.shallowDepth} at t > ${r.switchT}${r.bestSwitch ? ' (best at the default’s blocks)' : ''}`;
  const table = (rep: FrontierReport) => {
    const ref = rep.rows.find((r) => r.curve === 'full')!;
    return [
      '| setting | configuration | blocks run | saved: exits + schedule + fixed depth | agreement | FID | FID vs full depth |',
      '|---|---|---|---|---|---|---|',
      ...rep.rows.map(
        (r) =>
          `| ${r.curve === 'full' ? '–' : SETTING_NAME[r.setting]} | ${describe(r)} | ${pts(1 - r.savedFraction)} % | ${pts(r.savedFraction)} = ${pts(r.savedByExits)} + ${pts(r.savedBySchedule)} + ${pts(r.savedByFixedDepth)} | ${pts(r.agreement)} % | ${r.fid.toFixed(1)} | ${(r.fid / ref.fid).toFixed(3)}× |`,
      ),
    ];
  };
  // A study keeps its weights when the default model moves on: say so rather than let it pass for the new one.
  const weights = (rep: FrontierReport) => {
    const label = weightsLabel(rep.checkpointStep);
    if (!label) return '';
    const older = shippedStep !== undefined && rep.checkpointStep !== shippedStep;
    return `; ${label}${older ? `, not the shipped model's ${stepLabel(shippedStep)}` : ''}`;
  };
  // "the adaptive default" is the default of the weights the study ran on, which need not be today's
  const adaptiveDefault = (rep: FrontierReport) =>
    rep.defaultThreshold === undefined
      ? 'the adaptive default'
      : `the adaptive default of those weights (θ ${rep.defaultThreshold})`;
  // the switch comes from the study above: matched to its default's blocks, which a later default may not share
  const pickedFor = (rep: FrontierReport) =>
    rep.defaultThreshold === f.defaultThreshold
      ? 'the best switch'
      : `the switch the study above picked for θ ${f.defaultThreshold}'s blocks`;
  const data = (target: string | undefined) =>
    target ? ['', `Data: [${target.split('/').pop()}](${target}).`] : [];
  return [
    '',
    '## Adaptive against static schedules',
    '',
    `\`python3 -m tools.export frontier\` (PyTorch, the same sampler as the runtime${weights(f)}): ${f.perClass} samples per class (${f.rows[0]?.samples ?? '?'} in all) on the same seeds at every point, ${f.steps} ${f.sampler ?? 'ddim'} steps, guidance ${f.guidance}, minimum depth ${f.minDepth}; FID in the evaluation classifier's feature space, relative to full depth (both guidance passes, every block, every step). *With the guidance schedule*: guidance only at t ≤ 800, the unconditional pass on every 2nd guided step and at the minimum depth, in every curve; *without it*: both passes at every step, the unconditional one as deep as the conditional one (static) or exiting on its own at θ (adaptive). A switch schedule runs depth D at the noisy steps (t > T) and every block below (DuoDiff); the best one is the lowest FID among those that run as many blocks as ${adaptiveDefault(f)} (±2 points), found by counting blocks ahead.`,
    ...(links ? ['', `![FID relative to full depth vs blocks run](${links.plot})`] : []),
    '',
    ...table(f),
    ...data(links?.report),
    ...(confirm
      ? [
          '',
          `${capitalise(adaptiveDefault(confirm))} against ${pickedFor(confirm)} on more samples (${confirm.rows[0]?.samples ?? '?'}, the same seeds${weights(confirm)}):`,
          '',
          ...table(confirm),
          ...data(links?.confirm),
        ]
      : []),
  ];
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
