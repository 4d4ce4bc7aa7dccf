import { loadModelIntent } from '../actions';
import { forgetRefusal, useConsent } from '../state/consent';
import { useModel } from '../state/model';

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Download progress, then a failure with what went wrong and a retry. The model can generate before
 * its deeper blocks are in: that last stretch is a quiet line, not a blocking panel.
 */
export function LoadPanel() {
  const m = useModel();
  const consent = useConsent();
  if (consent.asking) {
    return (
      <div className="notice" role="alertdialog" aria-labelledby="consent-title" data-testid="consent">
        <strong id="consent-title">Load a model from {consent.asking}?</strong>
        <p>
          This link asks the page to download and run a model from another site. Only continue if you trust{' '}
          {consent.asking}.
        </p>
        <button type="button" className="primary" onClick={() => consent.answer('allow')}>
          Load it
        </button>{' '}
        <button type="button" onClick={() => consent.answer('deny')}>
          Don’t load
        </button>
      </div>
    );
  }
  if (m.status === 'error') {
    return (
      <div className="error" role="alert" data-testid="load-error">
        <strong>The model could not be loaded.</strong>
        <p>{m.error}</p>
        <button
          type="button"
          onClick={() => {
            // a refused origin is asked about again
            forgetRefusal(m.url, location.href);
            void loadModelIntent();
          }}
        >
          Retry
        </button>
      </div>
    );
  }
  if (m.status === 'ready' && !m.complete) {
    return (
      <p className="muted" data-testid="load-rest">
        {m.loaded < m.total
          ? `The deeper blocks are still downloading (${mb(m.loaded)} of ${mb(m.total)}).`
          : 'The deeper blocks are being prepared.'}{' '}
        Generate now if you like: the first steps exit before them, and a step that needs one waits for it.
      </p>
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
