import type { Socket } from 'node:net';
import { ADVANCE_HEADER, FIRST_BOUNDARY, STREAM_CONTENT_TYPE } from '../frame/index.js';
import { MjpegSink, sharedKernelQueue, type Camera, type Viewer, type ViewerInfo, type ViewerRequest } from '../stream/index.js';
import { browserQuirks } from './browser-quirks.js';

/**
 * The MJPEG response head, written straight to the socket (no HTTP chunked framing:
 * every player reads a multipart stream as it is, and the parts are written as
 * they are). It ends with the first boundary line, so each frame's shared part,
 * which ends with the next boundary, can follow at once.
 */
const HEADERS =
  `Content-Type: ${STREAM_CONTENT_TYPE}\r\n` +
  'Cache-Control: no-store, no-cache, must-revalidate, proxy-revalidate, max-age=0\r\n' +
  'Pragma: no-cache\r\n' +
  'Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n' +
  // Tells nginx not to buffer the stream when it proxies it.
  'X-Accel-Buffering: no\r\n' +
  'Connection: close\r\n';

function head(version: string, advance: boolean, extraLines = ''): Buffer {
  return Buffer.from(`HTTP/${version} 200 OK\r\n${HEADERS}${extraLines}\r\n${FIRST_BOUNDARY.toString('latin1')}${advance ? ADVANCE_HEADER.toString('latin1') : ''}`, 'latin1');
}

const HEADS = { '1.1': head('1.1', false), '1.0': head('1.0', false), '1.1+advance': head('1.1', true), '1.0+advance': head('1.0', true) };

/**
 * The bytes that open a stream for a client speaking HTTP/`httpVersion`; with
 * advance headers, the first part's header too (each frame then brings the next's).
 * `extraLines` (CORS headers, `Name: value\r\n` each) make a head of its own.
 */
export function streamResponseHead(httpVersion: string, advanceHeaders = false, extraLines = ''): Buffer {
  if (extraLines !== '') return head(httpVersion === '1.0' ? '1.0' : '1.1', advanceHeaders, extraLines);
  if (httpVersion === '1.0') return advanceHeaders ? HEADS['1.0+advance'] : HEADS['1.0'];
  return advanceHeaders ? HEADS['1.1+advance'] : HEADS['1.1'];
}

/** Header fields of a HEAD /stream answer (the same as a stream's, without a body). */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  'content-type': STREAM_CONTENT_TYPE,
  'cache-control': 'no-store, no-cache, must-revalidate, proxy-revalidate, max-age=0',
  pragma: 'no-cache',
};

/**
 * Opens an MJPEG stream on a connection whose request has been read, in whichever
 * event loop serves it: no Nagle delay (each part should leave at once), the
 * response head, then the socket becomes a viewer of `camera`, with the browser
 * quirks its User-Agent needs unless the request chose them.
 */
export function startStream(camera: Camera, socket: Socket, httpVersion: string, info: ViewerInfo, request: ViewerRequest, extraHeadLines = ''): Viewer {
  const quirks = browserQuirks(info.userAgent, request);
  socket.setNoDelay(true);
  socket.write(streamResponseHead(httpVersion, quirks.advanceHeaders, extraHeadLines));
  const sink = new MjpegSink(socket, quirks.advanceHeaders ? 'advance-headers' : 'standard', sharedKernelQueue());
  return camera.addViewer(sink, info, { ...request, ...quirks });
}
