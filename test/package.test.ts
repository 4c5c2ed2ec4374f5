import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * What `npm install camstream` gets: the compiled library with its type
 * declarations, the dashboard's files, the docs, and nothing of the checkout's
 * tests, benchmarks, examples or TypeScript sources.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface PackageJson {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, Record<string, string>>;
}

/** The files `npm pack` would put in the tarball. Scripts are skipped: the build already ran, and `prepare` would rebuild. */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
  assert.ok(pack !== undefined, 'npm pack described no package');
  return pack.files.map((file) => file.path);
}

test('the package holds the library, its declarations and the dashboard, and none of the sources', async () => {
  const files = await packedFiles();
  const wanted = ['dist/src/index.js', 'dist/src/index.d.ts', 'web/index.html', 'web/dashboard.css', 'web/icon.svg', 'dist/web/dashboard.js', 'dist/web/live-frames.js', 'README.md', 'package.json'];
  if (existsSync(`${ROOT}LICENSE`)) wanted.push('LICENSE');
  for (const path of wanted) assert.ok(files.includes(path), `${path} is not in the package`);

  const unwanted = files.filter((path) => /^(dist\/)?(test|bench|examples)\//.test(path) || (path.endsWith('.ts') && !path.endsWith('.d.ts')));
  assert.deepEqual(unwanted, [], 'tests, benchmarks, examples and TypeScript sources stay out of the package');
});

test('package.json\'s exports, types, main and bin point at files the package holds', async () => {
  const files = new Set(await packedFiles());
  const manifest = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as PackageJson;
  const targets = [manifest.main, manifest.types, ...Object.values(manifest.bin), ...Object.values(manifest.exports).flatMap((conditions) => Object.values(conditions))];
  assert.ok(targets.length >= 5, `targets: ${targets.join(', ')}`);
  for (const target of targets) assert.ok(files.has(target.replace(/^\.\//, '')), `${target} is named in package.json but not packed`);
});
