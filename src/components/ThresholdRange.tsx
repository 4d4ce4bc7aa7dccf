/** The θ slider, one definition for the page and the widget so their ranges never drift apart. */
interface Props {
  value: number;
  onChange: (threshold: number) => void;
  id?: string;
  describedBy?: string;
  disabled?: boolean;
  /** Ticks on the track (the model's default, an official threshold), with what each is. */
  marks?: readonly { value: number; label: string }[];
}

/**
 * The slider's upper end: it keeps 0.005 steps usable; the shipped model's useful range is 0–0.2
 * (its calibration: docs/models/fmnist-uvit13.md).
 */
export const THRESHOLD_MAX = 0.5;

export function ThresholdRange({ value, onChange, id, describedBy, disabled, marks = [] }: Props) {
  const listId = id && marks.length ? `${id}-marks` : undefined;
  return (
    <>
      <input
        id={id}
        type="range"
        min={0}
        max={THRESHOLD_MAX}
        step={0.005}
        value={value}
        disabled={disabled}
        aria-describedby={describedBy}
        list={listId}
        onChange={(e) => onChange(Number(e.target.value))}
      />
      {listId && (
        <datalist id={listId} data-testid="threshold-marks">
          {marks.map((m) => (
            <option key={m.label} value={m.value} label={m.label} />
          ))}
        </datalist>
      )}
    </>
  );
}
