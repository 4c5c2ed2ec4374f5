/**
 * Why a frame was not sent to a viewer. Counted per viewer and per camera.
 * - `replaced`: a newer frame arrived while the viewer was still sending an older
 *   one, and the viewer's queue was full: the oldest waiting frame gave way
 *   (latest frame wins).
 */
export const DROP_REASONS = ['replaced'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class DropCounters {
  replaced = 0;

  count(reason: DropReason): void {
    this[reason]++;
  }

  get total(): number {
    let total = 0;
    for (const reason of DROP_REASONS) total += this[reason];
    return total;
  }

  toJSON(): Record<DropReason, number> & { total: number } {
    return { replaced: this.replaced, total: this.total };
  }
}
