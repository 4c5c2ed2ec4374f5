import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cameraConfigs, ConfigError, resolveSettings, UsageError } from '../src/cli/args.js';
import { printConfig } from '../src/cli/print-config.js';
import { DEFAULT_ENCODE_BUDGET_MS } from '../src/stream/index.js';

const dir = mkdtempSync(join(tmpdir(), 'camstream-config-'));
function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const CAMS = configFile(
  'cams.yaml',
  `port: 9000
host: 0.0.0.0
cameras:
  - id: door
    source: rtsp://user:pass@192.0.2.10/stream1
    always-on: true
    stall-timeout: 3
  - id: printer
    source: v4l2:///dev/video0?size=1280x720&fps=30
    quality: 70
`,
);

test('a config file defines cameras and settings', async () => {
  const settings = await resolveSettings(['--config', CAMS]);
  assert.equal(settings.port, 9000);
  assert.equal(settings.host, '0.0.0.0');
  assert.deepEqual(settings.cameras, [
    { id: 'door', source: 'rtsp://user:pass@192.0.2.10/stream1', alwaysOn: true, stallTimeoutSeconds: 3 },
    { id: 'printer', source: 'v4l2:///dev/video0?size=1280x720&fps=30', quality: 70 },
  ]);
});

test('per-camera adaptation: thresholds, profiles and ladder from the file', async () => {
  const path = configFile(
    'adaptive.yaml',
    `cameras:
  - id: a
    source: synthetic:64x64@5
    viewer-stall-timeout: 3
    drop-same-frames: true
    adaptive:
      lag-high: 0.4
      recover-after: 5
    profiles:
      tiny: { scale: 0.125, quality: 30 }
    ladder:
      - { profile: source }
      - { fps: 10, profile: half-q60 }
      - { fps: 2, profile: tiny }
  - id: b
    source: synthetic:64x64@5
    adaptive: false
`,
  );
  const [a, b] = (await resolveSettings(['--config', path])).cameras;
  assert.deepEqual(a, {
    id: 'a',
    source: 'synthetic:64x64@5',
    viewerStallTimeoutSeconds: 3,
    dropSameFrames: true,
    adaptive: { lagHighMs: 400, recoverAfterMs: 5000 },
    profiles: { tiny: { scale: 0.125, quality: 30 } },
    ladder: [{ maxFps: undefined, profile: 'source' }, { maxFps: 10, profile: 'half-q60' }, { maxFps: 2, profile: 'tiny' }],
  });
  assert.equal(b?.adaptive, false);
});

test('precedence: flags over environment over file over defaults', async () => {
  assert.equal((await resolveSettings([], {})).port, 8080);
  assert.equal((await resolveSettings(['-c', CAMS], {})).port, 9000);
  assert.equal((await resolveSettings([], { CAMSTREAM_CONFIG: CAMS, CAMSTREAM_PORT: '9100' })).port, 9100);
  assert.equal((await resolveSettings(['--port', '9200'], { CAMSTREAM_CONFIG: CAMS, CAMSTREAM_PORT: '9100' })).port, 9200);
  assert.equal((await resolveSettings([], { CAMSTREAM_CONFIG: CAMS, CAMSTREAM_HOST: '127.0.0.2' })).host, '127.0.0.2');
  // A --source (or CAMSTREAM_SOURCE) is one camera and replaces the file's list.
  assert.deepEqual((await resolveSettings(['-c', CAMS], { CAMSTREAM_SOURCE: 'synthetic:64x64@5' })).cameras, [{ id: 'default', source: 'synthetic:64x64@5' }]);
});

test('a bad environment variable is named in the error', async () => {
  await assert.rejects(() => resolveSettings([], { CAMSTREAM_PORT: 'eighty' }), (error: Error) => error instanceof UsageError && /^CAMSTREAM_PORT: expected a port number/.test(error.message));
  await assert.rejects(() => resolveSettings([], { CAMSTREAM_SOURCE: 'nope' }), /UsageError: CAMSTREAM_SOURCE: unknown source 'nope'/);
});

