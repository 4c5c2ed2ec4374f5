import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { Authenticator } from '../src/index.js';
import { resolveSettings } from '../src/cli/args.js';
import { loadConfigFile } from '../src/cli/config.js';
import { HANG_MS } from './helpers/server.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'camstream-cli-security-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI to its end; only a hang reaches the timeout (and then `status` is null and `stderr` says so). */
function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: HANG_MS, env: { PATH: process.env.PATH, ...options.env }, input: options.input });
  return { status: result.status, stdout: result.stdout, stderr: result.error === undefined ? result.stderr : `${result.stderr}\n(${result.error.message})` };
}

test('--hash-password prints a hash that accepts that password and no other', async () => {
  const { status, stdout, stderr } = runCli(['--hash-password'], { input: 'correct horse\n' });
  assert.equal(status, 0, stderr);
  const hash = stdout.trim();
  assert.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const auth = new Authenticator({ users: { alice: hash } });
  const basic = (password: string): string => `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`;
  assert.equal(await auth.check('/stream', { authorization: basic('correct horse') }), 'ok', 'the trailing newline is not part of the password');
  assert.equal(await auth.check('/stream', { authorization: basic('correct horse\n') }), 'invalid');
  assert.notEqual(runCli(['--hash-password'], { input: 'correct horse' }).stdout.trim(), hash, 'salted: a new hash each time');
  const empty = runCli(['--hash-password'], { input: '' });
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /reads the password on stdin/);
});

test('--print-config shows the settings in effect with every secret masked, and loads back as a config file', async () => {
  const file = join(dir, 'cams.yaml');
  writeFileSync(
    file,
    [
      'port: 9000',
      'cameras:',
      '  - id: door',
      '    source: rtsp://admin:hunter2@192.0.2.10/stream1',
      '    always-on: true',
      '    idle-timeout: 12',
      'auth:',
      '  tokens: [file-token-0123456789abcdef]',
      'limits:',
      '  max-viewers: 40',
      '',
    ].join('\n'),
  );
  const hash = runCli(['--hash-password'], { input: 'pw' }).stdout.trim();
  const { status, stdout, stderr } = runCli(['--print-config', '--config', file, '--max-viewers-per-client', '4'], {
    env: { CAMSTREAM_USERS: `alice:${hash}`, CAMSTREAM_PORT: '9100' },
  });
  assert.equal(status, 0, stderr);
  for (const secret of ['hunter2', 'file-token-0123456789abcdef', hash, hash.split('$')[5] as string]) assert.ok(!stdout.includes(secret), `${secret.slice(0, 12)}… is masked`);
  assert.match(stdout, /source: rtsp:\/\/admin:\*\*\*@192\.0\.2\.10\/stream1/);
  assert.match(stdout, /alice: "?\*\*\*"?/);
  assert.match(stdout, /port: 9100/, 'environment over file');
  assert.match(stdout, /max-viewers: 40\n\s+max-viewers-per-client: 4/, 'file, then the flag');
  assert.match(stdout, /always-on: true\n\s+idle-timeout: 12/, 'camera keys as the file writes them');

  // Saved (with the secrets filled back in), the output is a config file giving the same settings.
  const saved = join(dir, 'printed.yaml');
  writeFileSync(saved, stdout.replace('admin:***@', 'admin:hunter2@').replace(/alice: "?\*\*\*"?/, `alice: "${hash}"`).replace(/- "?\*\*\*"?/, '- file-token-0123456789abcdef'));
  const reloaded = await loadConfigFile(saved);
  assert.equal(reloaded.port, 9100);
  assert.equal(reloaded.limits?.maxViewersPerClient, 4);
  assert.deepEqual(reloaded.cameras?.[0], { id: 'door', source: 'rtsp://admin:hunter2@192.0.2.10/stream1', alwaysOn: true, idleTimeoutSeconds: 12 });
  assert.deepEqual(Object.keys(reloaded.auth?.users ?? {}), ['alice']);
});

test('security settings that cannot work are refused at start, naming the setting and the fix', async () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'missing.pem')], {}, /cannot read the TLS certificate \(--tls-cert\) .*missing\.pem: no such file/],
    [['--tls-cert', join(dir, 'cert.pem')], {}, /--tls-cert needs its private key too: --tls-key/],
    [['--cors-origin', 'example.com'], {}, /--cors-origin: expected origins such as https:\/\/example\.com/],
    [['--max-viewers', '0'], {}, /--max-viewers: expected a number of streaming connections, at least 1, got 0/],
    [[], { CAMSTREAM_USERS: 'alice' }, /CAMSTREAM_USERS: expected 'name:<hash>' entries/],
    [[], { CAMSTREAM_USERS: 'alice:plaintext' }, /CAMSTREAM_USERS: the password hash of user 'alice' is not one camstream made; create one with: camstream --hash-password/],
    [[], { CAMSTREAM_TOKENS: 'short' }, /CAMSTREAM_TOKENS: a bearer token must be at least 16 characters/],
  ];
  for (const [args, env, message] of cases) {
    const { status, stderr } = runCli(['--port', '0', ...args], { env });
    assert.equal(status, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${stderr}`);
    assert.match(stderr, message);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  }
  const file = join(dir, 'bad-auth.yaml');
  writeFileSync(file, 'auth:\n  users:\n    bob: letmein\n');
  await assert.rejects(resolveSettings(['--config', file]), /bad-auth\.yaml:2:3: auth: the password hash of user 'bob' is not one camstream made/);
  writeFileSync(file, 'cors:\n  origins: [https://ok.example, "ftp://nope"]\n');
  await assert.rejects(resolveSettings(['--config', file]), /bad-auth\.yaml:2:33: cors\.origins\[1\]: expected an origin such as https:\/\/example\.com/);
});
