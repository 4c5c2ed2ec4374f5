import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { WebSocket, type RawData } from 'ws';
import { decodeFrameMessage } from '../src/http/ws-message.js';
import type { Camstream } from '../src/index.js';
import { connectMjpeg, type MjpegClient } from './helpers/mjpeg-client.js';
import { startServer } from './helpers/server.js';

/**
 * Property-based fuzzing (fast-check) of request lines, headers and query strings
 * over raw TCP, while two MJPEG viewers and one WebSocket viewer watch the same
 * server. Raw sockets on purpose: fetch would normalise (or refuse to send) the
 * very requests worth trying.
 *
 * Each request is sent on its own connection and its answer read up to a bounded
 * amount. Properties: every request gets a status line (or, for one that is not
 * well-formed HTTP, a closed connection), never a 5xx, never a stack trace; a 2xx
 * only for a request that is actually valid. Afterwards the server still answers
 * /healthz and the viewers lost no frame.
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed as a diagnostic and in any
 * failure), FUZZ_RUNS=<n> sets the runs per property (default 200: 2 properties
 * on each of 2 servers, 800 requests plus any shrinking; a few seconds).
 */

const TOKEN = 'fuzz-token-0123456789abc'; // 24 characters
const FPS = 15;
const CAMERA_IDS = ['a', 'b'] as const;
const REQUEST_TIMEOUT_SECONDS = 2;
const MAX_HEADER_BYTES = 8192;
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** A complete request must be answered within this. */
const ANSWER_TIMEOUT_MS = 3000;
/**
 * A request whose body never arrives whole (Content-Length beyond what is sent, a
 * chunked body without its last chunk) may be answered only once the server gives
 * up on it: request-timeout plus Node's 1 s check interval, plus a margin.
 */
const INCOMPLETE_TIMEOUT_MS = REQUEST_TIMEOUT_SECONDS * 1000 + 1000 + 2000;
/** How much of an answer's body is read: enough for any JSON error, and a stream's first part. */
const BODY_LIMIT = 4096;
/** Time for one property's runs and shrinking; the runs themselves take a few seconds. */
const SHRINK_LIMIT_MS = 20_000;
/** How long after its head a body may take (a stream or SSE never ends; an answer without length neither). */
const BODY_WAIT_MS = 300;

// ---------------------------------------------------------------- requests

interface Header {
  name: string;
  value: string;
}

/** One fuzzed request: what is sent, and what the oracles need to know about it. */
interface FuzzRequest {
  /** Exactly what goes on the wire (as UTF-8). */
  text: string;
  method: string;
  target: string;
  version: string;
  headers: readonly Header[];
  /** Syntactically valid HTTP/1.x: the server must answer it, not just close. */
  wellFormed: boolean;
  /** Its body never arrives whole, so the server may wait for request-timeout. */
  incomplete: boolean;
}

const weighted = <T>(...pairs: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> => fc.oneof(...pairs.map(([weight, arbitrary]) => ({ weight, arbitrary })));
const longString = (min: number, max: number, unit = 'a'): fc.Arbitrary<string> => fc.integer({ min, max }).map((n) => unit.repeat(n));

/**
 * Methods a well-formed request may have. CONNECT is left out: with an
 * origin-form target (all this file sends) it is not valid HTTP, and Node closes
 * the connection of a CONNECT nobody handles.
 */
const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE'];

// Weights: most requests get past the parser to the routes; the rest try it.
const methodArbitrary: fc.Arbitrary<string> = weighted(
  [28, fc.constant('GET')],
  [8, fc.constant('HEAD')],
  [4, fc.constantFrom('POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'SEARCH')],
  [1, fc.constantFrom('get', 'Get', 'head', 'post')],
  [1, fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)], // a token, not a method
  [1, fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 8 })], // anything, spaces and controls too
  [1, longString(100, 9000, 'G')],
);

/** Endpoints camstream has, some with an unknown camera or an unknown neighbour. */
const KNOWN_PATHS = ['/stream', '/snapshot', '/cam/a/stream', '/cam/b/stream', '/cam/a/snapshot', '/cam/b/state', '/cam/zz/stream', '/api/stats', '/api/events', '/state', '/', '/ws', '/metrics', '/healthz', '/dashboard/dashboard.css', '/favicon.ico'];

