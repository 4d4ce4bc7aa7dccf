import { useEffect } from 'react';
import { encodePng, pngScale } from '../runtime/image';
import { syncUrl } from './actions';
import { BlockChart } from '../components/BlockChart';
import { Controls } from './components/Controls';
import { Counters } from './components/Counters';
import { ImageCanvas } from '../components/ImageCanvas';
import { LoadPanel } from './components/LoadPanel';
import { ModelPicker } from './components/ModelPicker';
import { readCatalog } from './state/catalog';
import { UncertaintyChart } from '../components/UncertaintyChart';
import { useModel } from './state/model';
import { settingsFor, useParams } from './state/params';
import { useRun } from './state/run';

function download(bytes: Uint8Array, name: string) {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function BackendBadge() {
  const { backend, backendReason, status } = useModel();
  if (status !== 'ready' || !backend) return null;
  return (
    <span
      className={`badge ${backend}`}
      title={backendReason}
      data-testid="backend-badge"
      data-backend={backend}
    >
      {backend === 'webgpu' ? 'WebGPU' : 'wasm (CPU)'}
      <span className="visually-hidden">: {backendReason}</span>
    </span>
  );
}

function ModelInfo() {
  const m = useModel();
  if (m.status !== 'ready' || !m.manifest) return null;
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  return (
    <p
      className="muted"
      data-testid="model-info"
      data-loaded={m.loaded}
      data-total={m.total}
      data-downloaded={m.downloadedBytes}
      data-complete={m.complete}
    >
      {m.manifest.name}: {mb(m.total)} of {m.manifest.storage ?? 'fp32'} weights
      {m.complete && (
        <>
          {' '}
          {m.downloadedBytes === 0 ? 'from the browser cache' : `downloaded (${mb(m.downloadedBytes)})`},
          loaded in {(m.loadMs / 1000).toFixed(1)} s
        </>
      )}
      .
      {m.manifest.data?.attribution && (
        <span data-testid="attribution"> Training images: {m.manifest.data.attribution}.</span>
      )}
    </p>
  );
}

export function App() {
  const manifest = useModel((s) => s.manifest);
  const status = useModel((s) => s.status);
  const cacheNotice = useModel((s) => s.cacheNotice);
  const ignored = useParams((s) => s.ignored);
  const params = useParams();
  const run = useRun();
  useEffect(() => {
    const unsubscribe = syncUrl();
    void readCatalog(); // the model is already loading (start.tsx)
    return unsubscribe;
  }, []);

  const img = manifest?.image;
  const last = run.rows[run.rows.length - 1];
  const shown = run.image ?? run.preview;
  return (
    <div className="page">
      <header>
        <h1>AdaDiff Web</h1>
        <p className="tagline">
          A diffusion model that ends each step at the first block confident enough — in your browser.
        </p>
        <BackendBadge />
        <ModelPicker />
      </header>
      <ModelInfo />
      {ignored.length > 0 && (
        <p className="notice" role="status">
          Ignored invalid link parameters: {ignored.join(', ')}.
        </p>
      )}
      {cacheNotice && (
        <p className="notice" role="status" data-testid="cache-notice">
          {cacheNotice}
        </p>
      )}
      <LoadPanel />
      {manifest && img && status === 'ready' && (
        <main>
          <section aria-label="Parameters">
            <Controls manifest={manifest} />
          </section>
          <section aria-label="Result" className="result">
            <div className="images">
              <figure>
                <ImageCanvas
                  image={shown}
                  {...img}
                  label={run.image ? 'generated image' : 'image forming'}
                  testId="image"
                />
                <figcaption>
                  {run.status === 'running' && run.phase === 'adaptive'
                    ? `Step ${run.rows.length} of ${run.steps}`
                    : run.image
                      ? `Adaptive, θ = ${run.threshold}`
                      : 'No image yet'}
                </figcaption>
              </figure>
              {run.compare && (
                <>
                  <figure>
                    <ImageCanvas
                      image={run.compare.full}
                      {...img}
                      label="full-depth image"
                      testId="image-full"
                    />
                    <figcaption>Full depth</figcaption>
                  </figure>
                  <figure>
                    <ImageCanvas
                      image={run.image}
                      diffWith={run.compare.full}
                      {...img}
                      label="pixel difference"
                      testId="image-diff"
                    />
                    <figcaption data-testid="compare-stats">
                      |difference|: mean {run.compare.meanAbsDiff.toFixed(4)}, PSNR{' '}
                      {Number.isFinite(run.compare.psnr) ? `${run.compare.psnr.toFixed(1)} dB` : '∞'}
                    </figcaption>
                  </figure>
                </>
              )}
              {run.status === 'running' && run.phase === 'full' && (
                <p className="muted">Running full depth…</p>
              )}
            </div>
            <div className="status" role="status" data-testid="run-status" data-status={run.status}>
              {run.status === 'error' && <span className="error-text">{run.error}</span>}
              {run.status === 'cancelled' && 'Cancelled.'}
              {run.status === 'done' &&
                run.firstImageMs !== null &&
                `Done in ${(run.firstImageMs / 1000).toFixed(2)} s.`}
            </div>
            {run.image && (
              <button
                type="button"
                onClick={() =>
                  download(
                    encodePng(run.image!, manifest, pngScale(manifest)),
                    `${manifest.id}-c${run.classIndex}-s${run.seed}.png`,
                  )
                }
              >
                Download PNG
              </button>
            )}
            <Counters totals={run.totals} running={run.status === 'running'} />
            <BlockChart rows={run.rows} steps={run.steps || 1} numBlocks={manifest.architecture.numBlocks} />
            <UncertaintyChart
              uncertainties={last?.passes[0]?.uncertainties ?? []}
              numBlocks={manifest.architecture.numBlocks}
              threshold={run.status === 'idle' ? settingsFor(params, manifest).threshold : run.threshold}
            />
          </section>
        </main>
      )}
    </div>
  );
}
