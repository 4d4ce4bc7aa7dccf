/**
 * The compute accounting users see: blocks and FLOPs run against full depth (both guidance passes,
 * every block, every step), and where each skipped block's saving comes from.
 */
import type { Manifest } from './manifest';

/**
 * Where a skipped block's saving comes from, against full depth (both passes, every block, every
 * step): an adaptive exit decision in a pass that ran; the guidance schedule, which did not run a
 * pass at all (an unguided step, a reused unconditional estimate); or a depth fixed ahead (the
 * 'shallow' unconditional pass, the static and per-timestep baselines).
 */
export type SavingSource = 'exits' | 'schedule' | 'fixedDepth';
export const SAVING_SOURCES: readonly SavingSource[] = ['exits', 'schedule', 'fixedDepth'];

/** Blocks (or FLOPs) skipped against full depth, by source. */
export type SkippedBySource = Record<SavingSource, number>;

export interface Totals {
  blocksRun: number;
  blocksFull: number;
  /** Fraction of transformer blocks skipped against full depth: savedByExits + BySchedule + ByFixedDepth. */
  savedFraction: number;
  /** Blocks that adaptive exit decisions skipped in passes that ran, as a fraction of blocksFull. */
  savedByExits: number;
  /** Passes the guidance schedule did not run (unguided steps, reused unconditional estimates). */
  savedBySchedule: number;
  /** Blocks skipped because a pass's depth was fixed ahead (the shallow unconditional pass, static baselines). */
  savedByFixedDepth: number;
  blocksSkipped: SkippedBySource;
  flops: number;
  flopsFull: number;
  flopsSavedFraction: number;
  flopsSavedByExits: number;
  flopsSavedBySchedule: number;
  flopsSavedByFixedDepth: number;
  flopsSkipped: SkippedBySource;
  wallMs: number;
}

/** One pass's (or skipped pass's) share of the accounting, tagged with where its skipped blocks come from. */
export interface Counts {
  blocksRun: number;
  blocksFull: number;
  flops: number;
  flopsFull: number;
  source: SavingSource;
}

export const noneSkipped = (): SkippedBySource => ({ exits: 0, schedule: 0, fixedDepth: 0 });

export function emptyTotals(): Totals {
  return {
    blocksRun: 0,
    blocksFull: 0,
    savedFraction: 0,
    savedByExits: 0,
    savedBySchedule: 0,
    savedByFixedDepth: 0,
    blocksSkipped: noneSkipped(),
    flops: 0,
    flopsFull: 0,
    flopsSavedFraction: 0,
    flopsSavedByExits: 0,
    flopsSavedBySchedule: 0,
    flopsSavedByFixedDepth: 0,
    flopsSkipped: noneSkipped(),
    wallMs: 0,
  };
}

/** A deep copy, for events that must not change when the running totals do. */
export function copyTotals(a: Totals): Totals {
  return { ...a, blocksSkipped: { ...a.blocksSkipped }, flopsSkipped: { ...a.flopsSkipped } };
}

/**
 * Recomputes a's fractions from its counts. Each share is a fraction of the same reference
 * (blocksFull, flopsFull), so the three sum to savedFraction.
 */
function refreshFractions(a: Totals): Totals {
  const share = (skipped: number, full: number) => (full ? skipped / full : 0);
  a.savedFraction = a.blocksFull ? 1 - a.blocksRun / a.blocksFull : 0;
  a.savedByExits = share(a.blocksSkipped.exits, a.blocksFull);
  a.savedBySchedule = share(a.blocksSkipped.schedule, a.blocksFull);
  a.savedByFixedDepth = share(a.blocksSkipped.fixedDepth, a.blocksFull);
  a.flopsSavedFraction = a.flopsFull ? 1 - a.flops / a.flopsFull : 0;
  a.flopsSavedByExits = share(a.flopsSkipped.exits, a.flopsFull);
  a.flopsSavedBySchedule = share(a.flopsSkipped.schedule, a.flopsFull);
  a.flopsSavedByFixedDepth = share(a.flopsSkipped.fixedDepth, a.flopsFull);
  return a;
}

/** Adds one pass's counts to a, its skipped blocks to their source (wall time is the caller's to set). */
export function addCounts(a: Totals, b: Counts): Totals {
  a.blocksRun += b.blocksRun;
  a.blocksFull += b.blocksFull;
  a.flops += b.flops;
  a.flopsFull += b.flopsFull;
  a.blocksSkipped[b.source] += b.blocksFull - b.blocksRun;
  a.flopsSkipped[b.source] += b.flopsFull - b.flops;
  return refreshFractions(a);
}

/** Adds b's counts to a, source by source (e.g. one image's totals to a run's). */
export function addTotals(a: Totals, b: Totals): Totals {
  a.blocksRun += b.blocksRun;
  a.blocksFull += b.blocksFull;
  a.flops += b.flops;
  a.flopsFull += b.flopsFull;
  for (const source of SAVING_SOURCES) {
    a.blocksSkipped[source] += b.blocksSkipped[source];
    a.flopsSkipped[source] += b.flopsSkipped[source];
  }
  return refreshFractions(a);
}

export function passFlops(m: Manifest, blocksRun: number): number {
  const s = m.segments;
  let f = s.embed.flops + s.head.flops;
  for (let i = 0; i < blocksRun; i++) f += s.blocks[i]!.flops;
  return f;
}
