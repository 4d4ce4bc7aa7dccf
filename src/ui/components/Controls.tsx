import type { CalibrationRow, Manifest } from '../../runtime';
import { MAX_SEED } from '../../runtime/params';
import { cancelIntent, generateIntent, setBackendIntent } from '../actions';
import { useParams } from '../state/params';
import { useRun } from '../state/run';
import { ThresholdRange } from './ThresholdRange';

/** The manifest's measured row nearest to θ, if the model was calibrated. */
export function calibrationFor(rows: CalibrationRow[], threshold: number): CalibrationRow | null {
  let best: CalibrationRow | null = null;
  for (const r of rows)
    if (!best || Math.abs(r.threshold - threshold) < Math.abs(best.threshold - threshold)) best = r;
  return best;
}

/**
 * What the slider's θ costs, in the calibration's words. FID alone means nothing to a reader (it
 * depends on the sample size), so it is given relative to full depth, as is agreement.
 */
export function calibrationSummary(rows: CalibrationRow[], threshold: number): string {
  const cal = calibrationFor(rows, threshold);
  if (!cal) return 'Higher θ exits earlier: faster, less exact. This model has no calibration table yet.';
  const full = rows.find((r) => r.threshold === 0);
  const parts = [
    `Measured near θ = ${cal.threshold}: ${(100 * cal.savedFraction).toFixed(0)} % blocks saved`,
  ];
  if (cal.agreement !== undefined)
    parts.push(
      `class agreement ${(100 * cal.agreement).toFixed(0)} %` +
        (full?.agreement !== undefined && cal !== full
          ? ` (full depth ${(100 * full.agreement).toFixed(0)} %)`
          : ''),
    );
  if (cal.fid !== undefined)
    parts.push(
      full?.fid && cal !== full
        ? `FID ${(cal.fid / full.fid).toFixed(2)}× full depth`
        : `FID ${cal.fid.toFixed(1)}`,
    );
  return `${parts.join(', ')}.`;
}

function num(v: string, fallback: number): number {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : fallback;
}

export function Controls({ manifest }: { manifest: Manifest }) {
  const p = useParams();
  const running = useRun((s) => s.status === 'running');
  return (
    <form
      className="controls"
      // the browser's own checks would block Generate without a word (a default guidance of 1.25
      // against step 0.5 did); parameters are validated by the runtime, which says what is wrong
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!running) void generateIntent();
      }}
    >
      <label>
        Class
        <select value={p.classIndex} onChange={(e) => p.set({ classIndex: Number(e.target.value) })}>
          {manifest.classes.map((c, i) => (
            <option key={c} value={i}>
              {c}
            </option>
          ))}
        </select>
      </label>
      <div className="seed">
        <label>
          Seed
          <input
            type="number"
            min={0}
            max={MAX_SEED}
            step={1}
            value={p.seed}
            onChange={(e) =>
              p.set({ seed: Math.min(MAX_SEED, Math.max(0, Math.floor(num(e.target.value, p.seed)))) })
            }
          />
        </label>
        <button type="button" onClick={() => p.set({ seed: Math.floor(Math.random() * MAX_SEED) })}>
          Random seed
        </button>
      </div>
      <label>
        Steps
        <input
          type="number"
          min={1}
          max={200}
          value={p.steps}
          onChange={(e) =>
            p.set({ steps: Math.min(200, Math.max(1, Math.floor(num(e.target.value, p.steps)))) })
          }
        />
      </label>
      <label>
        Sampler
        <select value={p.sampler} onChange={(e) => p.set({ sampler: e.target.value as typeof p.sampler })}>
          <option value="ddim">DDIM</option>
          <option value="dpmpp2m">DPM-Solver++ (2M)</option>
          <option value="ddpm">DDPM (ancestral)</option>
        </select>
      </label>
      <label>
        Guidance
        <input
          type="number"
          min={0}
          max={30}
          step="any"
          value={p.guidance}
          onChange={(e) => p.set({ guidance: Math.min(30, Math.max(0, num(e.target.value, p.guidance))) })}
        />
      </label>
      <div className="threshold">
        <label htmlFor="threshold">Uncertainty threshold θ</label>{' '}
        <output htmlFor="threshold" data-testid="threshold-value">
          {p.threshold.toFixed(3)}
        </output>
        <ThresholdRange
          id="threshold"
          value={p.threshold}
          onChange={(threshold) => p.set({ threshold })}
          describedBy="threshold-help"
        />
        <p id="threshold-help" className="muted">
          {p.threshold === 0
            ? 'θ = 0: every block runs (full depth).'
            : calibrationSummary(manifest.calibration, p.threshold)}
        </p>
      </div>
      <label className="checkbox">
        <input type="checkbox" checked={p.compare} onChange={(e) => p.set({ compare: e.target.checked })} />
        Compare with full depth
      </label>
      <label>
        Backend
        <select
          value={p.backend}
          onChange={(e) => void setBackendIntent(e.target.value as typeof p.backend)}
          disabled={running}
        >
          <option value="auto">Auto</option>
          <option value="webgpu">WebGPU</option>
          <option value="wasm">wasm (CPU)</option>
        </select>
      </label>
      <div className="actions">
        <button type="submit" disabled={running} className="primary">
          Generate
        </button>
        <button type="button" disabled={!running} onClick={() => void cancelIntent()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
