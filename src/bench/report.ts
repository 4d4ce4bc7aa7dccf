/** `adadiff bench`'s output: BENCHMARKS.md (one section per environment) and its plots. */
import { fullDepthRow, type Manifest } from '../runtime';
import { frontierMarkdown, type FrontierReport } from './frontier';
import type { BenchReport } from './harness';
import { PLOTS, weightsPrefix, type SavedResult } from './results';
import { trainingStep, weightsLabel } from './weights';

/** Calibrated classifier-FID relative to full depth, per θ ([] without a full-depth FID to divide by). */
export function fidVsSaved(m: Manifest): { x: number; y: number; label: string }[] {
  const full = fullDepthRow(m.calibration)?.fid;
  const rows = m.calibration.filter((c) => c.fid !== undefined);
  if (!full || rows.length < 2) return [];
  return rows.map((c) => ({ x: c.savedFraction, y: c.fid! / full, label: `θ=${c.threshold}` }));
}

/** Where a benchmark ran: node-wasm, chromium-wasm or chromium-webgpu. */
export function benchKey(r: BenchReport): string {
  return `${r.environment.startsWith('Node') ? 'node' : 'chromium'}-${r.backend}`;
}

/** A saved run's file name in the model's results folder: its weights, then where it ran. */
export function benchFileName(r: BenchReport): string {
  return `${weightsPrefix(r.modelStep)}bench-${benchKey(r)}.json`;
}

/** What BENCHMARKS.md is rendered from besides the bench runs, and where the links point. */
export interface BenchSources {
  /** The model's results folder as BENCHMARKS.md links it (docs/results/<model id>). */
  results: string;
  frontier?: { report: SavedResult<FrontierReport>; confirm: SavedResult<FrontierReport> | null } | null;
  /** The model card as BENCHMARKS.md links it, where the model has one. */
  modelCard?: string;
}

const SAMPLER_NAME: Record<string, string> = { ddim: 'DDIM', dpmpp2m: 'DPM-Solver++(2M)', ddpm: 'DDPM' };

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

export function benchMarkdown(saved: SavedResult<BenchReport>[], m: Manifest, sources: BenchSources): string {
  const order = Object.keys(PLACE);
  const place = (s: SavedResult<BenchReport>) => order.indexOf(benchKey(s.report));
  const sorted = [...saved].sort((a, b) => place(a) - place(b));
  const link = (file: string) => `[${file}](${sources.results}/${file})`;
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npx adadiff bench --markdown BENCHMARKS.md\` (Node) and \`npx adadiff bench --browser [--backend webgpu] --markdown BENCHMARKS.md\` (Chromium); each run saves its JSON in the model's results folder, \`${sources.results}/\`, named by the weights it ran on and where (\`step<N>-bench-<where>.json\`), and this file is rendered from the newest run of each place. Median of the interleaved runs per row after one warm-up round, one image per run.`,
  ];
  for (const { report: r, file } of sorted) {
    const key = benchKey(r);
    lines.push(
      '',
      `## ${PLACE[key] ?? key}`,
      '',
      `${r.environment}; model \`${r.model}\`${r.modelStep === undefined ? '' : ` (${weightsLabel(r.modelStep)})`}, ${r.steps} ${SAMPLER_NAME[r.sampler ?? 'ddim'] ?? r.sampler} steps, guidance ${r.guidance}${batchingNote(r)}${reuseNote(r)}, ${r.reps} runs per row.`,
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
      `![time vs θ, ${key}](${sources.results}/${PLOTS.time(key)})`,
      '',
      `Data: ${link(file)}.`,
    );
  }
  if (m.calibration.some((c) => c.agreement !== undefined)) {
    lines.push(
      '',
      '## Quality',
      '',
      `![quality vs blocks saved](${sources.results}/${PLOTS.qualityVsSaved})`,
      ...(fidVsSaved(m).length
        ? ['', `![FID relative to full depth vs blocks saved](${sources.results}/${PLOTS.fidVsSaved})`]
        : []),
      '',
      `Quality per θ is the manifest's calibration${calibratedOn(m)} (class agreement of an independent classifier; \`adadiff eval --write-manifest\` or \`python3 -m tools.export evaluate\`${sources.modelCard ? `; [the model card](${sources.modelCard}) gives a second draw of seeds` : ''}). Blocks saved are against full depth (both guidance passes, every block, every step), split into what the exits, the guidance schedule and fixed depths skipped.`,
      '',
      '| θ | blocks saved: exits + schedule + fixed depth | class agreement | classifier-FID |',
      '|---|---|---|---|',
      ...m.calibration.map(
        (c) =>
          `| ${c.threshold} | ${pct(c.savedFraction)}${split(c)} | ${c.agreement !== undefined ? pct(c.agreement) : '–'} | ${c.fid?.toFixed(2) ?? '–'} |`,
      ),
    );
  }
  const frontier = sources.frontier;
  if (frontier) {
    lines.push(
      ...frontierMarkdown(frontier.report.report, frontier.confirm?.report ?? null, trainingStep(m), {
        plot: `${sources.results}/${PLOTS.frontier}`,
        report: `${sources.results}/${frontier.report.file}`,
        confirm: frontier.confirm ? `${sources.results}/${frontier.confirm.file}` : undefined,
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** " on the weights of optimiser step N, 1000 samples per θ", as far as the manifest records them. */
const calibratedOn = (m: Manifest) => {
  const label = weightsLabel(trainingStep(m));
  const samples = m.calibration[0]?.samples;
  return `${label ? ` on the ${label}` : ''}${samples ? `, ${samples} samples per θ` : ''}`;
};

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
