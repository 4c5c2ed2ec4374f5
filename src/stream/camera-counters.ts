import { DropCounters, DurationHistogram } from '../metrics/index.js';

/** A camera's running totals; viewers add to them as they send and drop. */
export class CameraCounters {
  framesCaptured = 0;
  framesSent = 0;
  bytesSent = 0;
  viewersTotal = 0;
  viewersStalled = 0;
  framesUnchanged = 0;
  /**
   * Times a viewer's frame was late (or gave way in its queue) while its socket said
   * its reader had everything: the server, not the viewer, was slow. Never a reason
   * to step the viewer down.
   */
  serverLate = 0;
  readonly drops = new DropCounters();
  /**
   * Capture (the source has the whole frame) to published, per frame. Sources seal
   * a frame when its last byte arrives, so this is the source's own share of the
   * delay (framing, handing over), not the camera's exposure or encoding.
   */
  readonly acquisition = new DurationHistogram();
  /**
   * Capture to write completed (the part handed to the kernel), per viewer write:
   * every viewer's writes in one histogram, so its size does not grow with viewers.
   */
  readonly latency = new DurationHistogram();
}
