/**
 * Why a frame was not sent to a viewer. Counted per viewer and per camera.
 * - `replaced`: a newer frame arrived while the viewer was still sending an older
 *   one and its queue was full: the waiting frame gave way (latest frame wins).
 * - `adapted`: the viewer was adapted down to a lower frame rate (it fell behind),
 *   and this frame was skipped to keep to it.
 * - `encoder_busy`: the viewer's re-encoded profile was still encoding an earlier
 *   frame; the encoder skips frames rather than queue them.
 * - `draining`: the viewer's reader held a backlog of unread frames (its socket
 *   said so), and nothing was sent until it had read them.
 */
export const DROP_REASONS = ['replaced', 'adapted', 'encoder_busy', 'draining'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class DropCounters {
  replaced = 0;
  adapted = 0;
  encoder_busy = 0;
  draining = 0;

  count(reason: DropReason): void {
    this[reason]++;
  }

  get total(): number {
    return this.replaced + this.adapted + this.encoder_busy + this.draining;
  }

  toJSON(): Record<DropReason, number> & { total: number } {
    return { replaced: this.replaced, adapted: this.adapted, encoder_busy: this.encoder_busy, draining: this.draining, total: this.total };
  }
}
