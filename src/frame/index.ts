export { BufferPool, PooledBuffer, CLASS_SIZES, MIN_CLASS_SIZE, MAX_CLASS_SIZE, classIndexFor } from './buffer-pool.js';
export type { BufferPoolOptions, PoolStats } from './buffer-pool.js';
export { CountedMemory, Frame, FrameFactory, captureTimeNow } from './frame.js';
export type { CaptureTime, FrameMemory } from './frame.js';
export { BOUNDARY, STREAM_CONTENT_TYPE, PART_TRAILER, ADVANCE_HEADER, FIRST_BOUNDARY, HEADER_SPACE, formatTimestamp, partHeader, writePartHeader } from './multipart.js';
export { CamstreamError, BufferOwnershipError, FrameSizeError } from './errors.js';
export { JpegFramer, DEFAULT_MAX_FRAME_BYTES } from './jpeg-framer.js';
export type { JpegFramerOptions, JpegFramerStats, JpegDiscardReason } from './jpeg-framer.js';
export { readJpegSize } from './jpeg-size.js';