const segmentArbitrary: fc.Arbitrary<string> = weighted(
  [4, fc.constantFrom('cam', 'a', 'b', 'stream', 'snapshot', 'api', 'stats', 'state', 'ws', 'metrics', 'healthz', 'dashboard')],
  [2, fc.constantFrom('..', '.', '', '%2e%2e', '.%2e')],
  [2, fc.constantFrom('%41', '%2F', '%20', '%61', '%73tream', '%00', '%ff', '%zz', '%', '%0', '%c3%28', '%E0%A4%A')], // valid and invalid escapes
  [1, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 })], // raw Unicode
  [1, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).map(encodeURIComponent)], // encoded Unicode
  [1, fc.string({ unit: 'grapheme-ascii', maxLength: 8 })], // spaces, '?', '#', quotes…
);

const pathArbitrary: fc.Arbitrary<string> = weighted(
  [8, fc.constantFrom(...KNOWN_PATHS)],
  [4, fc.array(segmentArbitrary, { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join('/')}`)],
  [1, longString(1000, 9000).map((a) => `/${a}`)],
  // Other forms of request-target, and near misses of the endpoints.
  [1, fc.constantFrom('*', '*stream', 'http://localhost/stream', 'http://localhost/healthz', 'stream', '//stream', '/stream/', '/STREAM', '/stream#x', '/cam//stream', '/cam/a/../../stream')],
);

const QUERY_KEYS = ['fps', 'quality', 'width', 'advance_headers', 'dual_final_frames', 'key', 'action', 'cameras', 'access_token'];

const queryValueArbitrary: fc.Arbitrary<string> = weighted(
  [6, fc.constantFrom('', '-1', '0', 'NaN', 'Infinity', '1e400', '0x10', ' 5', '5 ', '1,2', '0.1', '0.05', '15', '60', '100', '101', '240', '241', '16', '640', '7680', '7681', '2.5')],
  [3, fc.constantFrom('1', 'true', 'yes', 'on', 'off', 'maybe', 'stream', 'snapshot', 'stream_1', 'snapshot_1', 'stream_2', 'stream_999', 'command', 'a', 'b', 'a,b', 'zz', ',,')],
  [1, fc.constantFrom('%zz', '%00', '%', '1%00', '%E0%A4%A')], // invalid or NUL escapes (sent raw when not encoded)
  [1, fc.string({ unit: 'grapheme', maxLength: 10 })],
  [1, longString(300, 3000, '9')],
);

/** One `key=value` (or a key alone, or `=value`), mostly encoded as a client would, sometimes raw. */
const queryParamArbitrary: fc.Arbitrary<string> = fc
  .tuple(
    weighted([8, fc.constantFrom(...QUERY_KEYS)], [1, fc.constantFrom('f%70s', 'FPS', 'fps%5B%5D', 'wid%20th', '')], [1, fc.string({ maxLength: 6 })]),
    queryValueArbitrary,
    weighted<'pair' | 'key' | 'value'>([8, fc.constant('pair')], [1, fc.constant('key')], [1, fc.constant('value')]),
    weighted([10, fc.constant(true)], [1, fc.constant(false)]),
  )
  .map(([key, value, shape, encoded]) => {
    const v = encoded ? encodeURIComponent(value) : value;
    return shape === 'key' ? key : shape === 'value' ? `=${v}` : `${key}=${v}`;
  });

const queryArbitrary: fc.Arbitrary<string> = weighted(
  [3, fc.constant('')],
  [1, fc.constant('?')],
  [6, fc.array(queryParamArbitrary, { minLength: 1, maxLength: 5 }).map((params) => `?${params.join('&')}`)],
);

const versionArbitrary: fc.Arbitrary<string> = weighted(
  [16, fc.constant('HTTP/1.1')],
  [4, fc.constant('HTTP/1.0')],
  [2, fc.constantFrom('HTTP/2.0', 'HTTP/0.9', 'HTTP/3.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1', 'HTTP/11', '', 'HTTP/1.1 x', 'HTTP/1.1\x00', 'HTTP/\u00b9.1')],
);

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;
const one = (name: string, value: fc.Arbitrary<string>): fc.Arbitrary<Header[]> => value.map((v) => [{ name, value: v }]);

/** Groups of header fields: most kinds come alone, a WebSocket upgrade as its set. */
const headerGroupArbitrary: fc.Arbitrary<Header[]> = weighted(
  [6, fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), fc.string({ maxLength: 40 })).map(([name, value]) => [{ name, value }])],
  [1, one('X-Ctl', fc.tuple(fc.string({ maxLength: 5 }), fc.constantFrom('\x00', '\x01', '\x7f', '\r', '\n', '\x1b', '\t', '\u0085'), fc.string({ maxLength: 5 })).map((parts) => parts.join('')))],
  [1, fc.tuple(fc.constantFrom('Bad Name', 'X:Y', '', 'X\x00', '\u00dcnicode', '(x)', 'X\t', ' Leading'), fc.string({ maxLength: 5 })).map(([name, value]) => [{ name, value }])],
  [1, one('X-Long', longString(100, 9000, 'v'))],
  [1, one('Host', fc.constantFrom('localhost', 'evil.example', '', 'a b', '[::1', 'h\u00e9st', 'localhost:99999'))], // with the usual Host: a duplicate
  [2, one('Content-Length', weighted([12, fc.constantFrom('0', '5', '12', '-1', 'abc', '1, 2', '', '0x10', '99999999999999999999', ' 3', '+3', '3.0', '1 2')], [1, fc.constant('100000')]))],
  [1, one('Transfer-Encoding', fc.constantFrom('chunked', 'gzip, chunked', 'chunked, identity', 'identity', 'garbage', 'Chunked'))],
  [
    2,
    fc
      .tuple(
        fc.constantFrom('websocket', 'WebSocket', 'h2c', 'garbage'),
        fc.constantFrom('Upgrade', 'upgrade, keep-alive', 'close'),
        fc.option(fc.constantFrom('13', '8', 'x')),
        fc.option(fc.constantFrom('dGhlIHNhbXBsZSBub25jZQ==', 'abc', '')),
      )
      .map(([upgrade, connection, version, key]) => [
        { name: 'Upgrade', value: upgrade },
        { name: 'Connection', value: connection },
        ...(version === null ? [] : [{ name: 'Sec-WebSocket-Version', value: version }]),
        ...(key === null ? [] : [{ name: 'Sec-WebSocket-Key', value: key }]),
      ]),
  ],
  [
    2,
    // Never the exact token: the 2xx oracle counts a request as authenticated when the token is in it.
    one('Authorization', fc.constantFrom('Bearer', 'Bearer ', 'Bearer x', `bearer ${TOKEN.slice(1)}`, `Bearer ${TOKEN.slice(0, -1)}X`, `Bearer ${TOKEN.toUpperCase()}`, 'Basic !!!', basic('a:b'), basic(':'), 'Basic', 'Digest username="a"', 'Negotiate YII=', '', `Bearer ${'a'.repeat(500)}`, '\u00e9\u00e9')),
  ],
  // A whole WebSocket handshake: a 101 on /ws, a refusal elsewhere.
  [
    1,
    fc.constant<Header[]>([
      { name: 'Upgrade', value: 'websocket' },
      { name: 'Connection', value: 'Upgrade' },
      { name: 'Sec-WebSocket-Version', value: '13' },
      { name: 'Sec-WebSocket-Key', value: 'dGhlIHNhbXBsZSBub25jZQ==' },
    ]),
  ],
  [1, one('Origin', fc.constantFrom('null', 'http://evil.example', 'https://a.b', 'garbage', ''))],
  [1, one('Expect', fc.constantFrom('100-continue', 'garbage', ''))],
  [1, one('Content-Type', fc.constantFrom('application/json', 'text/plain', 'multipart/form-data; boundary=x', 'garbage/;;', ''))],
  [1, one('Connection', fc.constantFrom('close', 'keep-alive', 'Upgrade', 'garbage, close'))],
  [
    1,
    one('User-Agent', fc.constantFrom('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1', '', 'x'.repeat(300))),
  ],
  [1, fc.constantFrom<Header[]>([{ name: 'Range', value: 'bytes=0-3' }], [{ name: 'Range', value: 'bytes=garbage' }], [{ name: 'Accept-Encoding', value: 'gzip, br' }], [{ name: 'If-None-Match', value: '*' }], [{ name: 'Cookie', value: '=;;=' }])],
);

/** Body bytes for a chunked request: garbage, or chunks without the last one. */
const CHUNKED_BODIES = ['zz\r\nhello\r\n', '5\r\nab\r\n', '0\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n', '-1\r\n\r\n', 'ffffffffffffffffff\r\n\r\n', '3;ext\r\nabc\r\n0\r\n\r\n'];

const requestArbitrary = (authOn: boolean): fc.Arbitrary<FuzzRequest> =>
  fc
    .record({
      method: methodArbitrary,
      path: pathArbitrary,
      query: queryArbitrary,
      version: versionArbitrary,
      host: weighted<boolean>([12, fc.constant(true)], [1, fc.constant(false)]),
      // With auth on: the token in the header, in the query, or not at all.
      auth: authOn ? weighted<'header' | 'query' | 'none'>([5, fc.constant('header')], [2, fc.constant('query')], [3, fc.constant('none')]) : fc.constant<'none'>('none'),
      headers: weighted<Header[]>([3, fc.constant<Header[]>([])], [4, fc.array(headerGroupArbitrary, { minLength: 1, maxLength: 3 }).map((groups) => groups.flat())]),
      chunkedBody: fc.constantFrom(...CHUNKED_BODIES),
      trailing: weighted([8, fc.constant('')], [1, fc.constantFrom('x', 'GET / HTTP/1.1\r\n\r\n', '\r\n')]),
    })
    .map(({ method, path, query, version, host, auth, headers, chunkedBody, trailing }) => {
      let target = `${path}${query}`;
      if (auth === 'query') target += `${query === '' ? '?' : '&'}access_token=${TOKEN}`;
      const all: Header[] = [...(host ? [{ name: 'Host', value: 'localhost' }] : []), ...(auth === 'header' ? [{ name: 'Authorization', value: `Bearer ${TOKEN}` }] : []), ...headers];
      const { body, incomplete } = bodyFor(all, chunkedBody, trailing);
      const line = version === '' ? `${method} ${target}` : `${method} ${target} ${version}`;
      const text = `${line}\r\n${all.map(({ name, value }) => `${name}: ${value}\r\n`).join('')}\r\n${body}`;
      const request: FuzzRequest = { text, method, target, version, headers: all, wellFormed: isWellFormed(method, target, version, all, incomplete), incomplete };
      // A counterexample is reported as the bytes sent, not as the object's fields.
      return Object.defineProperty(request, fc.toStringMethod, { value: () => `${JSON.stringify(text)} (${request.wellFormed ? 'well-formed' : 'not well-formed'}${incomplete ? ', body incomplete' : ''})` });
    });

/** The body a request's framing headers call for: exactly as long as declared when that is small, else short of it. */
function bodyFor(headers: readonly Header[], chunkedBody: string, trailing: string): { body: string; incomplete: boolean } {
  const find = (name: string): string | undefined => headers.find((header) => header.name.toLowerCase() === name)?.value;
  if (find('transfer-encoding') !== undefined) return { body: chunkedBody, incomplete: !chunkedBody.endsWith('0\r\n\r\n') };
  const length = find('content-length');
  if (length !== undefined && /^\s*\+?\d+\s*$/.test(length)) {
    const n = Number(length);
    return n <= 256 ? { body: 'x'.repeat(n), incomplete: false } : { body: 'abc', incomplete: true };
  }
  return { body: trailing, incomplete: false };
}

const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CLEAN_TARGET = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;

/** Syntactically valid HTTP/1.x (RFC 9112), whatever it asks for. */
function isWellFormed(method: string, target: string, version: string, headers: readonly Header[], incomplete: boolean): boolean {
  if (!STANDARD_METHODS.includes(method) || !CLEAN_TARGET.test(target) || (version !== 'HTTP/1.0' && version !== 'HTTP/1.1')) return false;
  if (incomplete) return false;
  if (version === 'HTTP/1.1' && headers.filter((header) => header.name.toLowerCase() === 'host').length !== 1) return false;
  return headers.every(({ name, value }) => {
    if (!TOKEN_CHARS.test(name) || !/^[\t\x20-\x7e]*$/.test(value)) return false;
    switch (name.toLowerCase()) {
      case 'content-length':
        return /^\d+$/.test(value);
      case 'transfer-encoding':
        return false; // chunk syntax is not checked here: counted as not well-formed, which only allows a close
      case 'host':
        return /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(value);
      default:
        return true;
    }
  });
}

// ---------------------------------------------------------------- answers

/** What came back for one request. */
interface Answer {
  /** 'answered': some bytes of an answer arrived; 'closed': the server closed without one; 'timeout': neither in time. */
  outcome: 'answered' | 'closed' | 'timeout';
  /** The final answer's status (after any 100 Continue); undefined when what arrived is not a status line. */
  status: number | undefined;
  head: string;
  body: Buffer;
  /** The first bytes received, for reports. */
  raw: Buffer;
  ms: number;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/;

/** The status of a response head's first line, or undefined if it is not a status line. */
function statusOf(head: string): number | undefined {
  const match = STATUS_LINE.exec(head.split('\r\n', 1)[0] ?? '');
  return match === null ? undefined : Number(match[1]);
}

function headerOf(head: string, name: string): string | undefined {
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/**
 * Sends `request` on a fresh connection and reads the answer: its head, then up
 * to BODY_LIMIT bytes of body (or what arrives within BODY_WAIT_MS: a stream
 * never ends); then the socket is destroyed, which also ends any stream.
 */
function exchange(port: number, request: FuzzRequest): Promise<Answer> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let received: Buffer = Buffer.alloc(0);
    let offset = 0; // where the response being read starts (after any 1xx interim response)
    let bodyStart = -1;
    let head = '';
    let bodyTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (outcome: Answer['outcome']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(bodyTimer);
      socket.destroy();
      // Bytes beyond any interim answer (100 Continue alone is no answer).
      const answered = received.length > offset;
      if (bodyStart < 0 && answered) head = received.subarray(offset).toString('latin1'); // a head cut short
      resolve({
        outcome: answered ? 'answered' : outcome,
        status: answered ? statusOf(head) : undefined,
        head,
        body: bodyStart < 0 ? Buffer.alloc(0) : received.subarray(bodyStart, bodyStart + BODY_LIMIT),
        raw: received.subarray(0, 600),
        ms: performance.now() - started,
      });
    };
    const timer = setTimeout(() => finish('timeout'), request.incomplete ? INCOMPLETE_TIMEOUT_MS : ANSWER_TIMEOUT_MS);

    const bodyDone = (): boolean => {
      const body = received.length - bodyStart;
      if (body >= BODY_LIMIT) return true;
      const length = Number(headerOf(head, 'content-length') ?? NaN);
      if (Number.isInteger(length)) return body >= length;
      return /chunked/i.test(headerOf(head, 'transfer-encoding') ?? '') && received.subarray(bodyStart).toString('latin1').endsWith('0\r\n\r\n');
    };
    const parse = (): void => {
      while (bodyStart < 0) {
        const end = received.indexOf('\r\n\r\n', offset);
        if (end < 0) return;
        const text = received.toString('latin1', offset, end);
        const status = statusOf(text);
        // An interim answer (100 Continue): the final one follows on the same connection.
        if (status !== undefined && status >= 100 && status < 200 && status !== 101) {
          offset = end + 4;
          continue;
        }
        head = text;
        bodyStart = end + 4;
        // No body: HEAD, a switch of protocols, 204 and 304 (and whatever is not HTTP).
        if (request.method === 'HEAD' || status === undefined || status === 101 || status === 204 || status === 304) return finish('answered');
        bodyTimer = setTimeout(() => finish('answered'), BODY_WAIT_MS);
      }
      if (bodyDone()) finish('answered');
    };
    socket.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      parse();
    });
    // A reset after the answer (the server refusing the rest of a long request) is fine: we keep what came.
    socket.on('error', () => finish('closed'));
    socket.on('end', () => finish('closed'));
    socket.write(Buffer.from(request.text, 'utf8'));
  });
}

// ---------------------------------------------------------------- oracles

const STACK_TRACE = /\n\s+at .+\(.+:\d+:\d+\)/;
/** 503s the README documents for capacity (not unhandled errors): too many profiles or viewers, no frame yet. */
const DOCUMENTED_503 = new Set(['too_many_profiles', 'too_many_viewers', 'no_frame_yet', 'shutting_down']);

function errorCodeOf(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Property 1: what is wrong with the server's handling of `request`, or
 * undefined. Every request gets an answer (a closed connection only for one that
 * is not well-formed HTTP), never a 5xx, never a stack trace.
 */
function serverFault(request: FuzzRequest, answer: Answer): string | undefined {
  if (answer.outcome === 'timeout') return `no answer within ${request.incomplete ? INCOMPLETE_TIMEOUT_MS : ANSWER_TIMEOUT_MS} ms`;
  if (answer.outcome === 'closed') return request.wellFormed ? 'the connection was closed without an answer to a well-formed request' : undefined;
  if (answer.status === undefined) return 'the answer does not start with an HTTP/1.x status line';
  if (answer.status >= 500 && !(answer.status === 503 && DOCUMENTED_503.has(errorCodeOf(answer.body) ?? ''))) return `a ${answer.status}: a server error`;
  // A JPEG (a snapshot, a stream's part) may hold any bytes; everything else is text.
  const type = headerOf(answer.head, 'content-type') ?? '';
  const text = /^(image\/|multipart\/)/i.test(type) ? answer.head : `${answer.head}\r\n\r\n${answer.body.toString('utf8')}`;
  if (STACK_TRACE.test(text) || text.includes('node:internal')) return 'the answer carries a stack trace';
  return undefined;
}

/** Paths that may answer 2xx to a GET or HEAD. */
const OK_PATHS = new Set([
  '/',
  '/stream',
  '/snapshot',
  '/state',
  '/healthz',
  '/api/stats',
  '/api/events',
  '/metrics',
  ...CAMERA_IDS.flatMap((id) => [`/cam/${id}/stream`, `/cam/${id}/snapshot`, `/cam/${id}/state`]),
  ...['dashboard.css', 'dashboard.js', 'live-frames.js', 'icon.svg', 'uplot.js', 'uplot.css'].map((file) => `/dashboard/${file}`),
]);
const STREAM_PATHS = new Set(['/stream', ...CAMERA_IDS.map((id) => `/cam/${id}/stream`)]);

/** The path and query of an origin-form or absolute-form target; no path for '*' and other forms. */
function splitTarget(target: string): { path: string | undefined; query: string } {
  const origin = target.replace(/^https?:\/\/[^/?#]*/i, '');
  const at = origin.indexOf('?');
  const [path, query] = at < 0 ? [origin, ''] : [origin.slice(0, at), origin.slice(at + 1)];
  if (path === '' && origin !== target) return { path: '/', query };
  return { path: path.startsWith('/') ? path : undefined, query };
}

/** A path and what RFC 3986 calls equivalent to it: percent-decoded, dot segments removed. */
function equivalentPaths(path: string): string[] {
  const candidates = [path];
  try {
    candidates.push(decodeURIComponent(path));
  } catch {
    // an invalid escape: only the raw path
  }
  for (const each of [...candidates]) {
    try {
      candidates.push(new URL(`http://localhost${each}`).pathname);
    } catch {
      // not a path URL can parse: no normalised form
    }
  }
  return candidates;
}

