import type { CameraStats } from '../../src/index.js';
import { eventually, getJson, type WaitOptions } from './server.js';

/** The camera `id` as /api/stats shows it. */
export async function cameraStats(url: string, id: string): Promise<CameraStats> {
  const stats = await getJson<{ cameras: CameraStats[] }>(`${url}/api/stats`);
  const camera = stats.cameras.find((each) => each.id === id);
  if (camera === undefined) throw new Error(`no camera '${id}' in /api/stats`);
  return camera;
}

/**
 * Waits until the camera's stats satisfy `check` (throws, showing the check and the
 * last stats seen, if only a hang could take this long); returns those stats.
 */
export async function waitForCamera(url: string, id: string, check: (camera: CameraStats) => boolean, options: WaitOptions = {}): Promise<CameraStats> {
  let last = await cameraStats(url, id);
  await eventually(async () => check((last = await cameraStats(url, id))), () => `camera '${id}' satisfies ${check.toString()}; last stats: ${JSON.stringify(last)}`, { stepMs: 100, ...options });
  return last;
}
