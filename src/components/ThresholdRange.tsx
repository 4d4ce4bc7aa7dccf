/** The θ slider, one definition for the page and the widget so their ranges never drift apart. */
interface Props {
  value: number;
  onChange: (threshold: number) => void;
  id?: string;
  describedBy?: string;
  disabled?: boolean;
}

/**
 * The slider's upper end: it keeps 0.005 steps usable; the shipped model's useful range is 0–0.2
 * (its calibration: docs/models/fmnist-uvit13.md).
 */
export const THRESHOLD_MAX = 0.5;

export function ThresholdRange({ value, onChange, id, describedBy, disabled }: Props) {
  return (
    <input
      id={id}
      type="range"
      min={0}
      max={THRESHOLD_MAX}
      step={0.005}
      value={value}
      disabled={disabled}
      aria-describedby={describedBy}
      onChange={(e) => onChange(Number(e.target.value))}
    />
  );
}
