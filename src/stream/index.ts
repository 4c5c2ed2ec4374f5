export { Camera } from './camera.js';
export type { CameraOptions, CameraStats } from './camera.js';
export { SourceSupervisor, DEFAULT_SUPERVISOR_OPTIONS } from './source-supervisor.js';
export type { SourceState, SourceStatus, SupervisorOptions } from './source-supervisor.js';
export { CameraCounters } from './camera-counters.js';
export { Viewer } from './viewer.js';
export type { ViewerInfo, ViewerStats, ViewerCloseReason } from './viewer.js';
export { FrameQueue } from './frame-queue.js';
