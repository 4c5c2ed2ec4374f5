/**
 * The bytes of an MJPEG stream (`multipart/x-mixed-replace`), as mjpg-streamer and
 * µStreamer send them, laid out so that one frame's whole part is one contiguous
 * slice of its pooled buffer:
 *
 *   response head ... "--BOUNDARY\r\n"                     (once per viewer)
 *   [part header][JPEG bytes]["\r\n--BOUNDARY\r\n"][advance header]   (per frame, shared)
 *
 * Each part ends with the *next* part's boundary line. Most viewers write from the
 * part header to the boundary; a viewer with advance headers (Chromium, see
 * ADVANCE_HEADER) writes from the JPEG to the end of the advance header.
 *
 * The part header is written right-aligned into the HEADER_SPACE bytes reserved in
 * front of the JPEG, so header, JPEG and trailer go out in a single write with no
 * copy and no writev array.
 */

/** Long and unusual, so it never occurs inside JPEG data by chance. */
export const BOUNDARY = 'camstream-boundary-7d3f9a1c';

export const STREAM_CONTENT_TYPE = `multipart/x-mixed-replace; boundary=${BOUNDARY}`;

/** Ends every part and opens the next one. */
export const PART_TRAILER: Buffer = Buffer.from(`\r\n--${BOUNDARY}\r\n`, 'latin1');

/**
 * The next part's header as a viewer with advance headers gets it, right after a
 * frame's trailer (µStreamer's advance_headers). Chromium shows a part only once the
 * *header* of the part after it has arrived (bug 527446), so this makes it show
 * each frame at once. Sent before the next frame exists, it cannot carry that
 * frame's Content-Length or X-Timestamp; browsers need neither.
 */
export const ADVANCE_HEADER: Buffer = Buffer.from('Content-Type: image/jpeg\r\n\r\n', 'latin1');

/** Written once, right after the response head, so the first part is already opened. */
export const FIRST_BOUNDARY: Buffer = Buffer.from(`--${BOUNDARY}\r\n`, 'latin1');

/** Bytes reserved in front of each JPEG for its part header (the longest header is ~120). */
export const HEADER_SPACE = 160;

/** `<seconds>.<microseconds>`, the X-Timestamp format of mjpg-streamer and µStreamer. */
export function formatTimestamp(wallMicros: number): string {
  const seconds = Math.floor(wallMicros / 1e6);
  const micros = wallMicros - seconds * 1e6;
  return `${seconds}.${String(micros).padStart(6, '0')}`;
}

/** The part header for one frame, exactly as sent. */
export function partHeader(jpegLength: number, wallMicros: number, sequence: number): string {
  return (
    'Content-Type: image/jpeg\r\n' +
    `Content-Length: ${jpegLength}\r\n` +
    `X-Timestamp: ${formatTimestamp(wallMicros)}\r\n` +
    `X-Frame-Sequence: ${sequence}\r\n` +
    '\r\n'
  );
}

/**
 * Writes the part header so that it ends exactly at `end` (where the JPEG starts)
 * and returns the offset where it begins.
 */
export function writePartHeader(target: Buffer, end: number, jpegLength: number, wallMicros: number, sequence: number): number {
  const header = partHeader(jpegLength, wallMicros, sequence);
  const start = end - header.length;
  target.write(header, start, 'latin1');
  return start;
}
