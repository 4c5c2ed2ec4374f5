import type { ViewerRequest } from '../stream/index.js';

/** A bad query parameter on /stream; answered with 400 and this message. */
export class StreamQueryError extends Error {
  readonly statusCode = 400;
  readonly code = 'bad_query';
}

type NumericField = 'maxFps' | 'quality' | 'width';
type FlagField = 'advanceHeaders' | 'dualFinalFrames';

/** µStreamer's names for the browser quirks (see browser-quirks.ts). */
const FLAGS: Record<FlagField, string> = { advanceHeaders: 'advance_headers', dualFinalFrames: 'dual_final_frames' };
const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

const PARAMETERS: Record<NumericField, { name: string; min: number; max: number; integer: boolean; what: string }> = {
  maxFps: { name: 'fps', min: 0.1, max: 240, integer: false, what: 'frames per second, 0.1–240' },
  quality: { name: 'quality', min: 1, max: 100, integer: true, what: 'JPEG quality, a whole number 1–100' },
  width: { name: 'width', min: 16, max: 7680, integer: true, what: 'width in pixels, a whole number 16–7680' },
};

/**
 * Reads a viewer's own limits from `/stream?fps=10&quality=60&width=640`, and the
 * browser quirks it asks for (`advance_headers=1`, `dual_final_frames=0`). Other
 * parameters are ignored (players add cache-busters such as `?t=1700000000`, and
 * µStreamer's clients send `key`, `extra_headers` and `zero_data`: see
 * parseStreamKey); a known one with a bad value is an error naming it and what it takes.
 */
export function parseStreamQuery(query: unknown): ViewerRequest {
  const request: ViewerRequest = {};
  if (typeof query !== 'object' || query === null) return request;
  const values = query as Record<string, unknown>;
  for (const [field, rule] of Object.entries(PARAMETERS) as [NumericField, (typeof PARAMETERS)[NumericField]][]) {
    const raw = values[rule.name];
    if (raw === undefined) continue;
    if (typeof raw !== 'string') throw new StreamQueryError(`${rule.name} is given more than once; give it once: ${rule.what}`);
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < rule.min || value > rule.max || (rule.integer && !Number.isInteger(value))) {
      throw new StreamQueryError(`${rule.name}=${raw.slice(0, 40)} is not valid: expected ${rule.what}`);
    }
    request[field] = value;
  }
  for (const [field, name] of Object.entries(FLAGS) as [FlagField, string][]) {
    const raw = values[name];
    if (raw === undefined) continue;
    const word = typeof raw === 'string' ? raw.toLowerCase() : '';
    if (!TRUE.has(word) && !FALSE.has(word)) throw new StreamQueryError(`${name}=${String(raw).slice(0, 40)} is not valid: expected 1 or 0 (true/false, yes/no, on/off), given once`);
    request[field] = TRUE.has(word);
  }
  return request;
}

/** The longest `key` kept: µStreamer takes any, and /state holds one per viewer. */
const MAX_KEY_LENGTH = 256;

/**
 * µStreamer's `/stream?key=abc`: a name the client picks so that it can find itself
 * in /state's `clients_stat` (PiKVM-style pages do). Any value is accepted, as by
 * µStreamer (the first if given twice); undefined without one.
 *
 * µStreamer's other per-client parameters are accepted and ignored, whatever their
 * value: `extra_headers` (X-UStreamer-* fields in every part) and `zero_data` (parts
 * without the JPEG) would give each viewer parts of its own, while camstream builds
 * a frame's part once and every viewer writes that same slice.
 */
export function parseStreamKey(query: unknown): string | undefined {
  if (typeof query !== 'object' || query === null) return undefined;
  const raw = (query as Record<string, unknown>).key;
  const key = Array.isArray(raw) ? raw[0] : raw;
  return typeof key === 'string' ? key.slice(0, MAX_KEY_LENGTH) : undefined;
}
