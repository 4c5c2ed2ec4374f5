import net from 'node:net';
import { ANSWER_TIMEOUT_MS, BODY_LIMIT, BODY_WAIT_MS, CAMERA_IDS, INCOMPLETE_TIMEOUT_MS, TOKEN, type FuzzRequest } from './fuzz-requests.js';

// Answers for test/fuzz.test.ts: one raw exchange, and the oracles that judge it.
// ---------------------------------------------------------------- answers

/** What came back for one request. */
export interface Answer {
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

export const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/;

/** The status of a response head's first line, or undefined if it is not a status line. */
export function statusOf(head: string): number | undefined {
  const match = STATUS_LINE.exec(head.split('\r\n', 1)[0] ?? '');
  return match === null ? undefined : Number(match[1]);
}

export function headerOf(head: string, name: string): string | undefined {
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
export function exchange(port: number, request: FuzzRequest): Promise<Answer> {
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
        // A body of known length is read whole (up to BODY_LIMIT), however slowly it comes:
        // the oracles read its error code. One without (a stream, SSE) may never end.
        if (!Number.isInteger(Number(headerOf(head, 'content-length') ?? NaN))) bodyTimer = setTimeout(() => finish('answered'), BODY_WAIT_MS);
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

export const STACK_TRACE = /\n\s+at .+\(.+:\d+:\d+\)/;
/** 503s the README documents for capacity (not unhandled errors): too many profiles or viewers, no frame yet. */
export const DOCUMENTED_503 = new Set(['too_many_profiles', 'too_many_viewers', 'no_frame_yet', 'shutting_down']);

export function errorCodeOf(body: Buffer): string | undefined {
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
export function serverFault(request: FuzzRequest, answer: Answer): string | undefined {
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
export const OK_PATHS = new Set([
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
export const STREAM_PATHS = new Set(['/stream', ...CAMERA_IDS.map((id) => `/cam/${id}/stream`)]);

/** The path and query of an origin-form or absolute-form target; no path for '*' and other forms. */
export function splitTarget(target: string): { path: string | undefined; query: string } {
  const origin = target.replace(/^https?:\/\/[^/?#]*/i, '');
  const at = origin.indexOf('?');
  const [path, query] = at < 0 ? [origin, ''] : [origin.slice(0, at), origin.slice(at + 1)];
  if (path === '' && origin !== target) return { path: '/', query };
  return { path: path.startsWith('/') ? path : undefined, query };
}

/** A path and what RFC 3986 calls equivalent to it: percent-decoded, dot segments removed. */
export function equivalentPaths(path: string): string[] {
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
export function endpointOf(path: string): string | undefined {
  return equivalentPaths(path).find((candidate) => OK_PATHS.has(candidate));
}

/** Why a stream's query is invalid (README: fps 0.1–240, quality 1–100, width 16–7680, quirk flags 1/0…), or undefined. */
export function streamQueryProblem(params: URLSearchParams): string | undefined {
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
export function whyInvalid(request: FuzzRequest, authOn: boolean): string | undefined {
  if (request.method !== 'GET' && request.method !== 'HEAD') return `its method is ${JSON.stringify(request.method.slice(0, 40))}`;
  const { path, query } = splitTarget(request.target);
  if (path === undefined) return `its target ${JSON.stringify(request.target.slice(0, 80))} is not a path`;
  // Public with auth on: /healthz, and the dashboard's code under /dashboard/ (README, "Security").
  if (authOn && !request.text.includes(TOKEN) && path !== '/healthz' && !/^\/dashboard\/[\w-]+\.(?:js|css|svg)$/.test(path)) return 'it carries no token';
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
 * token when auth is on (except /healthz and the dashboard's code). Deliberately coarse: it checks only
 * what a success needs, not that every valid request succeeds.
 */
export function unexpectedSuccess(request: FuzzRequest, answer: Answer, authOn: boolean): string | undefined {
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

