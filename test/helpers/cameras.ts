import type { CameraStats } from '../../src/index.js';
import { eventually, getJson } from './server.js';

/** The camera `id` as /api/stats shows it. */
export async function cameraStats(url: string, id: string): Promise<CameraStats> {
  const stats = await getJson<{ cameras: CameraStats[] }>(`${url}/api/stats`);
  const camera = stats.cameras.find((each) => each.id === id);
  if (camera === undefined) throw new Error(`no camera '${id}' in /api/stats`);
  return camera;
}

/** Waits until the camera's stats satisfy `check`; returns the last stats seen. */
export async function waitForCamera(url: string, id: string, check: (camera: CameraStats) => boolean, timeoutMs = 10_000): Promise<CameraStats> {
  let last = await cameraStats(url, id);
  await eventually(async () => check((last = await cameraStats(url, id))), timeoutMs, 100);
  return last;
}
