/** `adadiff bench`'s output: BENCHMARKS.md (one section per environment) and its plots. */
import type { Manifest } from '../runtime';
import type { BenchReport } from './harness';

export interface PlotPoint {
  x: number;
  y: number;
  label?: string;
}

export interface PlotSeries {
  name: string;
  points: PlotPoint[];
  color: string;
  dashed?: boolean;
}

/** A small line plot as SVG, one line per series with a legend (no plotting dependency for a few charts). */
export function svgPlot(
  data: PlotPoint[] | PlotSeries[],
  opts: { title: string; xLabel: string; yLabel: string; refY?: { y: number; label: string } },
): string {
  const series: PlotSeries[] =
    data.length && 'points' in data[0]!
      ? (data as PlotSeries[])
      : [{ name: '', points: data as PlotPoint[], color: '#3552d6' }];
  const W = 520;
  const legendH = series.some((s) => s.name) ? 16 * Math.ceil(series.length / 2) + 4 : 0;
  const H = 300 + legendH;
  const m = { l: 60, r: 20, t: 36, b: 48 + legendH };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y).concat(opts.refY ? [opts.refY.y] : []);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [0, Math.max(...ys) * 1.1 || 1];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => y0 + f * (y1 - y0));
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => x0 + f * (x1 - x0));
  const lines = series.map((s) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    const path = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    return `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>
${pts.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"/>${p.label ? `<text x="${(sx(p.x) + 5).toFixed(1)}" y="${(sy(p.y) - 6).toFixed(1)}">${esc(p.label)}</text>` : ''}`).join('\n')}`;
  });
  const legend = series
    .filter((s) => s.name)
    .map((s, i) => {
      const x = m.l + (i % 2) * ((W - m.l - m.r) / 2);
      const y = H - legendH + 6 + 16 * Math.floor(i / 2);
      const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
      return `<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/><text x="${x + 28}" y="${y + 4}">${esc(s.name)}</text>`;
    });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(opts.title)}</text>
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>
<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>
${ticks.map((v) => `<text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`).join('\n')}
${xTicks.map((v) => `<text x="${sx(v)}" y="${H - m.b + 14}" text-anchor="middle">${v.toPrecision(2)}</text>`).join('\n')}
<text x="${W / 2}" y="${H - m.b + 30}" text-anchor="middle">${esc(opts.xLabel)}</text>
<text x="14" y="${(H - legendH) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - legendH) / 2})">${esc(opts.yLabel)}</text>
${opts.refY ? `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(opts.refY.y)}" y2="${sy(opts.refY.y)}" stroke="#b3261e" stroke-dasharray="4 3"/><text x="${W - m.r}" y="${sy(opts.refY.y) - 4}" text-anchor="end" fill="#b3261e">${esc(opts.refY.label)}</text>` : ''}
${lines.join('\n')}
${legend.join('\n')}
</svg>
`;
}

/** Calibrated classifier-FID relative to full depth, per θ ([] without a full-depth FID to divide by). */
export function fidVsSaved(m: Manifest): { x: number; y: number; label: string }[] {
  const full = m.calibration.find((c) => c.threshold === 0)?.fid;
  const rows = m.calibration.filter((c) => c.fid !== undefined);
  if (!full || rows.length < 2) return [];
  return rows.map((c) => ({ x: c.savedFraction, y: c.fid! / full, label: `θ=${c.threshold}` }));
}

/** One saved result per place a benchmark can run: docs/bench-<key>.json. */
export function benchKey(r: BenchReport): string {
  return `${r.environment.startsWith('Node') ? 'node' : 'chromium'}-${r.backend}`;
}

const PLACE: Record<string, string> = {
  'node-wasm': 'Node, onnxruntime-web wasm',
  'chromium-wasm': 'Chromium, onnxruntime-web wasm in the page’s worker',
  'chromium-webgpu': 'Chromium, onnxruntime-web WebGPU in the page’s worker',
};

/** The fused prefix's measured effect: each row that also ran without it, both medians. */
function fusionEffect(r: BenchReport): string[] {
  const pairs = r.rows.flatMap((u) => {
    const f =
      !u.fused &&
      r.rows.find(
        (o) => o.fused && o.kind === u.kind && o.threshold === u.threshold && o.speculative === u.speculative,
      );
    return f
      ? [
          `${f.name}: ${u.medianMs.toFixed(1)} → ${f.medianMs.toFixed(1)} ms (${(100 * (f.medianMs / u.medianMs - 1)).toFixed(1)} %)`,
        ]
      : [];
  });
  return pairs.length
    ? [
        '',
        `Fused prefix (embed and the blocks before the minimum depth in one session run), without → with: ${pairs.join('; ')}.`,
      ]
    : [];
}

/** Speculation's measured effect: the default θ with and without it (reports from before it had none). */
function speculationEffect(r: BenchReport): string[] {
  const rows = r.rows.filter((o) => o.kind === 'adaptive' && o.threshold === r.default.threshold && o.fused);
  const on = rows.find((o) => o.speculative === true);
  const off = rows.find((o) => o.speculative === false);
  if (!on || !off) return [];
  return [
    '',
    `Speculation (queue the next block before reading the uncertainty; thrown away on exit), at θ = ${r.default.threshold}: ${off.medianMs.toFixed(1)} ms without, ${on.medianMs.toFixed(1)} ms with (${(100 * (on.medianMs / off.medianMs - 1)).toFixed(1)} %); off by default: it adds the thrown-away block's work and gains only where a GPU would otherwise idle while JS decides.`,
  ];
}

