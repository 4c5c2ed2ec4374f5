import fc from 'fast-check';

// Requests for test/fuzz.test.ts: what is sent, and whether it is well-formed HTTP.
export const TOKEN = 'fuzz-token-0123456789abc'; // 24 characters
export const FPS = 15;
export const CAMERA_IDS = ['a', 'b'] as const;
export const REQUEST_TIMEOUT_SECONDS = 2;
export const MAX_HEADER_BYTES = 8192;
export const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
export const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/**
 * A complete request unanswered after this is a hang: far beyond what an answer takes
 * even on a busy machine (how fast answers come is the bench's business). A failure
 * costs this much per shrinking step, which SHRINK_LIMIT_MS bounds.
 */
export const ANSWER_TIMEOUT_MS = 15_000;
/**
 * A request whose body never arrives whole (Content-Length beyond what is sent, a
 * chunked body without its last chunk) may be answered only once the server gives
 * up on it: request-timeout plus Node's 1 s check interval, plus the same margin.
 */
export const INCOMPLETE_TIMEOUT_MS = REQUEST_TIMEOUT_SECONDS * 1000 + 1000 + ANSWER_TIMEOUT_MS;
/** How much of an answer's body is read: enough for any JSON error, and a stream's first part. */
export const BODY_LIMIT = 4096;
/** Time for one property's runs and shrinking; the runs themselves take a few seconds. */
export const SHRINK_LIMIT_MS = 20_000;
/**
 * How long after its head a body without a Content-Length is read (a stream or SSE
 * never ends): enough for a stream's first part. A body with a Content-Length is read
 * whole (up to BODY_LIMIT), however long it takes.
 */
export const BODY_WAIT_MS = 300;

// ---------------------------------------------------------------- requests

export interface Header {
  name: string;
  value: string;
}

/** One fuzzed request: what is sent, and what the oracles need to know about it. */
export interface FuzzRequest {
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

export const weighted = <T>(...pairs: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> => fc.oneof(...pairs.map(([weight, arbitrary]) => ({ weight, arbitrary })));
export const longString = (min: number, max: number, unit = 'a'): fc.Arbitrary<string> => fc.integer({ min, max }).map((n) => unit.repeat(n));

/**
 * Methods a well-formed request may have. CONNECT is left out: with an
 * origin-form target (all this file sends) it is not valid HTTP, and Node closes
 * the connection of a CONNECT nobody handles.
 */
export const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE'];

// Weights: most requests get past the parser to the routes; the rest try it.
export const methodArbitrary: fc.Arbitrary<string> = weighted(
  [28, fc.constant('GET')],
  [8, fc.constant('HEAD')],
  [4, fc.constantFrom('POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'SEARCH')],
  [1, fc.constantFrom('get', 'Get', 'head', 'post')],
  [1, fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)], // a token, not a method
  [1, fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 8 })], // anything, spaces and controls too
  [1, longString(100, 9000, 'G')],
);

/** Endpoints camstream has, some with an unknown camera or an unknown neighbour. */
export const KNOWN_PATHS = ['/stream', '/snapshot', '/cam/a/stream', '/cam/b/stream', '/cam/a/snapshot', '/cam/b/state', '/cam/zz/stream', '/api/stats', '/api/events', '/state', '/', '/ws', '/metrics', '/healthz', '/dashboard/dashboard.css', '/favicon.ico'];

export const segmentArbitrary: fc.Arbitrary<string> = weighted(
  [4, fc.constantFrom('cam', 'a', 'b', 'stream', 'snapshot', 'api', 'stats', 'state', 'ws', 'metrics', 'healthz', 'dashboard')],
  [2, fc.constantFrom('..', '.', '', '%2e%2e', '.%2e')],
  [2, fc.constantFrom('%41', '%2F', '%20', '%61', '%73tream', '%00', '%ff', '%zz', '%', '%0', '%c3%28', '%E0%A4%A')], // valid and invalid escapes
  [1, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 })], // raw Unicode
  [1, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).map(encodeURIComponent)], // encoded Unicode
  [1, fc.string({ unit: 'grapheme-ascii', maxLength: 8 })], // spaces, '?', '#', quotes…
);

