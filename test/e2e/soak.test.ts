import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak, soakChecks, soakReport, type SoakBounds } from '../../bench/soak.js';

/**
 * The soak of issue 5 for one minute (the bench runs it for ten): a server process
 * under viewer churn of every kind while one camera's source keeps failing. The
 * bounds are ones a regression breaks and noise does not:
 *
 * - pool buffers in use after every viewer left ≤ the idle level before the churn
 *   (a leaked reference per connection would leave dozens in use);
 * - RSS after the drain within 60 MB of the post-warm-up baseline: re-encoding
 *   (libvips threads and malloc arenas) moves the server's RSS by ±25 MB within a
 *   minute (measured: −25 to +20 MB), while keeping a copy of each 720p frame would
 *   add ~200 MB a minute (a leaked reference to a pooled frame is caught, exactly,
 *   by the pool check above);
 * - no fast or re-encoded viewer failed, no snapshot failed, no error logged;
 * - at least 2 source restarts (the flaky camera fails every ~12 s), and frames
 *   flowed again after each;
 * - /healthz still answers.
 */
const BOUNDS: SoakBounds = { rssGrowthMB: 60, minRestarts: 2 };

test('one minute of viewer churn and source restarts leaves the pool and RSS at their baseline', { timeout: 4 * 60_000 }, async (t) => {
  const result = await runSoak({ minutes: 1, warmupSeconds: 20, trendSeconds: 20, cycleSeconds: 30, maxViewers: 10, seed: 5 });
  const checks = soakChecks(result, BOUNDS);
  for (const check of checks) t.diagnostic(`${check.ok ? 'ok' : 'FAILED'}: ${check.name}: ${check.detail}`);
  const failed = checks.filter((check) => !check.ok);
  assert.deepEqual(failed, [], soakReport(result, BOUNDS, 'node --test dist/test/soak.test.js'));
});
