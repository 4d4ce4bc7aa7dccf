import type { Totals } from '../../runtime';

function pct(v: number): string {
  return `${(100 * v).toFixed(1)} %`;
}

/**
 * Blocks run and skipped against full depth, the skipped blocks by source side by side (what the
 * exits decided, what the guidance schedule never ran, what a fixed depth left out), FLOPs saved,
 * elapsed and the estimated full-depth time.
 */
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
      <div title="Blocks the uncertainty exits skipped in passes that ran: what θ buys">
        <dt>by exits</dt>
        <dd data-testid="saved-exits" data-value={totals.savedByExits}>
          {pct(totals.savedByExits)}
        </dd>
      </div>
      <div title="Unconditional passes the guidance schedule did not run (unguided steps, reused estimates), at any θ">
        <dt>by guidance schedule</dt>
        <dd data-testid="saved-schedule" data-value={totals.savedBySchedule}>
          {pct(totals.savedBySchedule)}
        </dd>
      </div>
      <div title="Blocks left out by a depth fixed ahead (the shallow unconditional pass), at any θ">
        <dt>by fixed depth</dt>
        <dd data-testid="saved-fixed-depth" data-value={totals.savedByFixedDepth}>
          {pct(totals.savedByFixedDepth)}
        </dd>
      </div>
      <div>
        <dt>FLOPs saved</dt>
        <dd data-testid="flops-saved">
          {pct(totals.flopsSavedFraction)} (exits {pct(totals.flopsSavedByExits)})
        </dd>
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
