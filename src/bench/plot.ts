/** A small line plot as SVG, one line per series (no plotting dependency for a few charts). */
export interface PlotPoint {
  x: number;
  y: number;
  label?: string;
}

export interface PlotSeries {
  name: string;
  points: PlotPoint[];
  color: string;
  dashed?: boolean;
}

/** A small line plot as SVG, one line per series with a legend (no plotting dependency for a few charts). */
export function svgPlot(
  data: PlotPoint[] | PlotSeries[],
  opts: { title: string; xLabel: string; yLabel: string; refY?: { y: number; label: string } },
): string {
  const series: PlotSeries[] =
    data.length && 'points' in data[0]!
      ? (data as PlotSeries[])
      : [{ name: '', points: data as PlotPoint[], color: '#3552d6' }];
  const W = 520;
  const legendH = series.some((s) => s.name) ? 16 * series.length + 4 : 0;
  const H = 300 + legendH;
  const m = { l: 60, r: 20, t: 36, b: 48 + legendH };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y).concat(opts.refY ? [opts.refY.y] : []);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [0, Math.max(...ys) * 1.1 || 1];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => y0 + f * (y1 - y0));
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => x0 + f * (x1 - x0));
  const lines = series.map((s) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    const path = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    return `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>
${pts.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"/>${p.label ? `<text x="${(sx(p.x) + 5).toFixed(1)}" y="${(sy(p.y) - 6).toFixed(1)}">${esc(p.label)}</text>` : ''}`).join('\n')}`;
  });
  const legend = series
    .filter((s) => s.name)
    .map((s, i) => {
      const x = m.l;
      const y = H - legendH + 6 + 16 * i;
      const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
      return `<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/><text x="${x + 28}" y="${y + 4}">${esc(s.name)}</text>`;
    });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="13">${esc(opts.title)}</text>
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>
<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>
${ticks.map((v) => `<text x="${m.l - 6}" y="${sy(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`).join('\n')}
${xTicks.map((v) => `<text x="${sx(v)}" y="${H - m.b + 14}" text-anchor="middle">${v.toPrecision(2)}</text>`).join('\n')}
<text x="${W / 2}" y="${H - m.b + 30}" text-anchor="middle">${esc(opts.xLabel)}</text>
<text x="14" y="${(H - legendH) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - legendH) / 2})">${esc(opts.yLabel)}</text>
${opts.refY ? `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(opts.refY.y)}" y2="${sy(opts.refY.y)}" stroke="#b3261e" stroke-dasharray="4 3"/><text x="${W - m.r}" y="${sy(opts.refY.y) - 4}" text-anchor="end" fill="#b3261e">${esc(opts.refY.label)}</text>` : ''}
${lines.join('\n')}
${legend.join('\n')}
</svg>
`;
}
