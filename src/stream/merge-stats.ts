import { DROP_REASONS, mergeDurationStats } from '../metrics/index.js';
import type { CameraStats } from './camera.js';

/**
 * One camera's figures across event loops: the main thread's (which runs the
 * source: its state, capture counts and latest frame stand) plus what each viewer
 * loop's mirror of it sent to its own viewers. Latency is measured where each
 * viewer is written, so it merges every loop's (see mergeDurationStats).
 */
export function mergeCameraStats(main: CameraStats, mirrors: readonly CameraStats[]): CameraStats {
  if (mirrors.length === 0) return main;
  const merged: CameraStats = {
    ...main,
    latency: mergeDurationStats([main.latency, ...mirrors.map((mirror) => mirror.latency)]),
    drops: { ...main.drops },
    profiles: { ...main.profiles },
    viewerList: [...main.viewerList],
  };
  for (const mirror of mirrors) {
    merged.framesSent += mirror.framesSent;
    merged.bytesSent += mirror.bytesSent;
    for (const reason of DROP_REASONS) merged.drops[reason] += mirror.drops[reason];
    merged.drops.total += mirror.drops.total;
    merged.viewersStalled += mirror.viewersStalled;
    merged.serverLate += mirror.serverLate;
    merged.viewers += mirror.viewers;
    merged.viewersTotal += mirror.viewersTotal;
    merged.viewerList.push(...mirror.viewerList);
    for (const [key, profile] of Object.entries(mirror.profiles)) {
      const here = merged.profiles[key];
      merged.profiles[key] =
        here === undefined
          ? profile
          : {
              ...here,
              viewers: here.viewers + profile.viewers,
              encoded: here.encoded + profile.encoded,
              busy: here.busy + profile.busy,
              failed: here.failed + profile.failed,
              overBudget: here.overBudget + profile.overBudget,
              encodeMs: here.encodeMs + profile.encodeMs,
            };
    }
    // Each loop encodes for its own viewers, within its own budget.
    merged.encode = {
      budgetMsPerSecond: merged.encode.budgetMsPerSecond + mirror.encode.budgetMsPerSecond,
      msPerSecond: merged.encode.msPerSecond + mirror.encode.msPerSecond,
      totalMs: merged.encode.totalMs + mirror.encode.totalMs,
      framesOverBudget: merged.encode.framesOverBudget + mirror.encode.framesOverBudget,
    };
  }
  return merged;
}
