import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationHistogram, mergeDurationStats } from '../src/index.js';

test('percentiles of recorded durations, to ~1 %', () => {
  const histogram = new DurationHistogram(60_000);
  for (let i = 1; i <= 1000; i++) histogram.record(i / 10, 1000 + i); // 0.1 … 100 ms
  const stats = histogram.stats(2000);
  const near = (actual: number | null, expected: number): boolean => actual !== null && Math.abs(actual - expected) <= expected * 0.01;
  assert.ok(near(stats.p50Ms, 50), `p50 ${stats.p50Ms}`);
  assert.ok(near(stats.p95Ms, 95), `p95 ${stats.p95Ms}`);
  assert.ok(near(stats.p99Ms, 99), `p99 ${stats.p99Ms}`);
  assert.ok(near(stats.maxMs, 100), `max ${stats.maxMs}`);
  assert.equal(stats.count, 1000);
  assert.ok(Math.abs(stats.sumMs - 50_050) < 0.01, `sum ${stats.sumMs}`);
});

test('percentiles forget what is older than two windows; count and sum do not', () => {
  const histogram = new DurationHistogram(1000);
  histogram.record(500, 0); // a bad moment
  for (let t = 10; t < 1000; t += 10) histogram.record(5, t);
  assert.equal(histogram.stats(1500).maxMs, 500, 'the previous window still counts');
  for (let t = 1500; t < 2500; t += 10) histogram.record(5, t);
  const later = histogram.stats(2500);
  assert.ok(later.maxMs !== null && later.maxMs < 6, `max ${later.maxMs} once the bad window is two windows old`);
  assert.equal(later.count, 1 + 99 + 100);
  const silent = histogram.stats(10_000);
  assert.deepEqual([silent.p50Ms, silent.p99Ms, silent.maxMs], [null, null, null], 'nothing recorded lately');
  assert.equal(silent.count, 200);
});

test('durations outside the range are clamped, not thrown', () => {
  const histogram = new DurationHistogram();
  histogram.record(-0.5, 0);
  histogram.record(10 * 3_600_000, 1);
  const stats = histogram.stats(2);
  assert.equal(stats.count, 2);
  assert.ok(stats.maxMs !== null && stats.maxMs >= 3_590_000);
});

test('merging event loops adds counts and takes the highest percentiles, an upper bound', () => {
  const fast = new DurationHistogram();
  const slow = new DurationHistogram();
  for (let i = 0; i < 100; i++) fast.record(2, i);
  for (let i = 0; i < 10; i++) slow.record(300, i);
  const empty = new DurationHistogram().stats(100);
  const merged = mergeDurationStats([fast.stats(100), empty, slow.stats(100)]);
  assert.equal(merged.count, 110);
  assert.ok(Math.abs(merged.sumMs - 3200) < 0.01);
  assert.ok(merged.p50Ms !== null && merged.p50Ms >= 299, 'each percentile is the highest part\'s');
  assert.ok(merged.p99Ms !== null && merged.p99Ms >= 299);
  assert.deepEqual(mergeDurationStats([empty]), empty);
});