/** The endpoint (one that may answer 2xx) a path names, if any. */
function endpointOf(path: string): string | undefined {
  return equivalentPaths(path).find((candidate) => OK_PATHS.has(candidate));
}

/** Why a stream's query is invalid (README: fps 0.1–240, quality 1–100, width 16–7680, quirk flags 1/0…), or undefined. */
function streamQueryProblem(params: URLSearchParams): string | undefined {
  const rules: [string, number, number, boolean][] = [
    ['fps', 0.1, 240, false],
    ['quality', 1, 100, true],
    ['width', 16, 7680, true],
  ];
  for (const [name, min, max, integer] of rules) {
    const values = params.getAll(name);
    if (values.length > 1) return `${name} is given ${values.length} times`;
    const raw = values[0];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) return `${name}=${raw.slice(0, 40)} is out of range`;
  }
  for (const name of ['advance_headers', 'dual_final_frames']) {
    const values = params.getAll(name);
    if (values.length > 1) return `${name} is given ${values.length} times`;
    const raw = values[0];
    if (raw !== undefined && !['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return `${name}=${raw.slice(0, 40)} is not a flag`;
  }
  return undefined;
}

/** Why `request` is not one that may succeed, or undefined when it may. */
function whyInvalid(request: FuzzRequest, authOn: boolean): string | undefined {
  if (request.method !== 'GET' && request.method !== 'HEAD') return `its method is ${JSON.stringify(request.method.slice(0, 40))}`;
  const { path, query } = splitTarget(request.target);
  if (path === undefined) return `its target ${JSON.stringify(request.target.slice(0, 80))} is not a path`;
  if (authOn && !request.text.includes(TOKEN) && path !== '/healthz') return 'it carries no token';
  const endpoint = endpointOf(path);
  if (endpoint === undefined) return `there is no endpoint ${JSON.stringify(path.slice(0, 80))}`;
  const params = new URLSearchParams(query);
  if (STREAM_PATHS.has(endpoint)) {
    const problem = streamQueryProblem(params);
    return problem === undefined ? undefined : `its stream query is invalid: ${problem}`;
  }
  const actions = params.getAll('action');
  if (endpoint === '/' && actions.length > 0) {
    // mjpg-streamer's /?action=stream|snapshot[_<n>], n a camera index.
    const match = actions.length === 1 ? /^(stream|snapshot)(?:_(\d{1,3}))?$/.exec(actions[0] as string) : null;
    if (match === null || Number(match[2] ?? 0) >= CAMERA_IDS.length) return `action=${actions.join(',').slice(0, 40)} is not a valid action`;
    if (match[1] === 'stream') {
      const problem = streamQueryProblem(params);
      return problem === undefined ? undefined : `its stream query is invalid: ${problem}`;
    }
  }
  return undefined;
}

/**
 * Property 2: a 2xx (or a 101 switch to WebSocket) only for a request that is
 * actually valid: GET or HEAD of an endpoint, valid stream parameters, the
 * token when auth is on (except /healthz). Deliberately coarse: it checks only
 * what a success needs, not that every valid request succeeds.
 */
function unexpectedSuccess(request: FuzzRequest, answer: Answer, authOn: boolean): string | undefined {
  const status = answer.status;
  if (status === 101) {
    const { path } = splitTarget(request.target);
    const hasKey = request.headers.some((header) => header.name.toLowerCase() === 'sec-websocket-key' && header.value !== '');
    if (path === undefined || !equivalentPaths(path).includes('/ws') || !hasKey) return `a 101 for ${JSON.stringify(request.target.slice(0, 80))} without a WebSocket handshake on /ws`;
    return authOn && !request.text.includes(TOKEN) ? 'a 101 without the token' : undefined;
  }
  if (status === undefined || status < 200 || status >= 300) return undefined;
  const why = whyInvalid(request, authOn);
  return why === undefined ? undefined : `a ${status} although ${why}`;
}

// ---------------------------------------------------------------- the server and its viewers

interface WsViewer {
  socket: WebSocket;
  /** Sequence numbers of the frames received, in order. */
  sequences: number[];
  closed: boolean;
}

interface Fixture {
  server: Camstream;
  url: string;
  port: number;
  authOn: boolean;
  /** The two MJPEG viewers, by what they watch. */
  viewers: { name: string; client: MjpegClient }[];
  ws: WsViewer;
  rssBeforeBytes: number;
  /** Statuses seen, for the diagnostics: how much of the space the fuzzing reached. */
  statuses: Map<string, number>;
  requests: number;
  requestMs: number;
}

const toBuffer = (data: RawData): Buffer => (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));

