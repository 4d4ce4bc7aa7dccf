/**
 * `adadiff bench`: wall time per image through the runtime users run (Node, wasm), for the
 * monolithic full-depth graph, segmented full depth, adaptive exits at a sweep of θ, a static
 * depth with the adaptive default's average depth, and a per-timestep depth schedule learned
 * from the adaptive default's own exits (DuoDiff/ASE-style). Runs interleave (A B C … A B C …)
 * so ratios hold on a noisy machine; medians after one warm-up round.
 */
import {
  generate,
  monolithicDenoiser,
  resolveParams,
  type Denoiser,
  type GenerateParams,
  type Manifest,
  type SegmentRunner,
} from '../runtime';

export interface BenchConfig {
  name: string;
  kind: 'monolithic' | 'segmented-full' | 'adaptive' | 'static' | 'schedule';
  threshold: number | null;
  params: Partial<GenerateParams>;
  denoiser: Denoiser;
}

export interface BenchRow {
  name: string;
  kind: BenchConfig['kind'];
  threshold: number | null;
  medianMs: number;
  runsMs: number[];
  blocksRun: number;
  blocksFull: number;
  savedFraction: number;
  flopsSavedFraction: number;
  /** Median time relative to the monolithic graph. */
  vsMonolithic: number;
}

export interface BenchReport {
  model: string;
  backend: 'wasm';
  steps: number;
  guidance: number;
  reps: number;
  node: string;
  rows: BenchRow[];
  default: {
    threshold: number;
    savedFraction: number;
    adaptiveMs: number;
    segmentedFullMs: number;
    monolithicMs: number;
  };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function runBench(
  runner: SegmentRunner,
  manifest: Manifest,
  opts: { reps: number; steps: number; thresholds: number[]; onProgress?: (s: string) => void },
): Promise<BenchReport> {
  const base: Partial<GenerateParams> = { steps: opts.steps, classIndex: 0 };
  const theta = manifest.defaults.threshold;
  const guidance = manifest.defaults.guidance;
  // the adaptive default's exits decide the static and per-timestep baselines
  const probe = await generate(
    runner,
    manifest,
    resolveParams(manifest, { ...base, seed: 1, threshold: theta }),
  );
  const passes = probe.steps.flatMap((s) => s.passes);
  const avgDepth = passes.reduce((a, p) => a + p.exitBlock + 1, 0) / passes.length;
  const schedule = probe.steps.map((s) =>
    Math.max(1, Math.round(s.passes.reduce((a, p) => a + p.exitBlock + 1, 0) / s.passes.length)),
  );
  const configs: BenchConfig[] = [
    {
      name: 'monolithic full depth',
      kind: 'monolithic',
      threshold: null,
      params: { mode: 'full', batching: 'all' },
      denoiser: monolithicDenoiser(runner),
    },
    {
      name: 'segmented full depth',
      kind: 'segmented-full',
      threshold: 0,
      params: { mode: 'full' },
      denoiser: runner,
    },
    ...[...new Set([theta, ...opts.thresholds])]
      .sort((a, b) => a - b)
      .map<BenchConfig>((t) => ({
        name: `adaptive θ=${t}`,
        kind: 'adaptive',
        threshold: t,
        params: { mode: 'adaptive', threshold: t },
        denoiser: runner,
      })),
    {
      name: `static depth ${Math.round(avgDepth)}`,
      kind: 'static',
      threshold: null,
      params: { mode: 'static', staticDepth: Math.max(1, Math.round(avgDepth)) },
      denoiser: runner,
    },
    {
      name: 'per-timestep schedule',
      kind: 'schedule',
      threshold: null,
      params: { mode: 'schedule', depthSchedule: schedule },
      denoiser: runner,
    },
  ];
  const times = configs.map(() => [] as number[]);
  const last = configs.map(() => null as Awaited<ReturnType<typeof generate>> | null);
  for (let rep = 0; rep <= opts.reps; rep++) {
    for (const [i, c] of configs.entries()) {
      const params = resolveParams(manifest, { ...base, ...c.params, seed: 100 + rep });
      const started = performance.now();
      const r = await generate(c.denoiser, manifest, params);
      const ms = performance.now() - started;
      if (rep > 0) times[i]!.push(ms); // round 0 warms caches and the JIT
      last[i] = r;
    }
    opts.onProgress?.(`round ${rep}/${opts.reps}\n`);
  }
  const mono = median(times[0]!);
  const rows: BenchRow[] = configs.map((c, i) => {
    const t = last[i]!.totals;
    return {
      name: c.name,
      kind: c.kind,
      threshold: c.threshold,
      medianMs: median(times[i]!),
      runsMs: times[i]!,
      blocksRun: t.blocksRun,
      blocksFull: t.blocksFull,
      savedFraction: t.savedFraction,
      flopsSavedFraction: t.flopsSavedFraction,
      vsMonolithic: median(times[i]!) / mono,
    };
  });
  const adaptive = rows.find((r) => r.kind === 'adaptive' && r.threshold === theta)!;
  return {
    model: manifest.id,
    backend: 'wasm',
    steps: opts.steps,
    guidance,
    reps: opts.reps,
    node: process.version,
    rows,
    default: {
      threshold: theta,
      savedFraction: adaptive.savedFraction,
      adaptiveMs: adaptive.medianMs,
      segmentedFullMs: rows[1]!.medianMs,
      monolithicMs: mono,
    },
  };
}

/** A small line plot as SVG (no plotting dependency for two charts). */
export function svgPlot(
  points: { x: number; y: number; label?: string }[],
  opts: { title: string; xLabel: string; yLabel: string; refY?: { y: number; label: string } },
): string {
  const W = 480;
  const H = 300;
  const m = { l: 60, r: 20, t: 36, b: 48 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y).concat(opts.refY ? [opts.refY.y] : []);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [0, Math.max(...ys) * 1.1 || 1];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => y0 + f * (y1 - y0));
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(opts.title)}</text>
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>
<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>
${ticks.map((v) => `<text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`).join('\n')}
<text x="${W / 2}" y="${H - 10}" text-anchor="middle">${esc(opts.xLabel)}</text>
<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(opts.yLabel)}</text>
${opts.refY ? `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(opts.refY.y)}" y2="${sy(opts.refY.y)}" stroke="#b3261e" stroke-dasharray="4 3"/><text x="${W - m.r}" y="${sy(opts.refY.y) - 4}" text-anchor="end" fill="#b3261e">${esc(opts.refY.label)}</text>` : ''}
<path d="${path}" fill="none" stroke="#3552d6" stroke-width="2"/>
${points.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="#3552d6"/>${p.label ? `<text x="${(sx(p.x) + 5).toFixed(1)}" y="${(sy(p.y) - 6).toFixed(1)}">${esc(p.label)}</text>` : ''}`).join('\n')}
</svg>
`;
}

