/**
 * docs/benchmarks/chart.svg: server CPU % of one core per viewer, and latency p99,
 * against the viewer count, one line per server. Hand-written SVG (no plotting
 * dependency): two panels, every axis logarithmic: viewers run from 1 to 300, CPU
 * per viewer from a few % at 1 viewer to ~0.2 % (where the servers differ), and
 * latency from under a millisecond to naive's unbounded queues.
 */

export interface ChartSeries {
  name: string;
  points: { viewers: number; cpuPerViewer: number; p99Ms: number }[];
}

const COLORS = ['#1f77b4', '#2ca02c', '#d62728', '#ff7f0e', '#9467bd', '#8c564b'];
const PANEL_W = 420;
const PANEL_H = 280;
const MARGIN = { left: 60, right: 20, top: 40, bottom: 50 };
const LEGEND_H = 24;

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

interface Axis {
  toPx(value: number): number;
  ticks: number[];
  label(value: number): string;
}

function logAxis(min: number, max: number, from: number, to: number, ticks: number[]): Axis {
  const lo = Math.log10(min);
  const hi = Math.log10(max);
  return { toPx: (v) => from + ((Math.log10(v) - lo) / (hi - lo || 1)) * (to - from), ticks, label: (v) => String(Number(v.toPrecision(3))) };
}

/** Powers of ten (and 2×, 5×) spanning [min, max]. */
function decadeTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) for (const m of [1, 2, 5]) ticks.push(m * 10 ** p);
  return ticks.filter((t) => t >= min && t <= max);
}

function panel(series: readonly ChartSeries[], x0: number, title: string, pick: (p: ChartSeries['points'][number]) => number): string {
  const points = series.flatMap((s) => s.points).filter((p) => Number.isFinite(pick(p)) && pick(p) > 0);
  if (points.length === 0) return '';
  const viewers = [...new Set(points.map((p) => p.viewers))].sort((a, b) => a - b);
  const left = x0 + MARGIN.left;
  const right = x0 + PANEL_W - MARGIN.right;
  const top = MARGIN.top;
  const bottom = PANEL_H - MARGIN.bottom;
  const x = logAxis(Math.min(...viewers), Math.max(...viewers), left, right, viewers);
  const values = points.map(pick);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const y = logAxis(yMin, yMax, bottom, top, decadeTicks(yMin, yMax));
  const parts = [`<text x="${(left + right) / 2}" y="${top - 16}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  for (const t of y.ticks) {
    const py = y.toPx(t).toFixed(1);
    parts.push(`<line x1="${left}" x2="${right}" y1="${py}" y2="${py}" stroke="#ddd"/><text x="${left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${y.label(t)}</text>`);
  }
  for (const t of x.ticks) {
    const px = x.toPx(t).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${bottom}" stroke="#eee"/><text x="${px}" y="${bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${(left + right) / 2}" y="${bottom + 36}" text-anchor="middle">viewers (log scale)</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(pick(p)) && pick(p) > 0).sort((a, b) => a.viewers - b.viewers);
    if (pts.length === 0) return;
    const color = COLORS[i % COLORS.length] as string;
    const coords = pts.map((p) => `${x.toPx(p.viewers).toFixed(1)},${y.toPx(pick(p)).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${coords.join(' ')}"/>`);
    for (const c of coords) parts.push(`<circle cx="${c.split(',')[0]}" cy="${c.split(',')[1]}" r="3" fill="${color}"/>`);
  });
  return parts.join('\n');
}

export function chartSvg(series: readonly ChartSeries[]): string {
  const width = PANEL_W * 2;
  const height = PANEL_H + LEGEND_H * Math.ceil(series.length / 3) + 10;
  const legend = series.map((s, i) => {
    const lx = 20 + (i % 3) * 280;
    const ly = PANEL_H + 10 + Math.floor(i / 3) * LEGEND_H;
    return `<rect x="${lx}" y="${ly}" width="14" height="4" fill="${COLORS[i % COLORS.length]}"/><text x="${lx + 20}" y="${ly + 4}" dominant-baseline="middle">${esc(s.name)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
${panel(series, 0, 'Server CPU, % of one core per viewer', (p) => p.cpuPerViewer)}
${panel(series, PANEL_W, 'Latency p99, ms', (p) => p.p99Ms)}
${legend.join('\n')}
</svg>
`;
}