async function connectWs(url: string, path: string, headers: Record<string, string>): Promise<WsViewer> {
  const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, { headers });
  const viewer: WsViewer = { socket, sequences: [], closed: false };
  socket.on('message', (data, isBinary) => {
    if (isBinary) viewer.sequences.push(decodeFrameMessage(toBuffer(data)).sequence);
  });
  socket.once('close', () => (viewer.closed = true));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return viewer;
}

async function startFixture(authOn: boolean): Promise<Fixture> {
  const { server, url } = await startServer({
    cameras: CAMERA_IDS.map((id) => ({ id, source: `synthetic:320x240@${FPS}`, alwaysOn: true })),
    ...(authOn ? { auth: { tokens: [TOKEN] } } : {}),
    limits: { maxHeaderBytes: MAX_HEADER_BYTES, requestTimeoutSeconds: REQUEST_TIMEOUT_SECONDS },
  });
  const authLine = authOn ? `Authorization: Bearer ${TOKEN}\r\n` : '';
  const viewers = ['/stream', '/cam/b/stream'].map((path) => ({
    name: path,
    client: connectMjpeg(url, path, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: camstream-test\r\n${authLine}\r\n`),
  }));
  const ws = await connectWs(url, '/ws?cameras=b', authOn ? { authorization: `Bearer ${TOKEN}` } : {});
  await Promise.all(viewers.map(({ client }) => client.waitForParts(3)));
  return { server, url, port: Number(new URL(url).port), authOn, viewers, ws, rssBeforeBytes: process.memoryUsage().rss, statuses: new Map(), requests: 0, requestMs: 0 };
}

async function stopFixture(fixture: Fixture | undefined): Promise<void> {
  if (fixture === undefined) return;
  for (const { client } of fixture.viewers) client.close();
  fixture.ws.socket.terminate();
  await fixture.server.stop();
}

/**
 * Runs `property` over fuzzed requests against the fixture's server. A failure
 * names the (shrunk) request and the answer; the seed replays it.
 */
async function fuzz(t: TestContext, fixture: Fixture, seed: number, property: (request: FuzzRequest, answer: Answer) => string | undefined): Promise<void> {
  t.diagnostic(`fast-check seed ${seed}, ${RUNS} runs (replay all with FUZZ_SEED=${SEED})`);
  const started = performance.now();
  try {
    await fc.assert(
      fc.asyncProperty(requestArbitrary(fixture.authOn), async (request) => {
        const answer = await exchange(fixture.port, request);
        fixture.requests++;
        fixture.requestMs += answer.ms;
        const key = answer.status === undefined ? answer.outcome : String(answer.status);
        fixture.statuses.set(key, (fixture.statuses.get(key) ?? 0) + 1);
        const problem = property(request, answer);
        if (problem !== undefined) {
          throw new Error(`${problem}\n    request: ${JSON.stringify(request.text.slice(0, 1000))}\n    answer (${answer.outcome}, ${Math.round(answer.ms)} ms): ${JSON.stringify(answer.raw.toString('latin1'))}`);
        }
      }),
      // Shrinking a failure sends more requests, and one that hangs costs ANSWER_TIMEOUT_MS
      // each time: bound it, so a failure reports in time (with the smallest request found so far).
      { numRuns: RUNS, seed, includeErrorInReport: true, plugins: [fc.interruptAfterTimeLimit(SHRINK_LIMIT_MS)] },
    );
  } finally {
    t.diagnostic(`${Math.round(performance.now() - started)} ms; statuses so far on this server: ${JSON.stringify(Object.fromEntries([...fixture.statuses].sort()))}`);
  }
}

/** Where consecutive sequence numbers jump (a frame the viewer never got), as "a→b". */
function gapsIn(sequences: readonly number[]): string[] {
  const gaps: string[] = [];
  for (let i = 1; i < sequences.length; i++) {
    const previous = sequences[i - 1] as number;
    if (sequences[i] !== previous + 1) gaps.push(`${previous}→${sequences[i]}`);
  }
  return gaps;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

// ---------------------------------------------------------------- the tests

for (const authOn of [true, false]) {
  describe(`fuzzing requests while viewers stream (auth ${authOn ? 'on: a bearer token' : 'off'})`, () => {
    let fixture: Fixture | undefined;
    const seedOffset = authOn ? 0 : 2;
    before(async () => {
      fixture = await startFixture(authOn);
    });
    after(() => stopFixture(fixture));

    test('every request gets an answer (or, if not well-formed HTTP, a closed connection): never a 5xx, never a stack trace', async (t) => {
      await fuzz(t, fixture as Fixture, SEED + seedOffset, serverFault);
    });

    test(`a 2xx only for a valid request${authOn ? ' (never without the token, but for /healthz)' : ''}`, async (t) => {
      await fuzz(t, fixture as Fixture, SEED + seedOffset + 1, (request, answer) => unexpectedSuccess(request, answer, authOn));
    });

    test('afterwards the server is up and the viewers lost no frame', async (t) => {
      const f = fixture as Fixture;
      const health = await fetch(`${f.url}/healthz`);
      assert.equal(health.status, 200, '/healthz answers 200');
      t.diagnostic(`${f.requests} fuzz requests, ${Math.round(f.requestMs / Math.max(1, f.requests))} ms each on average`);

      for (const { name, client } of f.viewers) {
        const before = client.parts.length;
        // Still streaming: new frames keep coming.
        assert.ok(await waitFor(() => client.parts.length >= before + 3, 2000), `${name}: no new frames after the fuzzing (${before} parts in all)`);
        const sequences = client.parts.map((part) => Number(part.headers['x-frame-sequence']));
        assert.deepEqual(gapsIn(sequences), [], `${name}: frames missing between these sequence numbers (of ${sequences.length})`);
        const first = client.parts[0] as (typeof client.parts)[number];
        const seconds = (performance.timeOrigin + performance.now()) / 1000 - first.receivedMicros / 1e6;
        const expected = FPS * seconds;
        t.diagnostic(`${name}: ${sequences.length} frames in ${seconds.toFixed(1)} s (${(sequences.length / seconds).toFixed(1)} fps), no gaps`);
        assert.ok(sequences.length >= 0.8 * expected, `${name}: ${sequences.length} frames in ${seconds.toFixed(1)} s, expected about ${Math.round(expected)}`);
      }

      const wsBefore = f.ws.sequences.length;
      assert.ok(!f.ws.closed, 'the WebSocket viewer is still connected');
      assert.ok(await waitFor(() => f.ws.sequences.length >= wsBefore + 3, 2000), `the WebSocket viewer gets no new frames (${wsBefore} in all)`);
      t.diagnostic(`WebSocket viewer of b: ${f.ws.sequences.length} frames, gaps: ${JSON.stringify(gapsIn(f.ws.sequences))}`);

      // Optional sanity bound: the server (in this process) did not balloon.
      const grownMb = (process.memoryUsage().rss - f.rssBeforeBytes) / 2 ** 20;
      t.diagnostic(`RSS grew ${grownMb.toFixed(1)} MB during the fuzzing`);
      assert.ok(grownMb < 200, `RSS grew ${grownMb.toFixed(0)} MB`);
    });
  });
}
