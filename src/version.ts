import { readFileSync } from 'node:fs';

/** camstream's version, from its package.json (two folders up from dist/src/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