const BUDGETS = configFile(
  'budgets.yaml',
  `encode-budget: 40
cameras:
  - id: own
    source: synthetic:64x64@5
    encode-budget: 20
  - id: inherits
    source: synthetic:64x64@5
`,
);

test('encode-budget: the top level is every camera\'s default, a camera\'s own wins', async () => {
  const settings = await resolveSettings(['--config', BUDGETS]);
  assert.equal(settings.encodeBudgetMs, 40);
  assert.deepEqual(settings.cameras.map((camera) => camera.encodeBudgetMs), [20, undefined], 'the file as written');
  assert.deepEqual(cameraConfigs(settings).map((camera) => [camera.id, camera.encodeBudgetMs]), [['own', 20], ['inherits', 40]], 'what the library gets');
});

test('encode-budget precedence: flag over environment over file; unset leaves the library default', async () => {
  assert.equal((await resolveSettings(['-c', BUDGETS], { CAMSTREAM_ENCODE_BUDGET: '60' })).encodeBudgetMs, 60);
  const flagged = await resolveSettings(['-c', BUDGETS, '--encode-budget', '75'], { CAMSTREAM_ENCODE_BUDGET: '60' });
  assert.equal(flagged.encodeBudgetMs, 75);
  assert.deepEqual(cameraConfigs(flagged).map((camera) => camera.encodeBudgetMs), [20, 75], "the flag is the default; a camera's own still wins");
  // --source replaces the file's cameras; the flag still applies to that one.
  assert.deepEqual(cameraConfigs(await resolveSettings(['--source', 'synthetic:64x64@5', '--encode-budget', '9'])), [{ id: 'default', source: 'synthetic:64x64@5', encodeBudgetMs: 9 }]);

  const plain = await resolveSettings([]);
  assert.equal(plain.encodeBudgetMs, undefined);
  assert.deepEqual(cameraConfigs(plain), [{ id: 'default', source: plain.cameras[0]?.source }], 'no encodeBudgetMs: the library picks its default');
  await assert.rejects(() => resolveSettings(['--encode-budget', '0']), (error: Error) => error instanceof UsageError && /^--encode-budget: expected CPU milliseconds per second, a whole number from 1 to \d+ .*got 0$/.test(error.message));
  await assert.rejects(() => resolveSettings([], { CAMSTREAM_ENCODE_BUDGET: '0.5' }), (error: Error) => error instanceof UsageError && /^CAMSTREAM_ENCODE_BUDGET: expected CPU milliseconds per second.*got '0\.5'$/.test(error.message));
});

test('--print-config shows encode-budget (top level and per camera) and loads back to the same settings', async () => {
  const settings = await resolveSettings(['-c', BUDGETS, '--encode-budget', '75']);
  const printed = await printConfig(settings);
  assert.match(printed, /^encode-budget: 75$/m);
  assert.match(printed, /^ {4}encode-budget: 20$/m, "the camera's own");
  assert.equal(printed.match(/encode-budget/g)?.length, 2, 'the inheriting camera has no key of its own');
  const reloaded = await resolveSettings(['-c', configFile('printed.yaml', printed)]);
  assert.deepEqual(cameraConfigs(reloaded), cameraConfigs(settings));
  assert.equal(await printConfig({ ...reloaded, configFile: settings.configFile }), printed, 'printing the printed file changes nothing');

  // Unset, the default in effect is shown.
  assert.match(await printConfig(await resolveSettings([])), new RegExp(`^encode-budget: ${DEFAULT_ENCODE_BUDGET_MS}$`, 'm'));
});

const MAX_BUDGET = 1000 * availableParallelism();
const camera = (extra: string): string => `cameras:\n  - id: a\n    source: synthetic:64x64@5\n${extra}`;
const budgetAccepted = `expected CPU milliseconds per second, a whole number from 1 to ${MAX_BUDGET} \\(1000 × the ${availableParallelism()} cores? here\\)`;

