import type { Logger } from 'pino';
import { CamstreamError, type Frame, type FrameFactory } from '../frame/index.js';
import { FrameChannel } from './frame-channel.js';
import { ProfileEncoder, type EncodeCost } from './profile-encoder.js';
import { estimateFrameBytes, SOURCE_PROFILE, type Profile } from './profile.js';
import type { Viewer } from './viewer.js';

/** Re-encoded channels a camera may run at once; each costs an encoder's CPU. */
export const MAX_PROFILE_CHANNELS = 8;

/**
 * Default CPU time a camera may spend re-encoding per second, ms: 20 % of one core.
 * A Raspberry Pi 4 has four cores, so one camera's adapted viewers cost it 5 % of
 * the machine; on the bench's host (2-core EPYC) it pays for 12–15 fps of third-size
 * frames from a 1080p source (12.6–16 ms each), so slow viewers keep at least 10 fps.
 */
export const DEFAULT_ENCODE_BUDGET_MS = 200;

/** What a camera's re-encoding cost lately, against its budget. */
export interface EncodeStats {
  /** CPU time (encode time with one libvips thread) allowed per second, ms. */
  budgetMsPerSecond: number;
  /** Encode time in the last whole second, ms. */
  msPerSecond: number;
  /** Encode time since start, ms. */
  totalMs: number;
  /** Frames not encoded because the budget did not pay for them (viewers got a lower frame rate). */
  framesOverBudget: number;
}

/** A viewer asked for one more distinct size/quality than a camera encodes at once. */
export class TooManyProfilesError extends CamstreamError {
  constructor(message: string) {
    super('CAMSTREAM_TOO_MANY_PROFILES', message);
  }
}

interface Encoded {
  channel: FrameChannel;
  encoder: ProfileEncoder;
}

/**
 * A camera's channels: the main one with the source's own frames, and one per
 * re-encoded profile that some viewer watches right now. A profile's channel and
 * encoder exist only while it has viewers, so a camera nobody adapts costs no
 * encoding at all.
 */
export class ProfileChannels {
  readonly main = new FrameChannel();
  private readonly encoded = new Map<string, Encoded>();
  private readonly profiles = new Map<string, Profile>();
  /** What each profile's encoder cost when it last closed: a viewer back on the profile is budgeted from it at once. */
  private readonly lastCost = new Map<string, EncodeCost>();
  /** Encode time per whole second: the current second's, and the last one's. */
  private second = 0;
  private secondMs = 0;
  private lastSecondMs = 0;
  private totalMs = 0;
  private overBudgetClosed = 0;

  constructor(
    private readonly frames: FrameFactory,
    profiles: Readonly<Record<string, Profile>>,
    private readonly log: Logger,
    /** CPU time the camera's encoders may spend per second, ms; over it, they encode fewer frames. */
    private readonly budgetMsPerSecond: number = DEFAULT_ENCODE_BUDGET_MS,
  ) {
    for (const [key, profile] of Object.entries(profiles)) this.profiles.set(key, profile);
  }

  /** The camera's encoding cost against its budget. */
  encodeStats(nowMs: number = performance.now()): EncodeStats {
    const second = Math.floor(nowMs / 1000);
    const lastWhole = second === this.second ? this.lastSecondMs : second === this.second + 1 ? this.secondMs : 0;
    let overBudget = this.overBudgetClosed;
    for (const { encoder } of this.encoded.values()) overBudget += encoder.overBudget;
    return { budgetMsPerSecond: this.budgetMsPerSecond, msPerSecond: Math.round(lastWhole), totalMs: Math.round(this.totalMs), framesOverBudget: overBudget };
  }

  /**
   * An encode took `ms`: account for it, and give each encoder the frame rate its
   * share of the budget pays for at its own cost per frame. Viewers on an encoder
   * over its share get fewer frames, never a queue.
   */
  private account(ms: number): void {
    const nowMs = performance.now();
    const second = Math.floor(nowMs / 1000);
    if (second !== this.second) {
      this.lastSecondMs = second === this.second + 1 ? this.secondMs : 0;
      this.second = second;
      this.secondMs = 0;
    }
    this.secondMs += ms;
    this.totalMs += ms;
    const share = this.budgetMsPerSecond / this.encoded.size;
    for (const { encoder } of this.encoded.values()) {
      // ms per second over ms per frame: frames per second.
      if (encoder.costKnown) encoder.budgetGate.setLimit(share / encoder.averageMs);
    }
  }

  /** Registers a viewer-chosen profile under `key` (idempotent). */
  define(key: string, profile: Profile): void {
    if (!this.profiles.has(key)) this.profiles.set(key, profile);
  }

  /** Why a channel for `key` cannot be opened now, or undefined if it can (or is open). */
  refuses(key: string): string | undefined {
    if (this.encoded.has(key) || this.encoded.size < MAX_PROFILE_CHANNELS) return undefined;
    return `this camera already encodes ${MAX_PROFILE_CHANNELS} different sizes/qualities; ask for one of: ${[...this.encoded.keys()].join(', ')}`;
  }

  /** Offers a source frame to every profile encoder (the main channel is fanned out by the camera). */
  encode(frame: Frame): void {
    for (const { encoder } of this.encoded.values()) encoder.offer(frame);
  }

