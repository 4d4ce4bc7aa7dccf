/**
 * What `adadiff bench --first-image` reports (first-image.ts runs it) and how BENCHMARKS.md shows it:
 * per model, build and cache state the medians and spread of ready and first image, the bytes over
 * the wire by kind and their wire limit, and where the time goes, phase by phase
 * (first-image-phases.ts). Reports written before phases were recorded render as they did then.
 */
import type { Backend } from '../runtime';
import {
  PHASE_LABELS,
  type Phase,
  type PhaseSummary,
  type RunPhases,
  type Spread,
} from './first-image-phases';
import { weightsPrefix } from './results';
import { stepLabel } from './weights';

/** A built site to time: its folder (dist/ of some checkout) and how the tables name it. */
export interface FirstImageSite {
  label: string;
  dir: string;
}

/** Bytes over the wire by what they were. */
export interface WireBytes {
  /** onnxruntime-web: its module and its .wasm. */
  runtime: number;
  /** The model's files, manifest.json included. */
  model: number;
  /** Everything else: the page, its scripts, the worker's script. */
  page: number;
}

/** One page load to the first image. */
export interface FirstImageRun {
  readyMs: number;
  firstImageMs: number;
  transferredBytes: number;
  bytes: WireBytes;
  /** onnxruntime-web's files the page requested (names), whether over the wire or from the HTTP cache. */
  runtimeFiles: string[];
  phases: RunPhases;
}

/**
 * The visits a run makes, in one profile: cold, a fresh profile (nothing cached); warm, a return visit
 * (the runtime in the HTTP cache, the model in Cache Storage); hot, the visit after that (V8's terms).
 * V8 stores only part of the runtime's optimised code during a first visit (src/worker/compiled-code.ts):
 * before the engine filled it, the warm visit ran much of the runtime unoptimised and the hot one did
 * not. Older reports have no hot visit.
 */
export const CACHE_STATES = ['cold', 'warm', 'hot'] as const;
export type CacheState = (typeof CACHE_STATES)[number];

export interface FirstImageRow {
  /** The model's id and how its files store the weights (manifest.storage). */
  model: string;
  /** The weights' optimiser step (manifest.provenance); absent in reports written before it was recorded. */
  modelStep?: number;
  storage: string;
  /** The model files' size on disk (uncompressed). */
  modelBytes: number;
  /** The build timed (a site's label); absent where one unlabelled build was timed. */
  site?: string;
  cache: CacheState;
  /** Navigation to the model ready (backend badge shown); median. */
  readyMs: number;
  /** Navigation to the first image done; median. */
  firstImageMs: number;
  /** Bytes over the (throttled) wire: what the visitor downloads; median. */
  transferredBytes: number;
  reps: number;
  /** The spread of the runs (absent in reports written before it was recorded). */
  ready?: Spread;
  firstImage?: Spread;
  /** Median bytes over the wire by kind. */
  bytes?: WireBytes;
  /** transferredBytes ÷ the bandwidth: the least time the bytes take (null: not throttled). */
  wireLimitMs?: number | null;
  /** Where the time goes (first-image-phases.ts). */
  phases?: PhaseSummary[];
  /** Session creation per segment file, median ms. */
  segments?: { file: string; ms: number }[];
  /** Every run, unsummarised. */
  runs?: FirstImageRun[];
}

export interface FirstImageReport {
  environment: string;
  backend: Backend;
  throttleMbps: number | null;
  latencyMs: number;
  /** How the first site was served: 'gzip' on the fly, or 'br' from the build's precompressed copies. */
  compression: 'gzip' | 'br';
  /** How long after a visit's image the next visit opened (absent: at once, in older reports). */
  warmAfterMs?: number;
  /** Every site timed, with how it was served (absent in reports of one unlabelled build). */
  sites?: { label: string; dir: string; compression: 'gzip' | 'br' }[];
  rows: FirstImageRow[];
}

