/**
 * Where each slow viewer was on its camera's adaptation ladder over a measured
 * window: from /api/stats at both ends and the "viewer adapted" lines the server
 * logged in between (ServerProcess.adaptations).
 */
import { DEFAULT_LADDER, ladderFor, type AdaptationLevel } from '../src/stream/profile.js';
import type { SlowViewerLevel } from './report-slow.js';
import type { Adaptation, ViewerStats } from './server.js';

/** The default ladder of a camera of `sourceFps`: the bench runs cameras with the default configuration. */
export const ladderOf = (sourceFps: number): AdaptationLevel[] => ladderFor(sourceFps, DEFAULT_LADDER);

/** The level with this cap and profile (-1 if none: the camera's ladder is configured otherwise). */
function ladderIndex(ladder: readonly AdaptationLevel[], maxFps: number | null, profile: string): number {
  return ladder.findIndex((level) => (level.maxFps ?? null) === maxFps && level.profile === profile);
}

/** One viewer's level at the end of the window [t0, t1] (performance.now() ms), its range, moves, and the level it spent most time at. */
export function viewerLevel(viewer: ViewerStats, startLevel: number, adaptations: readonly Adaptation[], ladder: readonly AdaptationLevel[], t0: number, t1: number): SlowViewerLevel {
  const moves = adaptations.filter((a) => a.viewer === viewer.id && a.atMs >= t0 && a.atMs <= t1);
  const levels = [startLevel, viewer.level, ...moves.map((a) => ladderIndex(ladder, a.maxFps, a.profile)).filter((level) => level >= 0)];
  // Time at each level over the window, from the logged moves.
  const timeAt = new Map<number, number>();
  let level = startLevel;
  let since = t0;
  for (const move of [...moves, undefined]) {
    const until = move?.atMs ?? t1;
    timeAt.set(level, (timeAt.get(level) ?? 0) + until - since);
    if (move !== undefined) {
      level = ladderIndex(ladder, move.maxFps, move.profile);
      since = move.atMs;
    }
  }
  const [mainLevel, mainMs] = [...timeAt].reduce((best, entry) => (entry[1] > best[1] ? entry : best));
  return {
    level: viewer.level,
    maxFps: viewer.maxFps,
    profile: viewer.profile,
    minLevel: Math.min(...levels),
    maxLevel: Math.max(...levels),
    changes: moves.length,
    mainLevel,
    mainShare: mainMs / (t1 - t0),
  };
}

/** "viewer 12 moved at 3.1 s L1, 4.2 s L2 (window 8.0–18.0 s)", times since `originMs`: for the bench's log. */
export function movesLine(viewerId: number, adaptations: readonly Adaptation[], ladder: readonly AdaptationLevel[], originMs: number, t0: number, t1: number): string {
  const at = (ms: number): string => `${((ms - originMs) / 1000).toFixed(1)} s`;
  const moves = adaptations.filter((a) => a.viewer === viewerId).map((a) => `${at(a.atMs)} L${ladderIndex(ladder, a.maxFps, a.profile)}`);
  return `slow viewer ${viewerId} moved at ${moves.join(', ') || 'no time'} (window ${at(t0)}–${at(t1)})`;
}
