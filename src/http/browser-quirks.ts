/**
 * What a browser engine needs from an MJPEG stream to show the newest frame, chosen
 * from the request's User-Agent (µStreamer leaves both off and lets PiKVM's page
 * ask per browser; camstream picks them itself, and `?advance_headers=` /
 * `?dual_final_frames=` override):
 *
 * - Blink (Chrome, Chromium, Edge, Opera, Brave, Android WebView): shows a part only
 *   once the *header* of the next part has arrived (Chromium bug 527446), so every
 *   frame would be shown one frame late: it gets advance headers.
 * - WebKit (Safari, and every browser on iOS and iPadOS): shows the last frame of a
 *   series late when the stream pauses: it gets dual final frames.
 * - Gecko (Firefox) and everything that is not a browser (ffmpeg, VLC, OpenCV,
 *   curl, players and proxies): the plain stream, where every part carries
 *   Content-Length and X-Timestamp (Firefox is disrupted without Content-Length).
 */
export interface BrowserQuirks {
  advanceHeaders: boolean;
  dualFinalFrames: boolean;
}

export type BrowserEngine = 'blink' | 'webkit' | 'gecko' | 'other';

/** The engine a User-Agent names. iOS browsers all run WebKit, whatever they call themselves. */
export function engineOf(userAgent: string | undefined): BrowserEngine {
  if (userAgent === undefined) return 'other';
  if (/\b(iPhone|iPad|iPod)\b/.test(userAgent) || /\b(CriOS|FxiOS|EdgiOS)\//.test(userAgent)) return 'webkit';
  if (/\b(Chrome|Chromium|HeadlessChrome|Edg|OPR|SamsungBrowser)\//.test(userAgent)) return 'blink';
  if (/\bFirefox\//.test(userAgent) && /\bGecko\//.test(userAgent)) return 'gecko';
  if (/\bAppleWebKit\//.test(userAgent) && /\bSafari\//.test(userAgent) && /\bVersion\//.test(userAgent)) return 'webkit';
  return 'other';
}

/** The quirks for `userAgent`, with a request's explicit choices (undefined: not given) on top. */
export function browserQuirks(userAgent: string | undefined, asked: Partial<BrowserQuirks> = {}): BrowserQuirks {
  const engine = engineOf(userAgent);
  return {
    advanceHeaders: asked.advanceHeaders ?? engine === 'blink',
    dualFinalFrames: asked.dualFinalFrames ?? engine === 'webkit',
  };
}
