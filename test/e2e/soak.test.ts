import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak, soakChecks, soakReport, type SoakBounds, type SoakCheck, type SoakResult } from '../../bench/soak.js';

/**
 * The soak of issue 5 for one minute (the bench runs it for ten, and owns its
 * absolute figures): a server process under viewer churn of every kind while one
 * camera's source keeps failing. What this test checks is leaks and behaviour, with
 * margins a regression breaks and a busy machine does not:
 *
 * - pool buffers in use after every viewer left ≤ the idle level before the churn
 *   (a leaked reference per connection would leave dozens in use);
 * - RSS after the drain within 60 MB of its own post-warm-up baseline: re-encoding
 *   (libvips threads and malloc arenas) moves the server's RSS by ±25 MB within a
 *   minute (measured: −31 to +20 MB), while keeping a copy of each 720p frame would
 *   add ~200 MB a minute (a leaked reference to a pooled frame is caught, exactly,
 *   by the pool check above);
 * - no fast or re-encoded viewer failed: no error, none closed by the server. One
 *   that got no part at all within the bench's 8 s may be an on-demand camera's cold
 *   start (rendering its ring) on a busy machine, so up to a quarter of them may;
 *   a camera that stopped serving leaves most of them without a part;
 * - no snapshot failed (a 503 while a source starts is an answer), no error logged;
 * - at least 2 source restarts (the flaky camera fails every ~12 s), and frames
 *   flowed again after each;
 * - /healthz still answers.
 */
const BOUNDS: SoakBounds = { rssGrowthMB: 60, minRestarts: 2 };
const NO_PART = /^(fast|profile) viewer of \S+: no part in \d+ s$/;

/** The bench's checks, with the fast-viewer check as described above. */
function checks(result: SoakResult): SoakCheck[] {
  return soakChecks(result, BOUNDS).map((check) => {
    if (!check.name.startsWith('no failed fast or re-encoded viewer') || check.ok) return check;
    const failed = result.viewers.fast.failed + result.viewers.profile.failed;
    const opened = result.viewers.fast.opened + result.viewers.profile.opened;
    const listed = result.failures.filter((failure) => /^(fast|profile) viewer of /.test(failure));
    // Every failure is listed (the bench lists the first ten), and each is a viewer that merely got no part yet.
    const onlyNoPart = listed.length === failed && listed.every((failure) => NO_PART.test(failure));
    return {
      name: 'no fast or re-encoded viewer failed (errors, closed by the server); at most a quarter got no part',
      ok: onlyNoPart && failed <= opened / 4,
      detail: `${failed} failed of ${opened}: ${listed.join(' | ')}`,
    };
  });
}

test('one minute of viewer churn and source restarts leaves the pool and RSS at their baseline', { timeout: 4 * 60_000 }, async (t) => {
  const result = await runSoak({ minutes: 1, warmupSeconds: 20, trendSeconds: 20, cycleSeconds: 30, maxViewers: 10, seed: 5 });
  const all = checks(result);
  for (const check of all) t.diagnostic(`${check.ok ? 'ok' : 'FAILED'}: ${check.name}: ${check.detail}`);
  const failed = all.filter((check) => !check.ok);
  assert.deepEqual(failed, [], soakReport(result, BOUNDS, 'node --test dist/test/e2e/soak.test.js'));
});
