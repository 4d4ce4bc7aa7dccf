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
  const passes = rows[0]?.passes.length ?? 1;
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
            const ran = row.passes.filter((p) => p.exitBlock >= i).length;
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