/** One sentence per build: does the replay match, and what does it cost per block run. */
export function graphCaptureEffect(r: BenchReport): string[] {
  if (!r.graphCapture?.length) return [];
  const probes = r.graphCapture.map((p) => {
    if (p.maxAbsDiff === null) return `${p.build}: capture or replay failed (${p.error ?? 'unknown error'})`;
    const times =
      p.eagerMs !== null && p.capturedMs !== null
        ? `; ${p.eagerMs.toFixed(2)} ms per run without capture, ${p.capturedMs.toFixed(2)} ms replayed (${Math.abs(100 * (p.capturedMs / p.eagerMs - 1)).toFixed(1)} % ${p.capturedMs > p.eagerMs ? 'slower' : 'faster'})`
        : '';
    const verdict = p.matches
      ? `replays match ordinary runs (max |Δ| ${p.maxAbsDiff.toExponential(1)})`
      : `replays do **not** match ordinary runs (max |Δ| ${p.maxAbsDiff.toPrecision(3)})`;
    return `${p.build}: ${verdict}${times}`;
  });
  const p0 = r.graphCapture[0]!;
  return [
    '',
    `Graph capture (record block ${p0.block}'s GPU commands once, replay them; batch ${p0.batch}, ${p0.cases} inputs compared, ${p0.runs} runs per round, each reading its uncertainty back): ${probes.join('. ')}. The runtime does not use graph capture: it would need a build whose replays match and run faster.`,
  ];
}

