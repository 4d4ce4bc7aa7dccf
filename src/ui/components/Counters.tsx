import type { Totals } from '../../runtime';

function pct(v: number): string {
  return `${(100 * v).toFixed(1)} %`;
}

/** The saving's three sources, side by side (accounting.ts defines them). */
const SHARES = [
  {
    key: 'savedByExits',
    label: 'by exits',
    title: 'Blocks the uncertainty exits skipped in passes that ran: what θ buys',
    testId: 'saved-exits',
  },
  {
    key: 'savedBySchedule',
    label: 'by guidance schedule',
    title:
      'Unconditional passes the guidance schedule did not run (unguided steps, reused estimates), at any θ',
    testId: 'saved-schedule',
  },
  {
    key: 'savedByFixedDepth',
    label: 'by fixed depth',
    title: 'Blocks left out by a depth fixed ahead (the shallow unconditional pass), at any θ',
    testId: 'saved-fixed-depth',
  },
] as const satisfies readonly { key: keyof Totals; label: string; title: string; testId: string }[];

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
      {SHARES.map(({ key, label, title, testId }) => (
        <div key={key} title={title}>
          <dt>{label}</dt>
          <dd data-testid={testId} data-value={totals[key]}>
            {pct(totals[key])}
          </dd>
        </div>
      ))}
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
