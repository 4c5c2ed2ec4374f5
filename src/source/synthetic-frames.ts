import sharp from 'sharp';

/**
 * Renders the synthetic camera's ring of JPEG frames once, at start.
 *
 * Each frame shows a ball moving round the picture, a progress bar and the frame's
 * index in the ring as seven-segment digits (drawn as rectangles, so no font needs
 * to be installed), so a person sees at a glance that the stream is live and a
 * test can read which frame it got. Mild sensor-like noise makes the JPEGs about as
 * large as a real camera's (≈ 250 KB at 1920x1080, quality 85).
 */

export interface RenderOptions {
  width: number;
  height: number;
  /** Frames in the ring; the motion repeats after this many. */
  count: number;
  /** JPEG quality 1–100. */
  quality: number;
}

const SEGMENTS: Record<string, string> = {
  '0': 'abcdef', '1': 'bc', '2': 'abdeg', '3': 'abcdg', '4': 'bcfg',
  '5': 'acdfg', '6': 'acdefg', '7': 'abc', '8': 'abcdefg', '9': 'abcdfg',
};

function sevenSegment(digit: string, x: number, y: number, w: number, h: number, fill: string): string {
  const t = Math.max(1, Math.round(w / 5));
  const half = (h - 3 * t) / 2;
  const boxes: Record<string, [number, number, number, number]> = {
    a: [t, 0, w - 2 * t, t],
    b: [w - t, t, t, half],
    c: [w - t, 2 * t + half, t, half],
    d: [t, h - t, w - 2 * t, t],
    e: [0, 2 * t + half, t, half],
    f: [0, t, t, half],
    g: [t, t + half, w - 2 * t, t],
  };
  let out = '';
  for (const segment of SEGMENTS[digit] ?? '') {
    const [bx, by, bw, bh] = boxes[segment] as [number, number, number, number];
    out += `<rect x="${x + bx}" y="${y + by}" width="${bw}" height="${bh}" fill="${fill}"/>`;
  }
  return out;
}

function sceneSvg(index: number, options: RenderOptions): string {
  const { width: w, height: h, count } = options;
  const phase = (2 * Math.PI * index) / count;
  const r = Math.round(h / 10);
  const cx = Math.round(w / 2 + (w / 2 - 2 * r) * Math.cos(phase));
  const cy = Math.round(h / 2 + (h / 2 - 2 * r) * Math.sin(phase));
  const digitH = Math.round(h / 5);
  const digitW = Math.round(digitH / 2);
  const digits = String(index).padStart(String(count - 1).length, '0');
  let counter = '';
  for (let i = 0; i < digits.length; i++) {
    counter += sevenSegment(digits[i] as string, Math.round(w / 20) + i * Math.round(digitW * 1.4), Math.round(h / 12), digitW, digitH, '#f1faee');
  }
  const barH = Math.max(2, Math.round(h / 40));
  const barW = Math.round((w * (index + 1)) / count);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
    '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">' +
    '<stop offset="0" stop-color="#1d3557"/><stop offset="1" stop-color="#457b9d"/></linearGradient></defs>' +
    '<rect width="100%" height="100%" fill="url(#g)"/>' +
    `<circle cx="${cx}" cy="${cy}" r="${r}" fill="#e63946"/>` +
    counter +
    `<rect x="0" y="${h - barH}" width="${barW}" height="${barH}" fill="#a8dadc"/>` +
    '</svg>'
  );
}

/** Renders `count` distinct JPEG frames; rendering runs on libuv's thread pool. */
export async function renderSyntheticFrames(options: RenderOptions): Promise<Buffer[]> {
  const { width, height, quality } = options;
  const noise = await sharp({
    create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 14 } },
  })
    .raw()
    .toBuffer();
  const renderOne = (index: number): Promise<Buffer> =>
    sharp(Buffer.from(sceneSvg(index, options)))
      .composite([{ input: noise, raw: { width, height, channels: 3 }, blend: 'soft-light' }])
      .jpeg({ quality })
      .toBuffer();
  return Promise.all(Array.from({ length: options.count }, (_, index) => renderOne(index)));
}
