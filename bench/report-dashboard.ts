/**
 * The dashboard section of docs/BENCHMARKS.md: time from opening the dashboard of
 * twelve on-demand synthetic cameras to every card's first picture (dashboard.ts).
 */
import { f, table } from './format.js';
import type { DashboardRow } from './dashboard.js';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function dashboardTable(rows: readonly DashboardRow[]): string {
  return table(
    ['Cameras', 'Runs', 'First card ms, median', 'Every card ms, median (min–max)'],
    rows.map((row) => [
      row.set,
      String(row.runs),
      f(median(row.firstCardMs), 0),
      `${f(median(row.everyCardMs), 0)} (${f(Math.min(...row.everyCardMs), 0)}–${f(Math.max(...row.everyCardMs), 0)})`,
    ]),
  );
}

export function dashboardSection(rows: readonly DashboardRow[]): string {
  return `## Opening the dashboard of twelve cameras

\`bench/dashboard.ts\`: headless Chromium opens \`/\` on a freshly started camstream with
twelve on-demand synthetic cameras, so every camera starts as the page subscribes; the
time is from the page's navigation start to the first picture drawn on the first card and
on every card (a MutationObserver in the page notes each card's first draw). A synthetic
camera renders its ring of JPEGs in a child process; cameras of one size and quality share
one render, so twelve of one size start one child, and twelve of distinct sizes twelve.

${dashboardTable(rows)}
`;
}
