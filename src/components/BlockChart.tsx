import type { PassSummary } from '../runtime';
import type { StepRow } from '../session/run';

interface Props {
  rows: StepRow[];
  steps: number;
  numBlocks: number;
}

/** What one cell of the chart shows: a block that ran, or why it did not. */
type Cell = 'ran' | 'ran-fixed' | 'skipped-exit' | 'skipped-fixed' | 'skipped-schedule';

const LEGEND: { cell: Cell; label: string }[] = [
  { cell: 'ran', label: 'ran, depth set by its exit' },
  { cell: 'ran-fixed', label: 'ran, depth fixed ahead' },
  { cell: 'skipped-exit', label: 'skipped by an exit' },
  { cell: 'skipped-fixed', label: 'skipped by a fixed depth' },
  { cell: 'skipped-schedule', label: 'pass skipped by the guidance schedule' },
];

/** The passes of one step as columns: conditional, then unconditional (or one batched pass for both). */
function columns(row: StepRow, guided: boolean): (PassSummary | 'schedule')[] {
  const cols: (PassSummary | 'schedule')[] = [...row.passes];
  if (guided && row.scheduleSkipped) cols.push('schedule');
  return cols;
}

function cellOf(col: PassSummary | 'schedule', block: number): Cell {
  if (col === 'schedule') return 'skipped-schedule';
  const ran = block <= col.exitBlock;
  if (col.depth === 'fixed') return ran ? 'ran-fixed' : 'skipped-fixed';
  return ran ? 'ran' : 'skipped-exit';
}

/**
 * Step × block: which blocks ran at each sampling step, one column per guidance pass, and why the
 * rest did not — an exit, a depth fixed ahead (the shallow unconditional pass, static baselines),
 * or the guidance schedule not running the pass at all. The savings' three sources show apart.
 */
export function BlockChart({ rows, steps, numBlocks }: Props) {
  const cell = 12;
  // two columns a step where the model guides (the conditional and the unconditional pass)
  const guided = rows.some((r) => r.passes.length > 1 || r.scheduleSkipped || r.passes[0]?.label === 'batch');
  const perStep = guided ? 2 : 1;
  const colW = cell / perStep;
  const w = Math.max(steps, 1) * cell;
  const h = numBlocks * cell;
  const present = new Set<Cell>();
  const rects = rows.flatMap((row, k) =>
    columns(row, guided).flatMap((col, j) =>
      Array.from({ length: numBlocks }, (_, i) => {
        const kind = cellOf(col, i);
        present.add(kind);
        // a batched pass runs both guidance samples: it fills the whole step
        const span = col !== 'schedule' && col.label === 'batch' ? perStep : 1;
        return (
          <rect
            key={`${k}-${j}-${i}`}
            x={k * cell + j * colW + 0.5}
            y={h - (i + 1) * cell + 1}
            width={colW * span - 1}
            height={cell - 2}
            className={kind}
          />
        );
      }),
    ),
  );
  return (
    <figure className="chart">
      <figcaption>
        Blocks at each step (bottom = block 1)
        {guided ? '; left column: conditional pass, right: unconditional' : ''}
      </figcaption>
      <svg
        viewBox={`0 0 ${w} ${h}`}
        width="100%"
        preserveAspectRatio="none"
        style={{ aspectRatio: `${w} / ${h}`, maxHeight: '14rem' }}
        role="img"
        aria-label={`${rows.length} of ${steps} steps; exits per step: ${rows.map((r) => r.passes.map((p) => p.exitBlock + 1).join('/') + (r.scheduleSkipped ? ` (unconditional pass ${r.scheduleSkipped})` : '')).join(', ')}`}
        data-testid="block-chart"
      >
        {rects}
      </svg>
      <ul className="chart-legend" data-testid="block-chart-legend">
        {LEGEND.filter((l) => rows.length === 0 || present.has(l.cell)).map((l) => (
          <li key={l.cell} data-cell={l.cell}>
            <svg width="10" height="10" aria-hidden="true">
              <rect width="10" height="10" className={l.cell} />
            </svg>{' '}
            {l.label}
          </li>
        ))}
      </ul>
    </figure>
  );
}
