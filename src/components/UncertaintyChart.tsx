interface Props {
  uncertainties: number[];
  numBlocks: number;
  threshold: number;
}

/** The current step's uncertainty per block against θ: the first bar under the line is the exit. */
export function UncertaintyChart({ uncertainties, numBlocks, threshold }: Props) {
  const w = numBlocks * 10;
  const h = 60;
  const max = Math.max(0.5, threshold * 1.2, ...uncertainties);
  const y = (v: number) => h - (v / max) * h;
  return (
    <figure className="chart">
      <figcaption>Uncertainty per block, this step (line: θ = {threshold.toFixed(3)})</figcaption>
      <svg
        viewBox={`0 0 ${w} ${h}`}
        width="100%"
        style={{ aspectRatio: `${w} / ${h}`, maxHeight: '8rem' }}
        role="img"
        aria-label={`uncertainty by block: ${uncertainties.map((u) => u.toFixed(3)).join(', ')}`}
        data-testid="uncertainty-chart"
      >
        {uncertainties.map((u, i) => (
          <rect
            key={i}
            x={i * 10 + 1}
            y={y(u)}
            width={8}
            height={h - y(u)}
            className={u <= threshold ? 'below' : 'above'}
          />
        ))}
        <line x1={0} x2={w} y1={y(threshold)} y2={y(threshold)} className="threshold-line" />
      </svg>
    </figure>
  );
}
