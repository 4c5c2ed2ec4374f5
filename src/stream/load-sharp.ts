import type SharpConstructor from 'sharp';

export type Sharp = typeof SharpConstructor;

let sharpModule: Promise<Sharp> | undefined;

/** sharp (libvips) is loaded the first time a viewer needs a re-encoded profile. */
export function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((module) => {
    const sharp = module.default;
    // Frames are never the same twice: libvips' operation cache would only hold memory.
    sharp.cache(false);
    return sharp;
  });
  return sharpModule;
}
