import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectMjpeg } from '../helpers/mjpeg-client.js';
import { eventually, freePort, HANG_MS, startServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

/**
 * A real Prometheus scrapes camstream: the exposition must be one Prometheus
 * accepts over HTTP (content type, format, target health), not only one our own
 * parser or promtool's linter reads.
 */

const JOB = 'camstream';

interface Prometheus {
  url: string;
  stderr: () => string;
  stop: () => Promise<void>;
}

/** Starts Prometheus and waits for /-/ready; retries on a fresh port if it exits first (port taken). */
async function startPrometheus(dir: string, config: string): Promise<Prometheus> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const alive = (): boolean => child.exitCode === null && child.signalCode === null;
    const stop = async (): Promise<void> => {
      if (!alive()) return;
      child.kill('SIGTERM'); // by the child's PID
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    };
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => !alive() || (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)), () => `prometheus on port ${port} is ready:\n${stderr}`, { ceilingMs: 60_000, stepMs: 100 });
    } catch (error) {
      await stop();
      throw error;
    }
    if (alive()) return { url, stderr: () => stderr, stop };
    await stop();
    if (attempt < 3 && /address already in use/.test(stderr)) continue;
    throw new Error(`prometheus on port ${port} exited ${child.exitCode}:\n${stderr}`);
  }
}

interface QueryResult {
  status: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** An instant query through Prometheus' HTTP API. */
async function query(prometheus: Prometheus, expression: string): Promise<QueryResult> {
  const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expression)}`);
  return (await response.json()) as QueryResult;
}

test('a real Prometheus scrapes camstream: target up, frames sent counted', { skip: requireTool('prometheus', 'prometheus'), timeout: 180_000 }, async () => {
  const { server, url } = await startServer({ source: 'synthetic:320x240@30' });
  const dir = await mkdtemp(join(tmpdir(), 'camstream-prometheus-'));
  const viewer = connectMjpeg(url);
  let prometheus: Prometheus | undefined;
  try {
    await viewer.waitForParts(5, HANG_MS); // frames flowing, so frames_sent is above 0 at the first scrape
    const target = new URL(url).host;
    const config = join(dir, 'prometheus.yml');
    await writeFile(
      config,
      ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', `  - job_name: ${JOB}`, '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
    );
    prometheus = await startPrometheus(dir, config);
    const running = prometheus;

    const sentQuery = `camstream_frames_sent_total{job="${JOB}",camera="default"}`;
    let sent: QueryResult = { status: 'none' };
    await eventually(async () => {
      sent = await query(running, sentQuery);
      return Number(sent.data?.result[0]?.value[1]) > 0;
    }, () => `${sentQuery} > 0: ${JSON.stringify(sent)}\nprometheus stderr:\n${running.stderr()}`, { ceilingMs: 60_000, stepMs: 500 });
    assert.equal(sent.data?.result.length, 1, `one series: ${JSON.stringify(sent)}`);
    assert.equal(sent.data?.result[0]?.metric.instance, target, 'the series comes from camstream\'s address');

    // Prometheus marks the target healthy only if the whole exposition parsed (a
    // scrape that failed on a busy machine is followed by one that succeeds; an
    // exposition Prometheus rejects never gets there).
    let up: QueryResult = { status: 'none' };
    await eventually(async () => {
      up = await query(running, `up{job="${JOB}"}`);
      return up.data?.result[0]?.value[1] === '1';
    }, () => `up{job="${JOB}"} is 1: ${JSON.stringify(up)}\nprometheus stderr:\n${running.stderr()}`, { ceilingMs: 60_000, stepMs: 500 });
    assert.equal(up.data?.result.length, 1, `one target: ${JSON.stringify(up)}`);

    // A later scrape sees the counter grow, as a rate() over it needs.
    const first = Number(sent.data?.result[0]?.value[1]);
    let later = first;
    await eventually(async () => {
      later = Number((await query(running, sentQuery)).data?.result[0]?.value[1]);
      return later > first;
    }, () => `a later scrape sees frames sent grow past ${first} while a viewer streams (last seen ${later})\nprometheus stderr:\n${running.stderr()}`, { ceilingMs: 60_000, stepMs: 500 });
    assert.ok(later > first);
  } finally {
    await prometheus?.stop();
    viewer.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
