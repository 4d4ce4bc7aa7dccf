/**
 * Where the time to the first image goes: one page load's timeline (the page's and the engine
 * worker's resource timing and User Timing marks, on the page's clock) cut into phases, and the
 * phases of several runs summarised. Pure: the Chromium side is first-image.ts.
 *
 * A phase is a span of the timeline, and spans overlap where work runs concurrently (the runtime
 * downloading while the model does). So that the phases add up, each moment of the run is also
 * given to one phase, the one it waited on: of the phases under way, the one that ends last (the
 * later in PHASES on a tie); a moment under no phase is `waiting`. These shares sum to the total.
 */
import { median } from './stats';

/** The phases in the order a load goes through them. */
export const PHASES = [
  'page',
  'worker',
  'model',
  'runtime-fetch',
  'runtime-start',
  'sessions',
  'warm-up',
  'hand-over',
  'first-step',
  'steps',
  'image',
] as const;
export type Phase = (typeof PHASES)[number];

/** What each phase covers, as BENCHMARKS.md says it. */
export const PHASE_LABELS: Record<Phase | 'waiting', string> = {
  page: 'navigation → the engine’s worker starts (HTML, scripts, first render)',
  worker: 'worker script, until the engine is asked to load',
  model: 'model files: download (cold) or Cache Storage (warm, hot), checked',
  'runtime-fetch': 'onnxruntime-web: its module and .wasm over the network (or the HTTP cache)',
  'runtime-start': 'onnxruntime-web: compile and start, beyond its download',
  sessions: 'session creation, every segment',
  'warm-up': 'warm-up run (kernels, shaders)',
  'hand-over': 'ready in the worker → the page shows it',
  'first-step': 'Generate → the first sampling step done',
  steps: 'the other sampling steps',
  image: 'the image reaches the page and is shown',
  waiting: 'under no phase',
};

export interface Span {
  start: number;
  end: number;
}

/** A resource as the Resource Timing API reports it (ms on its global's clock). */
export interface ResourceEntry {
  name: string;
  startTime: number;
  responseEnd: number;
  transferSize: number;
}

/** One global's timeline: its clock's origin (ms since the epoch), marks and resources. */
export interface GlobalTimeline {
  timeOrigin: number;
  marks: { name: string; startTime: number }[];
  resources: ResourceEntry[];
}

/** One page load up to the first image, as first-image.ts observes it. */
export interface ObservedRun {
  page: GlobalTimeline;
  /** The engine's worker; null where it could not be read (the run then has fewer phases). */
  worker: GlobalTimeline | null;
  /** The page's clock when the backend badge appeared, Generate was pressed, the image was done. */
  readyAt: number;
  clickAt: number;
  imageAt: number;
  /** The URL path prefix the model is served under (/m0/). */
  modelPrefix: string;
}

export interface RunPhases {
  /** Navigation to the image on the page's clock (ms). */
  totalMs: number;
  /** Each phase that could be observed, on the page's clock. */
  spans: Partial<Record<Phase, Span>>;
  /** The time each phase held the run (see the module comment); with `waiting` they sum to totalMs. */
  held: Partial<Record<Phase | 'waiting', number>>;
  /** Session creation per segment file (ms), in the order they were created. */
  segments: { file: string; ms: number }[];
}

const MARK = 'adadiff:';
/** onnxruntime-web's files: its module (bundled or not) and its .wasm builds. */
export const RUNTIME_FILE = /\/ort[.-][^/]*\.(m?js|wasm)(\?|$)/;

const path = (url: string) => {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
};

/** `name`'s mark on the page's clock (the first one), or undefined. */
function markAt(g: GlobalTimeline, offset: number, name: string): number | undefined {
  const m = g.marks.find((e) => e.name === MARK + name);
  return m === undefined ? undefined : m.startTime + offset;
}

function spanOf(entries: ResourceEntry[], offset: number): Span | undefined {
  if (!entries.length) return undefined;
  return {
    start: Math.min(...entries.map((e) => e.startTime)) + offset,
    end: Math.max(...entries.map((e) => e.responseEnd)) + offset,
  };
}

const valid = (s: Partial<Span>): s is Span =>
  s.start !== undefined && s.end !== undefined && Number.isFinite(s.start) && Number.isFinite(s.end);

