import type { StepRow } from '../state/run';

interface Props {
  rows: StepRow[];
  steps: number;
  numBlocks: number;
}

/**
 * Step × block: which blocks ran at each sampling step (darker = both guidance passes ran it).
 * The early-exit pattern over the trajectory — shallow at noisy steps, deep late — shows here.
 */
export function BlockChart({ rows, steps, numBlocks }: Props) {
  const cell = 12;
  const w = Math.max(steps, 1) * cell;
  const h = numBlocks * cell;
  // a step that skips or reuses the unconditional pass runs one pass where guided steps run two
  const passes = Math.max(1, ...rows.map((r) => samplesRun(r, 0)));
  return (
    <figure className="chart">
      <figcaption>Blocks run at each step (bottom = block 1)</figcaption>
      <svg
        viewBox={`0 0 ${w} ${h}`}
        width="100%"
        preserveAspectRatio="none"
        style={{ aspectRatio: `${w} / ${h}`, maxHeight: '14rem' }}
        role="img"
        aria-label={`${rows.length} of ${steps} steps; exits per step: ${rows.map((r) => r.passes.map((p) => p.exitBlock + 1).join('/')).join(', ')}`}
        data-testid="block-chart"
      >
        {rows.map((row, k) =>
          Array.from({ length: numBlocks }, (_, i) => {
            const ran = samplesRun(row, i);
            if (ran === 0) return null;
            return (
              <rect
                key={`${k}-${i}`}
                x={k * cell + 1}
                y={h - (i + 1) * cell + 1}
                width={cell - 2}
                height={cell - 2}
                className={ran === passes ? 'ran-all' : 'ran-some'}
              />
            );
          }),
        )}
      </svg>
    </figure>
  );
}

/** How many guidance passes ran block i at this step (a batched pass runs both). */
function samplesRun(row: StepRow, i: number): number {
  return row.passes.reduce((n, p) => n + (p.exitBlock < i ? 0 : p.label === 'batch' ? 2 : 1), 0);
}
