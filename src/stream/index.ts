export { Camera } from './camera.js';
export type { CameraOptions, CameraStats, CameraState } from './camera.js';
export { CameraCounters } from './camera-counters.js';
export { Viewer } from './viewer.js';
export type { ViewerInfo, ViewerStats, ViewerCloseReason } from './viewer.js';
export { FrameQueue } from './frame-queue.js';
