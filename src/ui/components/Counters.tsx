import type { Totals } from '../../runtime';

function pct(v: number): string {
  return `${(100 * v).toFixed(1)} %`;
}

/** Blocks run/skipped, FLOPs saved, elapsed and the estimated full-depth time. */
export function Counters({ totals, running }: { totals: Totals | null; running: boolean }) {
  if (!totals) return <p className="muted">Savings appear here while the image forms.</p>;
  const skipped = totals.blocksFull - totals.blocksRun;
  // blocks cost about the same, so full depth would have taken elapsed × (all blocks / blocks run)
  const fullMs = totals.blocksRun > 0 ? (totals.wallMs * totals.blocksFull) / totals.blocksRun : 0;
  return (
    <dl className="counters" aria-live={running ? 'off' : 'polite'}>
      <div>
        <dt>Blocks run</dt>
        <dd data-testid="blocks-run">
          {totals.blocksRun} / {totals.blocksFull}
        </dd>
      </div>
      <div>
        <dt>Blocks skipped</dt>
        <dd data-testid="saved-fraction" data-value={totals.savedFraction}>
          {skipped} ({pct(totals.savedFraction)})
        </dd>
      </div>
      <div>
        <dt>FLOPs saved</dt>
        <dd>{pct(totals.flopsSavedFraction)}</dd>
      </div>
      <div>
        <dt>Elapsed</dt>
        <dd>{(totals.wallMs / 1000).toFixed(2)} s</dd>
      </div>
      <div>
        <dt>Full depth (est.)</dt>
        <dd>{(fullMs / 1000).toFixed(2)} s</dd>
      </div>
    </dl>
  );
}
