/** What one generation looks like while it happens and after: the state the page and the widget render. */
import type { StoreApi } from 'zustand/vanilla';
import type { GenerateResult, StepEvent, Totals } from '../runtime';

export type RunStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

export type StepRow = Pick<StepEvent, 't' | 'passes' | 'scheduleSkipped'>;

export interface CompareResult {
  full: Float32Array;
  fullTotals: Totals;
  /** Mean absolute pixel difference in [0, 2] units and PSNR (dB) against full depth. */
  meanAbsDiff: number;
  psnr: number;
}

export interface RunState {
  status: RunStatus;
  /** Which image is being made: the adaptive one, or the full-depth comparison. */
  phase: 'adaptive' | 'full';
  steps: number;
  rows: StepRow[];
  totals: Totals | null;
  preview: Float32Array | null;
  image: Float32Array | null;
  result: GenerateResult | null;
  compare: CompareResult | null;
  threshold: number;
  seed: number;
  classIndex: number;
  error: string | null;
  errorName: string | null;
  /** The error itself, for callers that rethrow it (the engine API). */
  failure: unknown;
  firstImageMs: number | null;
}

export const initialRun: RunState = {
  status: 'idle',
  phase: 'adaptive',
  steps: 0,
  rows: [],
  totals: null,
  preview: null,
  image: null,
  result: null,
  compare: null,
  threshold: 0,
  seed: 0,
  classIndex: 0,
  error: null,
  errorName: null,
  failure: null,
  firstImageMs: null,
};

/** The image's difference from another, in the manifest's value range (peak-to-peak `span`). */
export function compareImages(
  a: Float32Array,
  b: Float32Array,
  span = 2,
): { meanAbsDiff: number; psnr: number } {
  let abs = 0;
  let sq = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    abs += Math.abs(d);
    sq += d * d;
  }
  const mse = sq / a.length;
  return { meanAbsDiff: abs / a.length, psnr: mse === 0 ? Infinity : 10 * Math.log10((span * span) / mse) };
}

/**
 * The page and the widget redraw their step chart, counters and preview on every store update, and
 * on a 2-core machine that drawing shares the CPU with the worker's sampling. Chromium wasm, the
 * shipped model: one update per step kept the page's main thread busy ~240 ms per image; one per
 * 100 ms, ~135 ms (a page that drew nothing while running: ~40 ms). So a run's steps reach the store
 * at most once per this interval, the first at once and the rest together; callers' onStep still
 * sees every step as it comes.
 */
export const STEP_UPDATE_MS = 100;

/** A run's steps, added one by one and written to the run store in batches (STEP_UPDATE_MS). */
export function stepsInto(run: StoreApi<RunState>, stale: () => boolean) {
  let pending: StepEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastWrite = -Infinity;
  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    lastWrite = performance.now();
    const events = pending;
    pending = [];
    if (events.length === 0 || stale()) return;
    const last = events[events.length - 1]!;
    run.setState((s) => ({
      rows: [
        ...s.rows,
        ...events.map((e) => ({ t: e.t, passes: e.passes, scheduleSkipped: e.scheduleSkipped })),
      ],
      totals: last.totals,
      preview: events.reduce<Float32Array | null>((shown, e) => e.preview ?? shown, s.preview),
    }));
  };
  const add = (e: StepEvent) => {
    pending.push(e);
    const wait = lastWrite + STEP_UPDATE_MS - performance.now();
    if (wait <= 0) flush();
    else timer ??= setTimeout(flush, wait);
  };
  return { add, flush };
}
