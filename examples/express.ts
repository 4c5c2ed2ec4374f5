/**
 * camstream mounted in an express app under /cams: express strips the mount path,
 * so camstream sees its own paths (/cams/stream → /stream).
 *
 *   node dist/examples/express.js    then open <url>/cams/stream
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createCamstream } from 'camstream';

const camstream = createCamstream({ source: 'synthetic:640x360@15', listen: false, logLevel: 'warn' });
await camstream.start();

const app = express();
app.get('/', (_request, response) => {
  response.send('the host app; cameras under /cams\n');
});
app.use('/cams', camstream.handler);

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
await once(server, 'listening');
camstream.boundSendQueue(server);
console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}`);

process.once('SIGTERM', () => {
  void camstream.stop().then(() => server.close());
});
