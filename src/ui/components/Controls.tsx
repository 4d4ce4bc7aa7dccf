import type { Manifest, PassBatching } from '../../runtime';
import {
  defaultParams,
  isConditional,
  PARAM_SPECS,
  thresholdMarks,
  type ParamSpec,
} from '../../runtime/params';
import {
  CALIBRATED_SETTINGS,
  calibrationSummary,
  changedFromCalibration,
  GUIDANCE_PASS,
} from './calibration';
import { cancelIntent, effectiveParams, generateIntent, setBackendIntent } from '../actions';
import { useSettings } from '../state/params';
import { useRun } from '../state/run';
import { ThresholdRange } from '../../components/ThresholdRange';

/** How each way of running the unconditional pass reads in the select. */
function batchingLabel(b: PassBatching, minDepth: number): string {
  switch (b) {
    case 'shallow':
      return `Shallow: stops at block ${minDepth}`;
    case 'separate':
      return 'Exits on its own uncertainty (θ)';
    case 'weighted':
      return 'Exits on its own, at θ·g/|1 − g|';
    case 'all':
      return 'One batch with the conditional pass: exits when both are confident';
    case 'any':
      return 'One batch with the conditional pass: exits when either is confident';
  }
}

function num(v: string, fallback: number): number {
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : fallback;
}

/** A field for an integer setting: what is typed is kept in range, a half-typed or empty field keeps the value. */
function IntField(props: {
  label: string;
  value: number;
  min: number;
  max: number;
  onChange: (value: number) => void;
  disabled?: boolean;
  hint?: string;
}) {
  const { label, value, min, max, onChange, disabled, hint } = props;
  return (
    <label>
      {label}
      <input
        type="number"
        min={min}
        max={max}
        step={1}
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(Math.min(max, Math.max(min, Math.floor(num(e.target.value, value)))))}
      />
      {hint && <small className="muted">{hint}</small>}
    </label>
  );
}

