import { DropCounters } from '../metrics/index.js';

/** A camera's running totals; viewers add to them as they send and drop. */
export class CameraCounters {
  framesCaptured = 0;
  framesSent = 0;
  bytesSent = 0;
  viewersTotal = 0;
  viewersStalled = 0;
  framesUnchanged = 0;
  readonly drops = new DropCounters();
}
