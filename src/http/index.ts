export { createHttpServer } from './server.js';
export type { HttpServerOptions } from './server.js';
export { streamResponseHead } from './mjpeg-response.js';
export { ViewerLoops } from './viewer-loops.js';
export type { ViewerLoopsOptions } from './viewer-loops.js';
export type { LoopCamera } from './loop-protocol.js';