export function benchMarkdown(
  reports: BenchReport[],
  m: Manifest,
  frontier: { report: FrontierReport; confirm: FrontierReport | null } | null = null,
): string {
  const order = Object.keys(PLACE);
  const sorted = [...reports].sort((a, b) => order.indexOf(benchKey(a)) - order.indexOf(benchKey(b)));
  const lines = [
    '# Benchmarks',
    '',
    'Written by `npx adadiff bench --markdown BENCHMARKS.md` (Node) and `npx adadiff bench --browser [--backend webgpu] --markdown BENCHMARKS.md` (Chromium); each run saves its JSON as `docs/bench-<where>.json` and this file is rendered from all of them. Median of the interleaved runs per row after one warm-up round, one image per run.',
  ];
  for (const r of sorted) {
    const key = benchKey(r);
    lines.push(
      '',
      `## ${PLACE[key] ?? key}`,
      '',
      `${r.environment}; model \`${r.model}\`, ${r.steps} DDIM steps, guidance ${r.guidance}${batchingNote(r)}${reuseNote(r)}, ${r.reps} runs per row.`,
      '',
      '| configuration | θ | median ms / image | vs monolithic + schedule | vs monolithic | blocks run / full | blocks saved: exits + schedule + fixed depth | FLOPs saved |',
      '|---|---|---|---|---|---|---|---|',
      ...r.rows.map(
        (row) =>
          `| ${row.name} | ${row.threshold ?? '–'} | ${row.medianMs.toFixed(1)} | ${ratio(row.vsMonolithicScheduled)} | ${row.vsMonolithic.toFixed(2)}× | ${row.blocksRun} / ${row.blocksFull} | ${pct(row.savedFraction)}${split(row)} | ${pct(row.flopsSavedFraction)} |`,
      ),
      '',
      defaultSentence(r),
      ...fusionEffect(r),
      ...speculationEffect(r),
      ...(r.readback
        ? [
            '',
            `Uncertainty read-back: block ${r.readback.block} alone, ${r.readback.runs} runs back to back, ${r.readback.withoutMs.toFixed(3)} ms per run fetching only the tokens, ${r.readback.withMs.toFixed(3)} ms reading each run's uncertainty back (${(r.readback.withMs - r.readback.withoutMs).toFixed(3)} ms, ${(100 * (r.readback.withMs / r.readback.withoutMs - 1)).toFixed(1)} %).`,
          ]
        : []),
      ...graphCaptureEffect(r),
      '',
      `![time vs θ, ${key}](docs/bench-time-${key}.svg)`,
    );
  }
  if (m.calibration.some((c) => c.agreement !== undefined)) {
    lines.push(
      '',
      '## Quality',
      '',
      '![quality vs blocks saved](docs/bench-quality-vs-saved.svg)',
      ...(fidVsSaved(m).length
        ? ['', '![FID relative to full depth vs blocks saved](docs/bench-fid-vs-saved.svg)']
        : []),
      '',
      "Quality per θ is the manifest's calibration (class agreement of an independent classifier; `adadiff eval --write-manifest` or `tools/export/evaluate.py`).",
      '',
      '| θ | blocks saved | class agreement | classifier-FID |',
      '|---|---|---|---|',
      ...m.calibration.map(
        (c) =>
          `| ${c.threshold} | ${pct(c.savedFraction)} | ${c.agreement !== undefined ? pct(c.agreement) : '–'} | ${c.fid?.toFixed(2) ?? '–'} |`,
      ),
    );
  }
  if (frontier) lines.push(...frontierMarkdown(frontier.report, frontier.confirm));
  return `${lines.join('\n')}\n`;
}

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const ratio = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)}×`);

/** A saving's sources, e.g. " = 8.3 + 30.0 + 12.3" (reports from before the split have none). */
function split(row: { savedByExits?: number; savedBySchedule?: number; savedByFixedDepth?: number }): string {
  if (row.savedByExits === undefined) return '';
  const pts = (v: number | undefined) => (100 * (v ?? 0)).toFixed(1);
  return ` = ${pts(row.savedByExits)} + ${pts(row.savedBySchedule)} + ${pts(row.savedByFixedDepth)}`;
}

/** The headline: the default against the baseline a user would otherwise run, and where its saving comes from. */
function defaultSentence(r: BenchReport): string {
  const d = r.default;
  const vs = (ms: number) => `${(d.adaptiveMs / ms).toFixed(2)}×`;
  const sources =
    d.savedByExits === undefined
      ? ''
      : ` (exits ${pct(d.savedByExits)}, guidance schedule ${pct(d.savedBySchedule)}, fixed depth ${pct(d.savedByFixedDepth)})`;
  const scheduled =
    d.monolithicScheduledMs === undefined
      ? ''
      : `${vs(d.monolithicScheduledMs)} of the monolithic graph run with the same guidance schedule (${d.monolithicScheduledMs.toFixed(1)} ms, the baseline a user would otherwise run), `;
  return `Default θ = ${d.threshold}: ${pct(d.savedFraction)} of blocks skipped${sources}; ${d.adaptiveMs.toFixed(1)} ms per image, ${scheduled}${vs(d.monolithicMs)} of the plain monolithic graph (${d.monolithicMs.toFixed(1)} ms, both guidance passes at every step) and ${d.segmentedFullMs.toFixed(1)} ms for segmented full depth.`;
}

function batchingNote(b: BenchReport): string {
  if (!b.batching) return '';
  const adaptive =
    b.batching === 'all' || b.batching === 'any'
      ? 'guidance passes batched'
      : b.batching === 'shallow'
        ? 'the unconditional pass at the minimum depth'
        : `guidance passes ${b.batching}`;
  return ` (adaptive rows: ${adaptive}; the others batched)`;
}

function reuseNote(b: BenchReport): string {
  const every = b.unconditionalEvery ?? 1;
  const notes = [
    ...(b.guidanceMaxT !== undefined ? [`guides only the steps with t ≤ ${b.guidanceMaxT}`] : []),
    ...(every > 1 ? [`runs the unconditional pass on one guided step in ${every}`] : []),
  ];
  return notes.length ? `; every row but full depth ${notes.join(' and ')}` : '';
}

/** One row of tools/export/frontier.py's report (docs/frontier*.json). */
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
  perClass: number;
  steps: number;
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

/** The frontier's table: every point, its saving by source, and the adaptive default against the best switch. */
export function frontierMarkdown(f: FrontierReport, confirm: FrontierReport | null): string[] {
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
  return [
    '',
    '## Adaptive against static schedules',
    '',
    `\`python3 -m tools.export.frontier\` (PyTorch, the same sampler as the runtime): ${f.perClass} samples per class (${f.perClass * 10} in all) on the same seeds at every point, ${f.steps} DDIM steps, guidance ${f.guidance}, minimum depth ${f.minDepth}; FID in the evaluation classifier's feature space, relative to full depth (both guidance passes, every block, every step). *With the guidance schedule*: guidance only at t ≤ 800, the unconditional pass on every 2nd guided step and at the minimum depth, in every curve; *without it*: both passes at every step, the unconditional one as deep as the conditional one (static) or exiting on its own at θ (adaptive). A switch schedule runs depth D at the noisy steps (t > T) and every block below (DuoDiff); the best one is the lowest FID among those that run as many blocks as the adaptive default (±2 points), found by counting blocks ahead.`,
    '',
    '![FID relative to full depth vs blocks run](docs/bench-frontier.svg)',
    '',
    ...table(f),
    ...(confirm
      ? [
          '',
          `The adaptive default against the best switch on more samples (${confirm.perClass * 10}, the same seeds):`,
          '',
          ...table(confirm),
        ]
      : []),
  ];
}
