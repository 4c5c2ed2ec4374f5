/**
 * camstream mounted in a fastify app under /cams: registerCamstream forwards every
 * GET/HEAD/OPTIONS below the prefix to camstream, which answers on the raw socket.
 *
 *   node dist/examples/fastify.js    then open <url>/cams/stream
 */
import Fastify from 'fastify';
import { createCamstream, registerCamstream } from 'camstream';

const camstream = createCamstream({ source: 'synthetic:640x360@15', listen: false, logLevel: 'warn' });
await camstream.start();

const app = Fastify();
app.get('/', async () => ({ app: 'the host app', cameras: '/cams' }));
registerCamstream(app, camstream, { prefix: '/cams' });

const url = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
camstream.boundSendQueue(app.server);
console.log(`listening ${url}`);

process.once('SIGTERM', () => {
  void camstream.stop().then(() => app.close());
});