/** A saved report's file name in the results folder: the weights of its first model, then the backend. */
export function firstImageFileName(r: FirstImageReport): string {
  return `${weightsPrefix(r.rows[0]?.modelStep)}first-image-${r.backend}.json`;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const s2 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
const runs = (n: number) => `${n} run${n === 1 ? '' : 's'}`;
const spreadText = (x: Spread | undefined, median: number, f = s) =>
  x && x.max > x.min ? `${f(median)} (${f(x.min)}–${f(x.max)})` : f(median);

function conditions(r: FirstImageReport): string {
  const net =
    r.throttleMbps === null
      ? 'network not throttled'
      : `network throttled to ${r.throttleMbps} Mbit/s each way, ${r.latencyMs} ms latency`;
  const served = r.sites?.length
    ? `served ${r.sites.map((x) => `${x.label}: ${x.compression === 'br' ? 'brotli (precompressed)' : 'gzip'}`).join(', ')}`
    : `served ${r.compression === 'br' ? 'brotli (precompressed)' : 'gzip'}`;
  const gpu =
    r.backend === 'webgpu'
      ? " WebGPU on this machine is SwiftShader, a software adapter, far slower than wasm: these rows show the path works and what it downloads, not a GPU's speed."
      : '';
  const gap = (r.warmAfterMs ?? 0) / 1000;
  const warm = !r.warmAfterMs
    ? ''
    : r.rows.some((x) => x.cache === 'hot')
      ? `; each return visit ${gap} s after the image before it`
      : `; the warm visit ${gap} s after the cold one's image`;
  return `${r.environment}; ${net}; ${served}${warm}; medians of ${runs(r.rows[0]?.reps ?? 0)} per row, (min–max) where they differ.${gpu}`;
}

/** The table of a report written before phases were recorded: as it was then. */
function plainTable(r: FirstImageReport): string[] {
  return [
    '| model (weights) | model files | cache | ready | first image | over the wire |',
    '|---|---|---|---|---|---|',
    ...r.rows.map(
      (row) =>
        `| ${row.model} (${[stepLabel(row.modelStep), row.storage].filter(Boolean).join(', ')}) | ${mb(row.modelBytes)} | ${row.cache} | ${s(row.readyMs)} | ${s(row.firstImageMs)} | ${mb(row.transferredBytes)} |`,
    ),
  ];
}

const modelName = (row: FirstImageRow) =>
  `${row.model} (${[stepLabel(row.modelStep), row.storage].filter(Boolean).join(', ')})`;

function summaryTable(r: FirstImageReport): string[] {
  const labelled = r.rows.some((x) => x.site !== undefined);
  const head = [
    'model (weights)',
    ...(labelled ? ['build'] : []),
    'cache',
    'ready',
    'first image',
    'over the wire: runtime + model + page',
    'wire limit',
    'first image ÷ wire limit',
  ];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...r.rows.map((row) => {
      const limit = row.wireLimitMs ?? null;
      const wire = row.bytes
        ? `${mb(row.transferredBytes)}: ${mb(row.bytes.runtime)} + ${mb(row.bytes.model)} + ${mb(row.bytes.page)}`
        : mb(row.transferredBytes);
      const cells = [
        modelName(row),
        ...(labelled ? [row.site ?? ''] : []),
        row.cache,
        spreadText(row.ready, row.readyMs),
        spreadText(row.firstImage, row.firstImageMs),
        wire,
        limit === null ? '–' : s(limit),
        // a warm visit's few bytes of revalidation make no limit worth a ratio
        limit === null || limit < 100 ? '–' : `${(row.firstImageMs / limit).toFixed(2)}×`,
      ];
      return `| ${cells.join(' | ')} |`;
    }),
  ];
}

/** With several builds: what each one changed against the one before it (the builds in --site order). */
function changesTable(r: FirstImageReport): string[] {
  const labels = (r.sites ?? []).map((x) => x.label);
  if (labels.length < 2) return [];
  const row = (model: string, site: string, cache: CacheState) =>
    r.rows.find((x) => x.model === model && x.site === site && x.cache === cache);
  const delta = (a: number, b: number, f: (v: number) => string) => {
    const d = b - a;
    return `${f(a)} → ${f(b)} (${d > 0 ? '+' : d < 0 ? '−' : '±'}${f(Math.abs(d))})`;
  };
  const hot = r.rows.some((x) => x.cache === 'hot');
  const lines: string[] = [];
  for (const model of [...new Set(r.rows.map((x) => x.model))]) {
    for (let i = 1; i < labels.length; i++) {
      const [a, b] = [labels[i - 1]!, labels[i]!];
      const cells = (['cold', 'warm'] as const).flatMap((cache) => {
        const [x, y] = [row(model, a, cache), row(model, b, cache)];
        if (!x || !y) return ['–', '–'];
        return [delta(x.firstImageMs, y.firstImageMs, s2), delta(x.transferredBytes, y.transferredBytes, mb)];
      });
      if (hot) {
        const [x, y] = [row(model, a, 'hot'), row(model, b, 'hot')];
        cells.push(x && y ? delta(x.firstImageMs, y.firstImageMs, s2) : '–');
      }
      lines.push(`| ${model} | ${a} → ${b} | ${cells.join(' | ')} |`);
    }
  }
  return [
    '',
    'What each build changed against the one before it (medians):',
    '',
    `| model | builds | cold: first image | cold: over the wire | warm: first image | warm: over the wire |${hot ? ' hot: first image |' : ''}`,
    `|---|---|---|---|---|---|${hot ? '---|' : ''}`,
    ...lines,
  ];
}