/** A run's phases, from what the page and the worker recorded. */
export function runPhases(run: ObservedRun): RunPhases {
  const spans: Partial<Record<Phase, Span>> = {};
  const put = (phase: Phase, s: Partial<Span>) => {
    if (valid(s)) spans[phase] = { start: s.start, end: Math.max(s.start, s.end) };
  };
  const segments: RunPhases['segments'] = [];
  const w = run.worker;
  // the worker's clock starts when the page creates it
  const offset = w ? w.timeOrigin - run.page.timeOrigin : 0;
  let ready: number | undefined;
  if (w) {
    const at = (name: string) => markAt(w, offset, name);
    const resources = (test: (p: string) => boolean) => w.resources.filter((r) => test(path(r.name)));
    const model = spanOf(
      resources((p) => p.startsWith(run.modelPrefix)),
      offset,
    );
    const runtime = spanOf(
      resources((p) => RUNTIME_FILE.test(p)),
      offset,
    );
    const load = at('load') ?? model?.start;
    put('page', { start: 0, end: offset });
    put('worker', { start: offset, end: load });
    put('model', { start: at('model:start') ?? model?.start, end: at('model') ?? model?.end });
    if (runtime) put('runtime-fetch', runtime);
    const started = at('runtime');
    const runtimeFrom = at('runtime:start');
    if (started !== undefined && runtimeFrom !== undefined)
      put('runtime-start', { start: Math.max(runtimeFrom, runtime?.end ?? runtimeFrom), end: started });
    const sessions = w.marks
      .filter((m) => m.name.startsWith(`${MARK}session `))
      .map((m) => ({ file: m.name.slice(`${MARK}session `.length), at: m.startTime + offset }))
      .sort((a, b) => a.at - b.at);
    const sessionsFrom = at('sessions') ?? started;
    if (sessions.length && sessionsFrom !== undefined) {
      put('sessions', { start: sessionsFrom, end: sessions[sessions.length - 1]!.at });
      let previous = sessionsFrom;
      for (const s of sessions) {
        // from its own start where the engine marks it (sessions made as their files come in), else
        // from the session before
        const from = at(`creating ${s.file}`) ?? previous;
        segments.push({ file: s.file, ms: Math.max(0, s.at - from) });
        previous = s.at;
      }
    }
    ready = at('ready');
    if (ready !== undefined && sessions.length)
      put('warm-up', { start: sessions[sessions.length - 1]!.at, end: ready });
    const step = at('step 1');
    const generated = at('generated');
    if (step !== undefined && generated !== undefined) {
      put('first-step', { start: run.clickAt, end: step });
      put('steps', { start: step, end: generated });
      put('image', { start: generated, end: run.imageAt });
    }
  }
  put('hand-over', { start: ready ?? run.readyAt, end: run.readyAt });
  // without the worker's marks: Generate to the image in one
  if (!spans['first-step']) put('image', { start: run.clickAt, end: run.imageAt });
  const totalMs = run.imageAt;
  return { totalMs, spans, held: held(spans, totalMs), segments };
}

/** Each moment of [0, total] given to the phase under way that ends last (module comment). */
export function held(spans: Partial<Record<Phase, Span>>, totalMs: number): RunPhases['held'] {
  const clip = (v: number) => Math.min(Math.max(v, 0), totalMs);
  const phases = PHASES.filter((p) => spans[p]).map((p, order) => ({
    phase: p,
    order,
    start: clip(spans[p]!.start),
    end: clip(spans[p]!.end),
  }));
  const cuts = [...new Set([0, totalMs, ...phases.flatMap((p) => [p.start, p.end])])].sort((a, b) => a - b);
  const out: RunPhases['held'] = {};
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [a, b] = [cuts[i]!, cuts[i + 1]!];
    const owner = phases
      .filter((p) => p.start <= a && p.end >= b && p.end > p.start)
      .sort((x, y) => y.end - x.end || y.order - x.order)[0];
    const key = owner?.phase ?? 'waiting';
    out[key] = (out[key] ?? 0) + (b - a);
  }
  return out;
}

/** The median and the extremes of several runs' values. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export interface PhaseSummary {
  phase: Phase | 'waiting';
  /** Runs in which the phase was observed. */
  runs: number;
  /** Medians of its start and end on the page's clock (absent for `waiting`). */
  start?: number;
  end?: number;
  /** The time it held the run (module comment), over every run (0 where not observed). */
  held: Spread;
}

/** Several runs' phases: per phase its median span and held time, per segment its median time. */
export function summarisePhases(runs: RunPhases[]): {
  phases: PhaseSummary[];
  segments: { file: string; ms: number }[];
} {
  const phases: PhaseSummary[] = [];
  for (const phase of [...PHASES, 'waiting'] as const) {
    const seen = runs.filter((r) => (phase === 'waiting' ? r.held.waiting : r.spans[phase]) !== undefined);
    if (!seen.length) continue;
    const s: PhaseSummary = { phase, runs: seen.length, held: spread(runs.map((r) => r.held[phase] ?? 0)) };
    if (phase !== 'waiting') {
      s.start = median(seen.map((r) => r.spans[phase]!.start));
      s.end = median(seen.map((r) => r.spans[phase]!.end));
    }
    phases.push(s);
  }
  const files = [...new Set(runs.flatMap((r) => r.segments.map((s) => s.file)))];
  const segments = files.map((file) => ({
    file,
    ms: median(runs.flatMap((r) => r.segments.filter((s) => s.file === file).map((s) => s.ms))),
  }));
  return { phases, segments };
}
