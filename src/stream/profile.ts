/**
 * Quality profiles: how a frame is re-encoded for viewers who cannot take the
 * source's own JPEGs. `source` is the camera's frame as captured (never re-encoded).
 */
export interface Profile {
  /** Width as a share of the source's (1 = same size). */
  scale: number;
  /** JPEG quality 1–100. */
  quality: number;
  /** A fixed width in pixels, for a viewer that asked for one (`?width=640`); overrides scale. */
  width?: number;
}

export const SOURCE_PROFILE = 'source';

export const DEFAULT_PROFILES: Readonly<Record<string, Profile>> = {
  'full-q60': { scale: 1, quality: 60 },
  'half-q60': { scale: 0.5, quality: 60 },
  'third-q60': { scale: 1 / 3, quality: 60 },
  'quarter-q40': { scale: 0.25, quality: 40 },
};

/** One rung of the adaptation ladder: a frame-rate cap and a profile. */
export interface AdaptationLevel {
  /** Frames per second at most; undefined for the source's own rate. */
  maxFps: number | undefined;
  /** `source` or a key of the camera's profiles. */
  profile: string;
}

/**
 * The default ladder, best first, cheapest first: frame rate goes down first (60 →
 * 30 → 15), which costs the server nothing; then size at 15 fps, and 5 fps as the
 * last resort. 15 fps is kept while the picture shrinks because a viewer on a weak
 * link is better served by a smooth smaller picture than by a sharp slideshow: at
 * 2 MB/s a 1080p60 camera's ~250 KB frames fit 8 times a second, its third-size q60
 * frames (640x360) over 100 times.
 *
 * Why a third and not a half: libvips decodes a JPEG at a fraction of its size
 * straight from its DCT coefficients (shrink-on-load), but sharp uses it only when
 * at least a further 2× reduction remains, so a half-size output needs a full
 * decode. Measured on the 1080p synthetic frame (sharp 0.35, one thread): decode
 * and re-encode at half size 21 ms of CPU, at a third 12.6 ms, a full-size decode
 * alone 15 ms. Re-encoding at full size (`full-q60`) is not on the ladder: two
 * slow viewers on it cost more CPU than serving ten at full rate. A configured
 * ladder may still use any profile.
 */
export const DEFAULT_LADDER: readonly AdaptationLevel[] = [
  { maxFps: undefined, profile: SOURCE_PROFILE },
  { maxFps: 30, profile: SOURCE_PROFILE },
  { maxFps: 15, profile: SOURCE_PROFILE },
  { maxFps: 15, profile: 'third-q60' },
  { maxFps: 15, profile: 'quarter-q40' },
  { maxFps: 5, profile: 'quarter-q40' },
];

/**
 * The ladder for a camera of `sourceFps`: rungs whose cap is at or above the
 * source's rate are the same as no cap, and a rung that changes nothing is left
 * out, so every step down really lowers the bytes sent.
 */
export function ladderFor(sourceFps: number | undefined, ladder: readonly AdaptationLevel[] = DEFAULT_LADDER): AdaptationLevel[] {
  const levels: AdaptationLevel[] = [];
  for (const level of ladder) {
    const maxFps = sourceFps !== undefined && level.maxFps !== undefined && level.maxFps >= sourceFps ? undefined : level.maxFps;
    const previous = levels.at(-1);
    if (previous !== undefined && previous.maxFps === maxFps && previous.profile === level.profile) continue;
    levels.push({ maxFps, profile: level.profile });
  }
  return levels;
}

/**
 * A frame's size on `profile` before its encoder has run, from the source's frame
 * size: area scales it, and quality roughly by (quality / 85)^1.5 against a source
 * at about quality 85.
 * Only a first guess; the encoder's own average replaces it once it runs.
 * Undefined for a fixed width.
 */
export function estimateFrameBytes(profile: Profile, sourceBytes: number): number | undefined {
  if (profile.width !== undefined) return undefined;
  return sourceBytes * profile.scale * profile.scale * Math.min(1, (profile.quality / 85) ** 1.5);
}

/** The channel key of a viewer-chosen profile, e.g. `w640-q60`. */
export function customProfileKey(profile: Profile): string {
  return profile.width !== undefined ? `w${profile.width}-q${profile.quality}` : `s${profile.scale}-q${profile.quality}`;
}
