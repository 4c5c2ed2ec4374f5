/**
 * camstream as a library: run the server, or use its parts (buffer pool, frames,
 * sources, cameras) in your own Node application.
 */
export { Camstream, createCamstream, ListenError } from './camstream.js';
export type { CamstreamOptions, CameraConfig, Limits } from './camstream.js';
export type { CamstreamEventName, CamstreamEvents, SourceStateEvent, ViewerIdentity, ViewerJoinedEvent, ViewerLeftEvent } from './camstream-events.js';
export { registerCamstream, stripPrefix } from './mount.js';
export type { Mountable, RegisterCamstreamOptions, RequestHandler, UpgradeHandler } from './mount.js';
export { Authenticator, AuthConfigError, hashPassword, CorsPolicy, StreamAdmission } from './http/index.js';
export type { AuthOptions, CorsOptions, StreamLimits } from './http/index.js';
export * from './frame/index.js';
export * from './source/index.js';
export * from './stream/index.js';
export * from './metrics/index.js';
export { createHttpServer, decodeFrameMessage, encodeFrameHeader, FRAME_FORMAT_VERSION, WEBSOCKET_PATH } from './http/index.js';
export type { HttpServerOptions, ClientMessage, FrameMessage } from './http/index.js';
export { VERSION } from './version.js';
