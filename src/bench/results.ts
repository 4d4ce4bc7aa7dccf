/**
 * Where saved results live and what they are called. Each model has a folder, docs/results/<model id>/,
 * and each file there starts with the weights it ran on (`step30500-bench-node-wasm.json`), so a run on
 * newer weights lands beside the older one instead of replacing it; BENCHMARKS.md shows the newest.
 * docs/results/README.md indexes every file (`npm run docs:index`).
 */

/** The results folder, relative to the folder that holds BENCHMARKS.md. */
export const resultsFolder = (modelId: string): string => `docs/results/${modelId}`;

/** The plots BENCHMARKS.md shows, relative to the model's results folder. */
export const PLOTS = {
  time: (place: string) => `plots/time-${place}.svg`,
  qualityVsSaved: 'plots/quality-vs-saved.svg',
  fidVsSaved: 'plots/fid-vs-saved.svg',
  frontier: 'plots/frontier.svg',
} as const;

/** "step30500-": the weights a file's results come from; nothing for reports that do not record them. */
export const weightsPrefix = (step: number | undefined): string => (step === undefined ? '' : `step${step}-`);

/** A saved result and its file name in the model's results folder. */
export interface SavedResult<T> {
  report: T;
  file: string;
}

/**
 * The run on the newest weights for each key (e.g. each place a benchmark ran); a report that does not
 * record its weights counts as the oldest, and between runs on the same weights the later file name wins.
 */
export function newestPerKey<T>(
  saved: SavedResult<T>[],
  key: (report: T) => string,
  step: (report: T) => number | undefined,
): SavedResult<T>[] {
  const newest = new Map<string, SavedResult<T>>();
  for (const s of [...saved].sort((a, b) => a.file.localeCompare(b.file))) {
    const k = key(s.report);
    const held = newest.get(k);
    if (!held || (step(s.report) ?? -1) >= (step(held.report) ?? -1)) newest.set(k, s);
  }
  return [...newest.values()];
}
