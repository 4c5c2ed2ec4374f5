import { mergeCameraStats, type Camera, type CameraStats } from '../stream/index.js';
import type { ViewerLoops } from './viewer-loops.js';

/**
 * Every camera's figures, with what the viewer loops (--workers) sent to their own
 * viewers merged in: /api/stats and /metrics count the same viewers.
 */
export async function cameraFigures(cameras: readonly Camera[], loops: ViewerLoops | undefined): Promise<CameraStats[]> {
  const mirrors = loops === undefined ? [] : await loops.stats();
  return cameras.map((camera, index) => mergeCameraStats(camera.stats(), mirrors.map((loop) => loop[index] as CameraStats)));
}