/** Per model: one column per build and cache state, one row per phase, then the segments. */
function phaseTables(r: FirstImageReport): string[] {
  const out: string[] = [];
  for (const model of [...new Set(r.rows.map((x) => x.model))]) {
    const rows = r.rows.filter((x) => x.model === model && x.phases?.length);
    if (!rows.length) continue;
    const column = (x: FirstImageRow) => (x.site === undefined ? x.cache : `${x.site}, ${x.cache}`);
    // cold columns first, then warm, then hot, builds in their order within each
    const order = (x: FirstImageRow) => CACHE_STATES.indexOf(x.cache);
    const cols = [...rows].sort((a, b) => order(a) - order(b));
    const phases = [...new Set(cols.flatMap((x) => x.phases!.map((p) => p.phase)))];
    const cell = (x: FirstImageRow, phase: Phase | 'waiting') => {
      const p = x.phases!.find((q) => q.phase === phase);
      if (!p) return '–';
      const span = p.start !== undefined && p.end !== undefined ? ` (${s2(p.start)}–${s2(p.end)})` : '';
      return `${s2(p.held.median)}${span}`;
    };
    out.push(
      '',
      `Where the time goes, ${model}: the time each phase held the run, median, and (in brackets) its median span from navigation.`,
      '',
      `| phase | ${cols.map(column).join(' | ')} |`,
      `|---|${cols.map(() => '---').join('|')}|`,
      ...phases.map((phase) => `| ${PHASE_LABELS[phase]} | ${cols.map((x) => cell(x, phase)).join(' | ')} |`),
      `| **first image** | ${cols.map((x) => `**${s2(x.firstImageMs)}**`).join(' | ')} |`,
    );
    const files = [...new Set(cols.flatMap((x) => (x.segments ?? []).map((g) => g.file)))];
    if (files.length) {
      out.push(
        '',
        `Session creation per segment, ${model}, median ms:`,
        '',
        `| segment | ${cols.map(column).join(' | ')} |`,
        `|---|${cols.map(() => '---').join('|')}|`,
        ...files.map(
          (f) =>
            `| ${f} | ${cols.map((x) => x.segments?.find((g) => g.file === f)?.ms.toFixed(0) ?? '–').join(' | ')} |`,
        ),
      );
    }
  }
  return out;
}

/**
 * BENCHMARKS.md's section for saved first-image reports; `links[i]`, where given, is where report i is
 * saved, as the markdown links it.
 */
export function firstImageMarkdown(reports: FirstImageReport[], links: string[] = []): string[] {
  if (!reports.length) return [];
  return [
    '',
    '## Time to first image (Chromium)',
    '',
    'Written by `npx adadiff bench --first-image [--site LABEL=DIR,…] [--backend webgpu] --markdown BENCHMARKS.md`: the built page from navigation to the model ready and to the first image at the default settings, Generate pressed the moment the page shows the model ready, in a fresh profile (cold: nothing cached), again in the same profile a few seconds later, as a return visit (warm: the runtime in the HTTP cache, the model in Cache Storage), and, in reports with hot rows, once more (hot: V8’s code cache then holds what the warm visit optimised of the runtime, where a first visit stores only part of it unless the engine fills it; src/worker/compiled-code.ts), for every shipped model. Files served by tools/package/serve.mjs: the build’s precompressed brotli copies where it has them, otherwise gzip on the fly, as a static host would; the bytes are what crossed the wire, onnxruntime-web included, and the wire limit is those bytes ÷ the bandwidth. Several builds (`--site`, e.g. before and after a change) are timed in one run, their runs interleaved.',
    '',
    'Phases come from the engine worker’s performance marks and both globals’ resource timing (src/bench/first-image-phases.ts). They overlap where work runs concurrently, so each moment is given to the phase under way that ends last, the one the page waited on; those times add up to the first image. A page may show the model ready before every file is in, once it can generate (the page does since 0f74afe): its steps then run while the deeper blocks download and wait for any block not yet in, and that wait counts as steps.',
    ...reports.flatMap((r, i) => {
      const phased = r.rows.some((x) => x.phases?.length);
      return [
        '',
        conditions(r),
        '',
        ...(phased ? summaryTable(r) : plainTable(r)),
        ...(phased ? changesTable(r) : []),
        ...(phased ? phaseTables(r) : []),
        ...(links[i] ? ['', `Data: [${links[i].split('/').pop()}](${links[i]}).`] : []),
      ];
    }),
  ];
}
