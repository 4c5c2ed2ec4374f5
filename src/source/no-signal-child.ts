/**
 * The "no signal" card renderer, a long-lived child process (libvips' memory stays
 * out of the server, as for the synthetic ring). Reads one JSON request per line on
 * stdin, answers each on stdout as [4-byte id][4-byte length][JPEG].
 */
import { createInterface } from 'node:readline';
import sharp from 'sharp';

interface Request {
  id: number;
  width: number;
  height: number;
  camera: string;
  time: string;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cardSvg({ width: w, height: h, camera, time }: Request): string {
  const big = Math.round(h / 8);
  const small = Math.round(h / 16);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
    '<rect width="100%" height="100%" fill="#1b1b1f"/>' +
    `<rect x="${Math.round(w * 0.1)}" y="${Math.round(h * 0.3)}" width="${Math.round(w * 0.8)}" height="${Math.round(h * 0.4)}" rx="${small}" fill="#2b2b31" stroke="#e63946" stroke-width="${Math.max(2, Math.round(h / 150))}"/>` +
    `<g font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" text-anchor="middle" fill="#f1faee">` +
    `<text x="${w / 2}" y="${Math.round(h * 0.46)}" font-size="${big}" font-weight="bold">NO SIGNAL</text>` +
    `<text x="${w / 2}" y="${Math.round(h * 0.56)}" font-size="${small}">${escapeXml(camera)}</text>` +
    `<text x="${w / 2}" y="${Math.round(h * 0.64)}" font-size="${small}" fill="#a8dadc">${escapeXml(time)}</text>` +
    '</g></svg>'
  );
}

sharp.cache(false);
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === '') continue;
  const request = JSON.parse(line) as Request;
  const jpeg = await sharp(Buffer.from(cardSvg(request))).jpeg({ quality: 80 }).toBuffer();
  const head = Buffer.alloc(8);
  head.writeUInt32BE(request.id, 0);
  head.writeUInt32BE(jpeg.length, 4);
  process.stdout.write(head);
  process.stdout.write(jpeg);
}
