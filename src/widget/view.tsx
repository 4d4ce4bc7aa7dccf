/** The widget's face: a compact version of the page's view, over the widget's generator session. */
import { useStore } from 'zustand';
import type { StoreApi } from 'zustand/vanilla';
import { BlockChart } from '../components/BlockChart';
import { ImageCanvas } from '../components/ImageCanvas';
import { ThresholdRange } from '../components/ThresholdRange';
import type { Totals } from '../runtime';
import type { Session } from '../session/session';

/** What only the widget holds: its slider's θ (null: the model's own) and whether it shows the chart. */
export interface WidgetLocal {
  threshold: number | null;
  compact: boolean;
}

export interface WidgetActions {
  generate(): void;
  cancel(): void;
  setThreshold(theta: number): void;
}

export function WidgetView(props: {
  session: Session;
  local: StoreApi<WidgetLocal>;
  actions: WidgetActions;
}) {
  const { session, local, actions } = props;
  const model = useStore(session.model);
  const run = useStore(session.run);
  const { threshold: chosen, compact } = useStore(local);
  const img = model.manifest?.image;
  // until a model has loaded there is no θ to show: its manifest holds the default
  const threshold = chosen ?? model.manifest?.defaults.threshold ?? null;
  const running = run.status === 'running';
  // after a failed load, Generate tries the load again
  const canPress = (model.status === 'ready' || model.status === 'error') && !running;
  const error = run.status === 'error' ? run.error : model.status === 'error' ? model.error : null;
  const image = run.image ?? run.preview;
  return (
    <div className="widget" part="container">
      {img && image ? (
        <ImageCanvas image={image} {...img} label="generated image" testId="image" />
      ) : (
        <div className="image placeholder" role="img" aria-label="no image yet" data-testid="placeholder">
          {model.status === 'loading' ? 'Loading the model…' : 'Press Generate'}
        </div>
      )}
      {model.status === 'loading' && (
        <label>
          Loading model
          <progress max={model.total || 1} value={model.loaded} />
        </label>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {threshold !== null && (
        <label>
          <span>
            Uncertainty threshold θ = <output>{threshold.toFixed(3)}</output>
          </span>
          <ThresholdRange value={threshold} onChange={(theta) => actions.setThreshold(theta)} />
        </label>
      )}
      <div className="row">
        <button type="button" className="primary" disabled={!canPress} onClick={() => actions.generate()}>
          Generate
        </button>
        <button type="button" disabled={!running} onClick={() => actions.cancel()}>
          Cancel
        </button>
      </div>
      <p
        className="savings"
        aria-live="polite"
        data-testid="savings"
        data-value={run.totals?.savedFraction ?? ''}
        data-exits={run.totals?.savedByExits ?? ''}
        data-schedule={run.totals?.savedBySchedule ?? ''}
        data-fixed-depth={run.totals?.savedByFixedDepth ?? ''}
      >
        {run.totals ? savingsText(run.totals) : 'Blocks saved appear here.'}
      </p>
      {!compact && model.manifest && (
        <BlockChart
          rows={run.rows}
          steps={run.steps || 1}
          numBlocks={model.manifest.architecture.numBlocks}
        />
      )}
      {model.backend && (
        <p className="muted">Backend: {model.backend === 'webgpu' ? 'WebGPU' : 'wasm (CPU)'}</p>
      )}
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
