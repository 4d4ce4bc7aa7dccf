import { loadModelIntent } from '../actions';
import { useModel } from '../state/model';

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Download progress, then a failure with what went wrong and a retry. */
export function LoadPanel() {
  const m = useModel();
  if (m.status === 'error') {
    return (
      <div className="error" role="alert" data-testid="load-error">
        <strong>The model could not be loaded.</strong>
        <p>{m.error}</p>
        <button type="button" onClick={() => void loadModelIntent()}>
          Retry
        </button>
      </div>
    );
  }
  if (m.status !== 'loading') return null;
  const pct = m.total ? Math.round((100 * m.loaded) / m.total) : 0;
  return (
    <div className="loading">
      <label htmlFor="load-progress">
        {m.phase === 'prepare'
          ? 'Preparing the model…'
          : `Downloading the model: ${mb(m.loaded)} of ${mb(m.total)}`}
      </label>
      <progress id="load-progress" max={100} value={pct} data-testid="load-progress">
        {pct} %
      </progress>
    </div>
  );
}