export function benchMarkdown(r: BenchReport, m: Manifest): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npx adadiff bench --markdown BENCHMARKS.md\` (Node ${r.node}, onnxruntime-web wasm, model \`${r.model}\`, ${r.steps} DDIM steps, guidance ${r.guidance}, median of ${r.reps} interleaved runs per row after one warm-up round, one image per run).`,
    '',
    '| configuration | θ | median ms / image | vs monolithic | blocks run / full | blocks saved | FLOPs saved |',
    '|---|---|---|---|---|---|---|',
    ...r.rows.map(
      (row) =>
        `| ${row.name} | ${row.threshold ?? '–'} | ${row.medianMs.toFixed(1)} | ${row.vsMonolithic.toFixed(2)}× | ${row.blocksRun} / ${row.blocksFull} | ${pct(row.savedFraction)} | ${pct(row.flopsSavedFraction)} |`,
    ),
    '',
    `Default θ = ${r.default.threshold}: ${pct(r.default.savedFraction)} of blocks skipped, ${r.default.adaptiveMs.toFixed(1)} ms per image against ${r.default.monolithicMs.toFixed(1)} ms for the monolithic graph (${(r.default.adaptiveMs / r.default.monolithicMs).toFixed(2)}×) and ${r.default.segmentedFullMs.toFixed(1)} ms for segmented full depth.`,
    '',
    '![time vs θ](docs/bench-time-vs-threshold.svg)',
  ];
  if (m.calibration.some((c) => c.agreement !== undefined)) {
    lines.push(
      '',
      '![quality vs blocks saved](docs/bench-quality-vs-saved.svg)',
      '',
      "Quality per θ is the manifest's calibration (class agreement of an independent classifier, from `tools/export/evaluate.py`).",
      '',
      '| θ | blocks saved | class agreement | classifier-FID |',
      '|---|---|---|---|',
      ...m.calibration.map(
        (c) =>
          `| ${c.threshold} | ${pct(c.savedFraction)} | ${c.agreement !== undefined ? pct(c.agreement) : '–'} | ${c.fid?.toFixed(2) ?? '–'} |`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}
