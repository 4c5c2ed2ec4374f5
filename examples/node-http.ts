/**
 * camstream's endpoints in a plain node:http server, next to the host's own route.
 * camstream does not listen (`listen: false`); the host hands it requests.
 *
 *   node dist/examples/node-http.js    then open <url>/hello, <url>/stream, <url>/
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCamstream } from 'camstream';

const camstream = createCamstream({ source: 'synthetic:640x360@15', listen: false, logLevel: 'warn' });
await camstream.start(); // starts the cameras and readies the routes

const server = http.createServer((request, response) => {
  if (request.url === '/hello') {
    response.end('hello from the host\n');
    return;
  }
  // Everything else is camstream's, at the root: /stream, /snapshot, /api/stats, the dashboard.
  // (Under a prefix instead: `if (stripPrefix(request, '/cams')) camstream.handler(request, response)`.)
  camstream.handler(request, response);
});
// The dashboard's live pictures come over a WebSocket (/ws).
server.on('upgrade', camstream.upgrade);

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
await once(server, 'listening');
// Bound each viewer's kernel send queue, as camstream does on its own socket (slow viewers stay near live).
camstream.boundSendQueue(server);
console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}`);

process.once('SIGTERM', () => {
  // Ending camstream first ends its streams, which would otherwise keep server.close() waiting.
  void camstream.stop().then(() => server.close());
});
