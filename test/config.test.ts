import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, resolveSettings, UsageError } from '../src/cli/args.js';

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

const badConfigs: [string, string, RegExp][] = [
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

test('a missing config file says so', async () => {
  await assert.rejects(() => resolveSettings(['--config', join(dir, 'nope.yaml')]), /cannot read config file .*nope\.yaml: no such file/);
});
