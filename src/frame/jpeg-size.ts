/**
 * Reads a JPEG's width and height from its SOF segment, following segment lengths
 * from the start (the SOF comes before the entropy-coded data). Undefined when the
 * bytes are not a well-formed JPEG header.
 */
export function readJpegSize(jpeg: Uint8Array): { width: number; height: number } | undefined {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 4 <= jpeg.length) {
    if (jpeg[offset] !== 0xff) return undefined;
    const marker = jpeg[offset + 1] as number;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    const length = ((jpeg[offset + 2] as number) << 8) | (jpeg[offset + 3] as number);
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (offset + 9 > jpeg.length) return undefined;
      const height = ((jpeg[offset + 5] as number) << 8) | (jpeg[offset + 6] as number);
      const width = ((jpeg[offset + 7] as number) << 8) | (jpeg[offset + 8] as number);
      return { width, height };
    }
    if (marker === 0xda || marker === 0xd9 || length < 2) return undefined;
    offset += 2 + length;
  }
  return undefined;
}
