/**
 * camstream's typed events: one line per viewer joining or leaving and per change
 * of a camera's source state.
 *
 *   node dist/examples/events.js    then open <url>/stream and close it again
 */
import { createCamstream } from 'camstream';

const camstream = createCamstream({ source: 'synthetic:640x360@15', host: '127.0.0.1', port: Number(process.env.PORT ?? 0), logLevel: 'warn' });

camstream.on('viewer-joined', ({ camera, viewer }) => {
  console.log(`viewer-joined camera=${camera} viewer=${viewer.id} remote=${viewer.remote} agent=${viewer.userAgent ?? '-'}`);
});
camstream.on('viewer-left', ({ camera, viewer, reason, framesSent, bytesSent, drops }) => {
  console.log(`viewer-left camera=${camera} viewer=${viewer.id} reason=${reason} frames=${framesSent} bytes=${bytesSent} drops=${drops}`);
});
camstream.on('source-state', ({ camera, from, to, reason }) => {
  console.log(`source-state camera=${camera} ${from} -> ${to}${reason === null ? '' : ` (${reason})`}`);
});

const url = await camstream.start();
console.log(`listening ${url}`);

process.once('SIGTERM', () => void camstream.stop());
