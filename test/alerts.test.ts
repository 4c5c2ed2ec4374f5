import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promtool } from './helpers/prometheus-text.js';
import { requireTool } from './helpers/tools.js';

/** deploy/prometheus in the checkout (tests run from dist/test). */
const RULES_DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const skip = requireTool('promtool', 'prometheus');

test('deploy/prometheus/alerts.yml is valid', { skip }, () => {
  const checked = promtool(['check', 'rules', `${RULES_DIR}alerts.yml`]);
  assert.equal(checked.status, 0, checked.output);
  assert.match(checked.output, /SUCCESS: 5 rules found/);
});

test('each alert fires when it should and stays quiet otherwise (promtool test rules)', { skip }, () => {
  const tested = promtool(['test', 'rules', `${RULES_DIR}alerts.test.yml`]);
  assert.equal(tested.status, 0, tested.output);
  assert.match(tested.output, /SUCCESS/);
});
