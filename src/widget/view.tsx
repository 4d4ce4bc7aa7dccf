/** The widget's face: a compact version of the page's view, over a per-instance store. */
import { useStore } from 'zustand';
import type { StoreApi } from 'zustand/vanilla';
import type { Manifest, Totals } from '../runtime';
import { BlockChart } from '../ui/components/BlockChart';
import { ImageCanvas } from '../ui/components/ImageCanvas';
import { ThresholdRange } from '../ui/components/ThresholdRange';
import type { StepRow } from '../ui/state/run';

export interface WidgetState {
  status: 'loading' | 'ready' | 'running' | 'error';
  loaded: number;
  total: number;
  manifest: Manifest | null;
  backend: string;
  threshold: number;
  image: Float32Array | null;
  rows: StepRow[];
  steps: number;
  totals: Totals | null;
  error: string | null;
  compact: boolean;
}

export interface WidgetActions {
  generate(): void;
  cancel(): void;
  setThreshold(theta: number): void;
}

export function WidgetView({ store, actions }: { store: StoreApi<WidgetState>; actions: WidgetActions }) {
  const s = useStore(store);
  const img = s.manifest?.image;
  return (
    <div className="widget" part="container">
      {img ? (
        <ImageCanvas image={s.image} {...img} label="generated image" testId="image" />
      ) : (
        <div className="image" role="img" aria-label="no image yet" />
      )}
      {s.status === 'loading' && (
        <label>
          Loading model
          <progress max={s.total || 1} value={s.loaded} />
        </label>
      )}
      {s.error && (
        <p className="error" role="alert">
          {s.error}
        </p>
      )}
      <label>
        <span>
          Uncertainty threshold θ = <output>{s.threshold.toFixed(3)}</output>
        </span>
        <ThresholdRange value={s.threshold} onChange={(threshold) => actions.setThreshold(threshold)} />
      </label>
      <div className="row">
        <button
          type="button"
          className="primary"
          disabled={s.status !== 'ready'}
          onClick={() => actions.generate()}
        >
          Generate
        </button>
        <button type="button" disabled={s.status !== 'running'} onClick={() => actions.cancel()}>
          Cancel
        </button>
      </div>
      <p
        className="savings"
        aria-live="polite"
        data-testid="savings"
        data-value={s.totals?.savedFraction ?? ''}
        data-exits={s.totals?.savedByExits ?? ''}
        data-schedule={s.totals?.savedBySchedule ?? ''}
        data-fixed-depth={s.totals?.savedByFixedDepth ?? ''}
      >
        {s.totals ? savingsText(s.totals) : 'Blocks saved appear here.'}
      </p>
      {!s.compact && s.manifest && (
        <BlockChart rows={s.rows} steps={s.steps || 1} numBlocks={s.manifest.architecture.numBlocks} />
      )}
      {s.backend && <p className="muted">Backend: {s.backend}</p>}
    </div>
  );
}

/** The saving and its sources in one line: exits, guidance schedule, fixed depth. */
function savingsText(t: Totals): string {
  const pts = (v: number) => (100 * v).toFixed(1);
  return (
    `Blocks run ${t.blocksRun}/${t.blocksFull} · saved ${pts(t.savedFraction)} %: ` +
    `exits ${pts(t.savedByExits)}, guidance schedule ${pts(t.savedBySchedule)}, fixed depth ${pts(t.savedByFixedDepth)}`
  );
}
