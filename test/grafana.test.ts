import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { connectMjpeg } from './helpers/mjpeg-client.js';
import { parseExposition, promtool } from './helpers/prometheus-text.js';
import { startServer } from './helpers/server.js';
import { requireTool } from './helpers/tools.js';

/** deploy/grafana/camstream.json in the checkout (tests run from dist/test). */
const DASHBOARD = fileURLToPath(new URL('../../deploy/grafana/camstream.json', import.meta.url));

interface Panel {
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { refId: string; expr: string }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string }[] } };
const queries = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })));

test('the Grafana dashboard is loadable: a uid, unique panel ids, panels laid out without overlap', () => {
  assert.equal(dashboard.uid, 'camstream');
  assert.deepEqual(dashboard.templating.list.map((variable) => variable.name), ['datasource', 'camera']);
  assert.equal(new Set(dashboard.panels.map((panel) => panel.id)).size, dashboard.panels.length);
  const cells = new Set<string>();
  for (const { title, gridPos } of dashboard.panels) {
    assert.ok(gridPos.x + gridPos.w <= 24, `${title} fits Grafana's 24 columns`);
    for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
      for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${title} overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
  }
  assert.ok(queries.length >= 10);
});

test('every dashboard query is valid PromQL (promtool check rules)', { skip: requireTool('promtool', 'prometheus') }, () => {
  // Each query as a recording rule, with the camera variable as Grafana expands "All".
  const rules = queries.map(({ expr }, index) => `      - record: camstream:dashboard_query_${index}\n        expr: '${expr.replaceAll('$camera', '.*').replaceAll("'", "''")}'`).join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'camstream-grafana-'));
  try {
    const file = join(dir, 'queries.yml');
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
    const checked = promtool(['check', 'rules', file]);
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, new RegExp(`SUCCESS: ${queries.length} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every series the dashboard queries is one that GET /metrics exports', async () => {
  const { server, url } = await startServer({ source: 'synthetic:160x120@10' });
  const viewer = connectMjpeg(url);
  try {
    await viewer.waitForParts(3);
    const exported = new Set(parseExposition(await (await fetch(`${url}/metrics`)).text()).map((sample) => sample.name));
    for (const { panel, expr } of queries) {
      for (const name of expr.match(/camstream_[a-z_]+/g) ?? []) assert.ok(exported.has(name), `panel '${panel}' queries ${name}, which /metrics does not export`);
    }
  } finally {
    viewer.close();
    await server.stop();
  }
});
