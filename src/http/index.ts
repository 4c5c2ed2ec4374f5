export { createHttpServer } from './server.js';
export type { HttpServerOptions } from './server.js';
export { streamResponseHead } from './mjpeg-response.js';