export const pathArbitrary: fc.Arbitrary<string> = weighted(
  [8, fc.constantFrom(...KNOWN_PATHS)],
  [4, fc.array(segmentArbitrary, { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join('/')}`)],
  [1, longString(1000, 9000).map((a) => `/${a}`)],
  // Other forms of request-target, and near misses of the endpoints.
  [1, fc.constantFrom('*', '*stream', 'http://localhost/stream', 'http://localhost/healthz', 'stream', '//stream', '/stream/', '/STREAM', '/stream#x', '/cam//stream', '/cam/a/../../stream')],
);

export const QUERY_KEYS = ['fps', 'quality', 'width', 'advance_headers', 'dual_final_frames', 'key', 'action', 'cameras', 'access_token'];

export const queryValueArbitrary: fc.Arbitrary<string> = weighted(
  [6, fc.constantFrom('', '-1', '0', 'NaN', 'Infinity', '1e400', '0x10', ' 5', '5 ', '1,2', '0.1', '0.05', '15', '60', '100', '101', '240', '241', '16', '640', '7680', '7681', '2.5')],
  [3, fc.constantFrom('1', 'true', 'yes', 'on', 'off', 'maybe', 'stream', 'snapshot', 'stream_1', 'snapshot_1', 'stream_2', 'stream_999', 'command', 'a', 'b', 'a,b', 'zz', ',,')],
  [1, fc.constantFrom('%zz', '%00', '%', '1%00', '%E0%A4%A')], // invalid or NUL escapes (sent raw when not encoded)
  [1, fc.string({ unit: 'grapheme', maxLength: 10 })],
  [1, longString(300, 3000, '9')],
);

/** One `key=value` (or a key alone, or `=value`), mostly encoded as a client would, sometimes raw. */
export const queryParamArbitrary: fc.Arbitrary<string> = fc
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

export const queryArbitrary: fc.Arbitrary<string> = weighted(
  [3, fc.constant('')],
  [1, fc.constant('?')],
  [6, fc.array(queryParamArbitrary, { minLength: 1, maxLength: 5 }).map((params) => `?${params.join('&')}`)],
);

export const versionArbitrary: fc.Arbitrary<string> = weighted(
  [16, fc.constant('HTTP/1.1')],
  [4, fc.constant('HTTP/1.0')],
  [2, fc.constantFrom('HTTP/2.0', 'HTTP/0.9', 'HTTP/3.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1', 'HTTP/11', '', 'HTTP/1.1 x', 'HTTP/1.1\x00', 'HTTP/\u00b9.1')],
);

export const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;
export const one = (name: string, value: fc.Arbitrary<string>): fc.Arbitrary<Header[]> => value.map((v) => [{ name, value: v }]);

/** Groups of header fields: most kinds come alone, a WebSocket upgrade as its set. */
export const headerGroupArbitrary: fc.Arbitrary<Header[]> = weighted(
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
export const CHUNKED_BODIES = ['zz\r\nhello\r\n', '5\r\nab\r\n', '0\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n', '-1\r\n\r\n', 'ffffffffffffffffff\r\n\r\n', '3;ext\r\nabc\r\n0\r\n\r\n'];

export const requestArbitrary = (authOn: boolean): fc.Arbitrary<FuzzRequest> =>
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
export function bodyFor(headers: readonly Header[], chunkedBody: string, trailing: string): { body: string; incomplete: boolean } {
  const find = (name: string): string | undefined => headers.find((header) => header.name.toLowerCase() === name)?.value;
  if (find('transfer-encoding') !== undefined) return { body: chunkedBody, incomplete: !chunkedBody.endsWith('0\r\n\r\n') };
  const length = find('content-length');
  if (length !== undefined && /^\s*\+?\d+\s*$/.test(length)) {
    const n = Number(length);
    return n <= 256 ? { body: 'x'.repeat(n), incomplete: false } : { body: 'abc', incomplete: true };
  }
  return { body: trailing, incomplete: false };
}

export const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
export const CLEAN_TARGET = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;

/** Syntactically valid HTTP/1.x (RFC 9112), whatever it asks for. */
export function isWellFormed(method: string, target: string, version: string, headers: readonly Header[], incomplete: boolean): boolean {
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