export function Controls({ manifest }: { manifest: Manifest }) {
  const p = useSettings(manifest);
  const running = useRun((s) => s.status === 'running');
  const modelDefaults = defaultParams(manifest);
  const changed = changedFromCalibration(effectiveParams(p, manifest), manifest);
  // every label and range comes from the parameter's descriptor, as the CLI's and the runtime's do
  const range = (spec: ParamSpec) => spec.range!(manifest)!;
  const [, maxSteps] = range(PARAM_SPECS.steps);
  const [, maxSeed] = range(PARAM_SPECS.seed);
  const [minGuidance, maxGuidance] = range(PARAM_SPECS.guidance);
  const passChanged = changed.some((k) => GUIDANCE_PASS.includes(k));
  // a model with no classes has no class to pick and nothing to guide towards
  const conditional = isConditional(manifest);
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
      {conditional && (
        <label>
          {PARAM_SPECS.classIndex.label}
          <select
            value={p.classIndex}
            data-testid="class"
            onChange={(e) => p.set({ classIndex: Number(e.target.value) })}
          >
            {manifest.classes.map((c, i) => (
              <option key={c} value={i}>
                {c}
              </option>
            ))}
          </select>
        </label>
      )}
      <div className="seed">
        <IntField
          label={PARAM_SPECS.seed.label}
          value={p.seed}
          min={0}
          max={maxSeed}
          onChange={(seed) => p.set({ seed })}
        />
        <button type="button" onClick={() => p.set({ seed: Math.floor(Math.random() * maxSeed) })}>
          Random seed
        </button>
      </div>
      <IntField
        label={PARAM_SPECS.steps.label}
        value={p.steps}
        min={1}
        max={maxSteps}
        onChange={(steps) => p.set({ steps })}
        hint={`θ calibrated at ${modelDefaults.steps} steps${p.steps !== modelDefaults.steps ? ': its figures do not hold at other step counts' : ''}`}
      />
      <label>
        {PARAM_SPECS.sampler.label}
        <select value={p.sampler} onChange={(e) => p.set({ sampler: e.target.value as typeof p.sampler })}>
          {PARAM_SPECS.sampler.values.map((v) => (
            <option key={v} value={v}>
              {PARAM_SPECS.sampler.valueLabels[v]}
            </option>
          ))}
        </select>
      </label>
      {conditional && (
        <label>
          {PARAM_SPECS.guidance.label}
          <input
            type="number"
            min={minGuidance}
            max={maxGuidance}
            step="any"
            data-testid="guidance"
            value={p.guidance}
            onChange={(e) =>
              p.set({
                guidance: Math.min(maxGuidance, Math.max(minGuidance, num(e.target.value, p.guidance))),
              })
            }
          />
        </label>
      )}
      <div className="threshold">
        <label htmlFor="threshold">{PARAM_SPECS.threshold.label}</label>{' '}
        <output htmlFor="threshold" data-testid="threshold-value">
          {p.threshold.toFixed(3)}
        </output>
        <ThresholdRange
          id="threshold"
          value={p.threshold}
          onChange={(threshold) => p.set({ threshold })}
          describedBy="threshold-help"
          marks={thresholdMarks(manifest)}
        />
        <p id="threshold-help" className="muted">
          {p.fullDepth
            ? 'Full depth: every block of both guidance passes at every step, whatever θ says.'
            : calibrationSummary(manifest.calibration, p.threshold)}
          {!p.fullDepth && changed.length > 0 && manifest.calibration.length > 0
            ? ` Measured at the model’s settings; yours differ in ${changed.map((k) => CALIBRATED_SETTINGS[k]).join(', ')}.`
            : ''}
        </p>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={p.fullDepth}
            data-testid="full-depth"
            onChange={(e) => p.set({ fullDepth: e.target.checked })}
          />
          Full depth: no exits and no guidance schedule (the reference every saving is counted against)
        </label>
      </div>
      {conditional && (
        <details className="guidance-pass" open={passChanged}>
          <summary>Guidance pass{passChanged ? ' (changed)' : ''}</summary>
          <p className="muted">
            Classifier-free guidance runs a second, unconditional pass. Most of the saving at the model’s
            default comes from running it less: shallower, on fewer steps, and not at the noisiest ones.
            {p.guidance === 1
              ? ' Guidance 1 runs no unconditional pass, so these settings do nothing.'
              : ''}{' '}
            Full depth ignores them.
          </p>
          <label>
            {PARAM_SPECS.batching.label}
            <select value={p.batching} onChange={(e) => p.set({ batching: e.target.value as PassBatching })}>
              {PARAM_SPECS.batching.values.map((b) => (
                <option key={b} value={b}>
                  {batchingLabel(b, modelDefaults.minDepth)}
                </option>
              ))}
            </select>
          </label>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={p.guidanceSchedule}
              data-testid="guidance-schedule"
              onChange={(e) => p.set({ guidanceSchedule: e.target.checked })}
            />
            Guidance schedule: guide only at t ≤ T and reuse between (off: every step guided afresh, so the
            counters show what the exits save alone)
          </label>
          <IntField
            label={PARAM_SPECS.unconditionalEvery.label}
            value={p.unconditionalEvery}
            min={1}
            max={p.steps}
            disabled={!p.guidanceSchedule}
            onChange={(unconditionalEvery) => p.set({ unconditionalEvery })}
          />
          <IntField
            label={PARAM_SPECS.guidanceMaxT.label}
            value={p.guidanceMaxT}
            min={0}
            max={range(PARAM_SPECS.guidanceMaxT)[1]}
            disabled={!p.guidanceSchedule}
            onChange={(guidanceMaxT) => p.set({ guidanceMaxT })}
          />
          <button
            type="button"
            disabled={!passChanged}
            onClick={() => {
              p.unset(['batching', 'unconditionalEvery', 'guidanceMaxT']);
              p.set({ guidanceSchedule: true });
            }}
          >
            Use the model’s settings
          </button>
        </details>
      )}
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
