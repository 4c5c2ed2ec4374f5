import type { Frame } from '../frame/index.js';

/**
 * The /ws wire format. A frame is one binary message:
 *
 *   byte 0      format version (FRAME_FORMAT_VERSION)
 *   byte 1      camera id length L (1–64)
 *   2 … 2+L     camera id, ASCII
 *   then        uint32 BE frame sequence (modulo 2^32)
 *               float64 BE capture time, µs since the Unix epoch
 *               uint32 BE JPEG length
 *               the JPEG (sent as the message's second fragment, straight from the pooled buffer)
 *
 * Client messages are JSON text: `{"type":"subscribe","cameras":[…],"maxFps":10}`
 * (maxFps optional) and `{"type":"unsubscribe","cameras":[…]}`.
 */
export const FRAME_FORMAT_VERSION = 1;
export const MAX_CAMERA_ID_LENGTH = 64;
/** Cameras one connection may watch at once. */
export const MAX_SUBSCRIBED_CAMERAS = 64;
/** Larger client messages close the connection (ws's maxPayload, close code 1009). */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;
export const MIN_MAX_FPS = 0.1;
export const MAX_MAX_FPS = 240;

/** Close codes (RFC 6455 §7.4.1). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_POLICY_VIOLATION = 1008;

/** Header bytes before the JPEG besides the camera id: version, id length, sequence, capture time, JPEG length. */
const FIXED_HEADER_BYTES = 1 + 1 + 4 + 8 + 4;

/** What decodeFrameMessage reads from one binary message. */
export interface FrameMessage {
  version: number;
  cameraId: string;
  sequence: number;
  captureMicros: number;
  /** A view of the message's bytes (no copy). */
  jpeg: Buffer;
}

/** The bytes sent in front of `frame`'s JPEG (a new buffer each call: a send may still be reading the last one). */
export function encodeFrameHeader(cameraId: string, frame: Pick<Frame, 'sequence' | 'capture' | 'jpeg'>): Buffer {
  const idLength = cameraId.length;
  if (idLength < 1 || idLength > MAX_CAMERA_ID_LENGTH || !/^[\x20-\x7e]+$/.test(cameraId)) {
    throw new RangeError(`camera id '${cameraId}' must be 1–${MAX_CAMERA_ID_LENGTH} printable ASCII characters`);
  }
  const header = Buffer.allocUnsafe(FIXED_HEADER_BYTES + idLength);
  header[0] = FRAME_FORMAT_VERSION;
  header[1] = idLength;
  header.write(cameraId, 2, 'ascii');
  let offset = 2 + idLength;
  offset = header.writeUInt32BE(frame.sequence % 2 ** 32, offset);
  offset = header.writeDoubleBE(frame.capture.wallMicros, offset);
  header.writeUInt32BE(frame.jpeg.length, offset);
  return header;
}

/** Reads a binary frame message; throws a RangeError naming what is wrong with a malformed one. */
export function decodeFrameMessage(message: Buffer): FrameMessage {
  if (message.length < FIXED_HEADER_BYTES + 1) throw new RangeError(`a frame message has at least ${FIXED_HEADER_BYTES + 1} bytes, this one ${message.length}`);
  const version = message[0] as number;
  if (version !== FRAME_FORMAT_VERSION) throw new RangeError(`frame format version ${version}, expected ${FRAME_FORMAT_VERSION}`);
  const idLength = message[1] as number;
  if (idLength < 1 || idLength > MAX_CAMERA_ID_LENGTH) throw new RangeError(`camera id length ${idLength}, expected 1–${MAX_CAMERA_ID_LENGTH}`);
  const jpegStart = FIXED_HEADER_BYTES + idLength;
  if (message.length < jpegStart) throw new RangeError(`a frame message with a ${idLength}-byte camera id needs ${jpegStart} header bytes, this one has ${message.length}`);
  let offset = 2 + idLength;
  const cameraId = message.toString('ascii', 2, offset);
  const sequence = message.readUInt32BE(offset);
  const captureMicros = message.readDoubleBE((offset += 4));
  const jpegLength = message.readUInt32BE((offset += 8));
  if (message.length - jpegStart !== jpegLength) throw new RangeError(`header says ${jpegLength} JPEG bytes, the message carries ${message.length - jpegStart}`);
  return { version, cameraId, sequence, captureMicros, jpeg: message.subarray(jpegStart) };
}

/**
 * One camera's frame header, built once per frame and shared by every connection
 * watching it. Keyed by what the header holds (a re-encoded profile's frame has the
 * same sequence but another length), so no Frame is kept alive for the comparison.
 */
export class FrameHeaderCache {
  private sequence = -1;
  private wallMicros = -1;
  private jpegLength = -1;
  private header: Buffer = Buffer.alloc(0);

  constructor(readonly cameraId: string) {}

  headerFor(frame: Frame): Buffer {
    if (frame.sequence !== this.sequence || frame.capture.wallMicros !== this.wallMicros || frame.jpeg.length !== this.jpegLength) {
      this.header = encodeFrameHeader(this.cameraId, frame);
      this.sequence = frame.sequence;
      this.wallMicros = frame.capture.wallMicros;
      this.jpegLength = frame.jpeg.length;
    }
    return this.header;
  }
}

export type ClientMessage = { type: 'subscribe'; cameras: string[]; maxFps: number | undefined } | { type: 'unsubscribe'; cameras: string[] };

/** A client message the server cannot take: the connection closes with `code` and this message as the reason. */
export class ClientMessageError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const EXPECTED = 'expected {"type":"subscribe"|"unsubscribe","cameras":["id",…]}';

/** Validates a client text message (the reason of an error stays under the 123 bytes a close frame allows). */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ClientMessageError(CLOSE_POLICY_VIOLATION, `not JSON; ${EXPECTED}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ClientMessageError(CLOSE_POLICY_VIOLATION, `not an object; ${EXPECTED}`);
  const { type, cameras, maxFps } = value as Record<string, unknown>;
  if (type !== 'subscribe' && type !== 'unsubscribe') throw new ClientMessageError(CLOSE_POLICY_VIOLATION, `unknown type; ${EXPECTED}`);
  if (!Array.isArray(cameras) || !cameras.every((id): id is string => typeof id === 'string' && id.length > 0 && id.length <= MAX_CAMERA_ID_LENGTH)) {
    throw new ClientMessageError(CLOSE_POLICY_VIOLATION, `cameras must be an array of camera ids; ${EXPECTED}`);
  }
  const unique = [...new Set(cameras)];
  if (unique.length > MAX_SUBSCRIBED_CAMERAS) throw new ClientMessageError(CLOSE_POLICY_VIOLATION, `more than ${MAX_SUBSCRIBED_CAMERAS} cameras in one message`);
  if (type === 'unsubscribe') return { type, cameras: unique };
  if (maxFps !== undefined && (typeof maxFps !== 'number' || !(maxFps >= MIN_MAX_FPS && maxFps <= MAX_MAX_FPS))) {
    throw new ClientMessageError(CLOSE_POLICY_VIOLATION, `maxFps must be a number ${MIN_MAX_FPS}–${MAX_MAX_FPS}`);
  }
  return { type, cameras: unique, maxFps };
}

/**
 * WebSocket readyState values (RFC 6455 states as the WHATWG API numbers them). The
 * `ws` package is loaded only when the first WebSocket arrives (its modules cost
 * a few MB of RSS a server without WebSocket viewers should not pay), so its
 * static constants are not at hand here.
 */
export const WS_OPEN = 1;
export const WS_CLOSED = 3;