const badConfigs: [string, string, RegExp][] = [
  ['encode-budget 0', 'encode-budget: 0\n', new RegExp(`^.*bad\\.yaml:1:16: encode-budget: ${budgetAccepted}, got 0$`)],
  ['encode-budget negative', 'encode-budget: -5\n', new RegExp(`bad\\.yaml:1:16: encode-budget: ${budgetAccepted}, got -5$`)],
  ['encode-budget not whole', 'encode-budget: 12.5\n', new RegExp(`bad\\.yaml:1:16: encode-budget: ${budgetAccepted}, got 12\\.5$`)],
  ['encode-budget with a unit', "encode-budget: 150ms\n", new RegExp(`bad\\.yaml:1:16: encode-budget: ${budgetAccepted}, got '150ms'$`)],
  ['encode-budget empty', 'encode-budget:\n', new RegExp(`bad\\.yaml:1:15: encode-budget: ${budgetAccepted}, got nothing$`)],
  ['encode-budget above every core', `encode-budget: ${MAX_BUDGET + 1}\n`, new RegExp(`bad\\.yaml:1:16: encode-budget: ${budgetAccepted}, got ${MAX_BUDGET + 1}$`)],
  ["a camera's encode-budget 0", camera('    encode-budget: 0\n'), new RegExp(`bad\\.yaml:4:20: cameras\\[0\\]\\.encode-budget: ${budgetAccepted}, got 0$`)],
  ["a camera's encode-budget not a number", camera('    encode-budget: lots\n'), new RegExp(`bad\\.yaml:4:20: cameras\\[0\\]\\.encode-budget: ${budgetAccepted}, got 'lots'$`)],
  ['ladder empty', camera('    ladder: []\n'), /bad\.yaml:4:13: cameras\[0\]\.ladder: expected a list of at least one level, best first, each \{ fps, profile \}/],
  ['ladder not a list', camera('    ladder: fast\n'), /bad\.yaml:4:13: cameras\[0\]\.ladder: expected a list of at least one level/],
  ['rung fps 0', camera('    ladder:\n      - { fps: 0, profile: source }\n'), /bad\.yaml:5:16: cameras\[0\]\.ladder\[0\]\.fps: expected frames per second from 0\.1 to 240 \(leave fps out for the camera's own rate\), got 0$/],
  ['rung fps negative', camera('    ladder:\n      - { profile: source }\n      - { fps: -5, profile: third-q60 }\n'), /bad\.yaml:6:16: cameras\[0\]\.ladder\[1\]\.fps: expected frames per second from 0\.1 to 240 .*got -5$/],
  ['rung fps not a number', camera('    ladder:\n      - { fps: fast }\n'), /bad\.yaml:5:16: cameras\[0\]\.ladder\[0\]\.fps: expected frames per second .*got 'fast'$/],
  ['profile scale 0', camera('    profiles:\n      tiny: { scale: 0 }\n'), /bad\.yaml:5:22: cameras\[0\]\.profiles\.tiny\.scale: expected a share of the source width, above 0 and at most 1, got 0$/],
  ['profile scale negative', camera('    profiles:\n      tiny: { scale: -0.5 }\n'), /cameras\[0\]\.profiles\.tiny\.scale: expected a share of the source width, above 0 and at most 1, got -0\.5$/],
  ['profile scale not a number', camera('    profiles:\n      tiny: { scale: half }\n'), /cameras\[0\]\.profiles\.tiny\.scale: expected a share of the source width, above 0 and at most 1, got 'half'$/],
  ['profile quality 0', camera('    profiles:\n      tiny: { scale: 0.5, quality: 0 }\n'), /bad\.yaml:5:36: cameras\[0\]\.profiles\.tiny\.quality: expected a whole number from 1 to 100, got 0$/],
  ['profile quality 101', camera('    profiles:\n      tiny: { quality: 101 }\n'), /cameras\[0\]\.profiles\.tiny\.quality: expected a whole number from 1 to 100, got 101$/],
  ['profile quality not whole', camera('    profiles:\n      tiny: { quality: 60.5 }\n'), /cameras\[0\]\.profiles\.tiny\.quality: expected a whole number from 1 to 100, got 60\.5$/],
  ['profile quality not a number', camera('    profiles:\n      tiny: { quality: high }\n'), /cameras\[0\]\.profiles\.tiny\.quality: expected a whole number from 1 to 100, got 'high'$/],
  ['rung names a profile defined on another camera', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n    profiles:\n      tiny: { scale: 0.1 }\n  - id: b\n    source: synthetic:64x64@5\n    ladder:\n      - { profile: tiny }\n', /bad\.yaml:9:20: cameras\[1\]\.ladder\[0\]\.profile: expected one of source, full-q60, half-q60, third-q60, quarter-q40, got 'tiny'/],
  ['unknown key', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n    colour: red\n', /bad\.yaml:4:5: cameras\[0\]\.colour: unknown key 'colour'; accepted: id, source, always-on/],
  ['bad source', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n  - id: b\n    source: carrier-pigeon://x\n', /bad\.yaml:5:13: cameras\[1\]\.source: unknown source 'carrier-pigeon:\/\/x'; accepted:/],
  ['duplicate id', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n  - id: a\n    source: synthetic:64x64@5\n', /bad\.yaml:4:9: cameras\[1\]\.id: a camera with id 'a' is already defined/],
  ['id unusable in a URL', 'cameras:\n  - id: front door\n    source: synthetic:64x64@5\n', /bad\.yaml:2:9: cameras\[0\]\.id: 'front door' is not usable in a URL/],
  ['missing source', 'cameras:\n  - id: a\n', /bad\.yaml:2:5: cameras\[0\]: missing source/],
  ['bad port', 'port: 99999\ncameras:\n  - id: a\n    source: synthetic:64x64@5\n', /bad\.yaml:1:7: port: expected a whole number from 0 to 65535, got 99999/],
  ['bad boolean', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n    always-on: sometimes\n', /bad\.yaml:4:16: cameras\[0\]\.always-on: expected true or false, got 'sometimes'/],
  ['not YAML', 'cameras: [\n', /bad\.yaml:\d+:\d+: not valid YAML/],
  ['ladder names an unknown profile', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n    ladder:\n      - { fps: 10, profile: huge }\n', /bad\.yaml:5:29: cameras\[0\]\.ladder\[0\]\.profile: expected one of source, full-q60, half-q60, third-q60, quarter-q40, got 'huge'/],
  ['profile scale out of range', 'cameras:\n  - id: a\n    source: synthetic:64x64@5\n    profiles:\n      big: { scale: 2 }\n', /cameras\[0\]\.profiles\.big\.scale: expected a share of the source width/],
  ['cameras not a list', 'cameras: door\n', /bad\.yaml:1:10: cameras: expected a list of cameras/],
];

for (const [what, text, message] of badConfigs) {
  test(`config error names file, line, key and what is accepted: ${what}`, async () => {
    const path = configFile('bad.yaml', text);
    await assert.rejects(() => resolveSettings(['--config', path]), (error: Error) => {
      assert.ok(error instanceof ConfigError, `${error.name}: ${error.message}`);
      assert.match(error.message, message);
      return true;
    });
  });
}

test("the README's config file example loads as written", async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = /### Config file\n\n```yaml\n([\s\S]*?)\n```/.exec(readme)?.[1];
  assert.ok(example !== undefined, 'the README has a yaml block under "### Config file"');
  const settings = await resolveSettings(['--config', configFile('readme.yaml', example)]);
  assert.equal(settings.encodeBudgetMs, 200);
  assert.equal(settings.cameras[0]?.encodeBudgetMs, 200);
  assert.equal(settings.cameras[0]?.adaptive === false ? undefined : settings.cameras[0]?.adaptive?.lagLowMs, 80, 'lag-low: 0.08, its default');
});

test('a missing config file says so', async () => {
  await assert.rejects(() => resolveSettings(['--config', join(dir, 'nope.yaml')]), /cannot read config file .*nope\.yaml: no such file/);
});
