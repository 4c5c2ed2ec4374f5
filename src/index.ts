/**
 * camstream as a library: run the server, or use its parts (buffer pool, frames,
 * sources, cameras) in your own Node application.
 */
export { Camstream, createCamstream, ListenError } from './camstream.js';
export type { CamstreamOptions, CameraConfig } from './camstream.js';
export * from './frame/index.js';
export * from './source/index.js';
export * from './stream/index.js';
export * from './metrics/index.js';
export { createHttpServer, decodeFrameMessage, encodeFrameHeader, FRAME_FORMAT_VERSION, WEBSOCKET_PATH } from './http/index.js';
export type { HttpServerOptions, ClientMessage, FrameMessage } from './http/index.js';
export { VERSION } from './version.js';