  /** Puts `viewer` on the channel for `key`, leaving the one it was on. */
  move(viewer: Viewer, key: string): void {
    if (viewer.profile === key && this.channelOf(key)?.viewers.includes(viewer)) {
      this.updateGate(key);
      return;
    }
    const target = key === SOURCE_PROFILE ? this.main : this.open(key).channel;
    this.leave(viewer);
    viewer.profile = key;
    target.add(viewer);
    this.updateGate(key);
  }

  /** Takes `viewer` off its channel; an encoded channel left empty is closed. */
  leave(viewer: Viewer): void {
    const key = viewer.profile;
    const channel = this.channelOf(key);
    if (channel === undefined || !channel.remove(viewer)) return;
    if (key === SOURCE_PROFILE) return;
    if (channel.viewers.length === 0) this.close(key);
    else this.updateGate(key);
  }

  /** Releases every channel's latest frame (the source stopped). */
  clear(): void {
    this.main.clear();
    for (const { channel } of this.encoded.values()) channel.clear();
  }

  /** The camera stopped: every encoder stops and every channel lets go of its frame. */
  closeAll(): void {
    for (const key of [...this.encoded.keys()]) this.close(key);
    this.main.clear();
  }

  /** Per profile: viewers, frames encoded and skipped, encoding time. */
  stats(): Record<string, { viewers: number; encoded: number; busy: number; failed: number; overBudget: number; encodeMs: number; averageMs: number; maxFps: number | null }> {
    const out: ReturnType<ProfileChannels['stats']> = {};
    for (const [key, { channel, encoder }] of this.encoded) {
      const limits = [encoder.gate.limit, encoder.budgetGate.limit].filter((limit): limit is number => limit !== undefined);
      out[key] = {
        viewers: channel.viewers.length,
        encoded: encoder.encoded,
        busy: encoder.busy,
        failed: encoder.failed,
        overBudget: encoder.overBudget,
        encodeMs: Math.round(encoder.encodeMs),
        averageMs: Math.round(encoder.averageMs * 10) / 10,
        maxFps: limits.length === 0 ? null : Math.round(Math.min(...limits) * 10) / 10,
      };
    }
    return out;
  }

  /**
   * A frame's size on profile `key`, bytes: what its encoder produced lately (or when
   * it last ran), or, before it ever ran, an estimate from the source's `sourceBytes` (undefined for a
   * fixed width, whose share of the source is not known before the first frame).
   */
  frameBytesOf(key: string, sourceBytes: number): number | undefined {
    const measured = this.encoded.get(key)?.encoder ?? this.lastCost.get(key);
    if (measured !== undefined && measured.averageBytes > 0) return measured.averageBytes;
    const profile = this.profiles.get(key);
    return profile === undefined ? undefined : estimateFrameBytes(profile, sourceBytes);
  }

  /** The newest frame of channel `key` (what its viewers saw last), if any. */
  latestOf(key: string): Frame | undefined {
    return this.channelOf(key)?.latest;
  }

  private channelOf(key: string): FrameChannel | undefined {
    return key === SOURCE_PROFILE ? this.main : this.encoded.get(key)?.channel;
  }

  private open(key: string): Encoded {
    const existing = this.encoded.get(key);
    if (existing !== undefined) return existing;
    const profile = this.profiles.get(key);
    if (profile === undefined) throw new TooManyProfilesError(`no profile '${key}' is defined`);
    const refusal = this.refuses(key);
    if (refusal !== undefined) throw new TooManyProfilesError(refusal);
    const channel = new FrameChannel();
    let lastErrorLogMs = -Infinity;
    const encoder = new ProfileEncoder(
      profile,
      this.frames,
      (frame) => channel.fanOut(frame),
      (error) => {
        const now = performance.now();
        if (now - lastErrorLogMs < 10_000) return;
        lastErrorLogMs = now;
        this.log.warn({ profile: key, err: error }, `re-encoding a frame for profile ${key} failed: ${error.message}`);
      },
      () => {
        for (const viewer of channel.viewers) viewer.countEncoderBusy();
      },
      this.accountEncode,
      this.lastCost.get(key),
    );
    const encoded = { channel, encoder };
    this.encoded.set(key, encoded);
    this.log.info({ profile: key }, `encoding profile ${key} for adapted viewers`);
    return encoded;
  }

  private readonly accountEncode = (ms: number): void => this.account(ms);

  private close(key: string): void {
    const encoded = this.encoded.get(key);
    if (encoded === undefined) return;
    this.overBudgetClosed += encoded.encoder.overBudget;
    const { averageMs, averageBytes } = encoded.encoder;
    if (encoded.encoder.costKnown) this.lastCost.set(key, { averageMs, averageBytes });
    encoded.encoder.close();
    encoded.channel.clear();
    this.encoded.delete(key);
    this.log.info({ profile: key }, `stopped encoding profile ${key}: no viewer needs it`);
  }

  /** An encoder runs at the highest frame rate any of its viewers takes. */
  private updateGate(key: string): void {
    const encoded = this.encoded.get(key);
    if (encoded === undefined) return;
    let highest: number | undefined = 0;
    for (const viewer of encoded.channel.viewers) {
      const cap = viewer.frameRateCap;
      if (cap === undefined) {
        highest = undefined;
        break;
      }
      highest = Math.max(highest, cap);
    }
    encoded.encoder.gate.setLimit(highest);
  }
}
