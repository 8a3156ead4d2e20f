// Metrics by the target item's popularity (src/train/breakdown.ts, `mufasa eval --by-popularity`):
// - groups against an independent float64 reference on 13 odd cases with tied counts: near-equal
//   shares in count order, a count never split between groups, and each group's HR / NDCG / MRR
//   computed from its ranks by the textbook formulas (exact up to f64 summation order: 1e-12);
// - itemCounts counts training occurrences and skips padding; bad inputs are errors that say why;
// - rankCases gives the ranks evaluateCases summarises (a trained-shape model on the GPU).
import { it, expect } from 'vitest';
import { metricsByPopularity, itemCounts } from '../../src/train/breakdown.ts';
import { dataSplit, rankCases, evaluateCases } from '../../src/train/trainer.ts';
import { finalize, sumsFromRanks } from '../../src/train/metrics.ts';
import type { EvalCase } from '../../src/data/split.ts';
import { tidy, noGrad } from '../../src/tensor/index.ts';
import { expectClose } from '../helpers.ts';
import { ds, I, tinyConfig, withTinyModel } from '../model/tiny-mufasa.ts';

const kase = (user: number, target: number): EvalCase => ({ user, history: Int32Array.of(0), targets: Int32Array.of(target), seen: Int32Array.of(0) });

/** HR@k, NDCG@k, MRR@10 of one group's ranks, from the definitions. */
function refMetrics(ranks: number[]): Record<string, number> {
  const n = ranks.length;
  const hr = (k: number) => ranks.filter((r) => r < k).length / n;
  const ndcg = (k: number) => ranks.reduce((a, r) => a + (r < k ? 1 / Math.log2(r + 2) : 0), 0) / n;
  return { 'HR@10': hr(10), 'HR@20': hr(20), 'NDCG@10': ndcg(10), 'NDCG@20': ndcg(20), 'MRR@10': ranks.reduce((a, r) => a + (r < 10 ? 1 / (r + 1) : 0), 0) / n };
}

it('metricsByPopularity: near-equal groups in count order, ties kept together, metrics per group from the definitions', () => {
  // Item i occurs counts[i] times; 13 users, targets chosen so the counts tie across a share boundary.
  const counts = Int32Array.from([0, 1, 1, 3, 5, 5, 5, 8, 13, 40, 2]);
  const targets = [9, 1, 4, 0, 5, 8, 2, 6, 3, 7, 10, 4, 8];
  const ranks = Int32Array.from([0, 15, 3, 120, 9, 1, 10, 2, 44, 19, 7, 5, 0]);
  const cases = targets.map((t, u) => kase(u, t));
  const got = metricsByPopularity(ranks, cases, counts, 4);
  // Sorted counts (user): 0 (3), 1 (1), 1 (6), 2 (10), 3 (8), 5 (2), 5 (4), 5 (7), 5 (11), 8 (9), 13 (5), 13 (12), 40 (0).
  // Shares of what is left: 3 of 13; 3 of 10, on past the tied 5s to 9; 2 of 4, on past the tied 13s to 12; the rest.
  const want = [
    { lo: 0, hi: 1, users: [3, 1, 6] },
    { lo: 2, hi: 5, users: [10, 8, 2, 4, 7, 11] },
    { lo: 8, hi: 13, users: [9, 5, 12] },
    { lo: 40, hi: 40, users: [0] },
  ];
  expect(got.map((g) => [g.lo, g.hi, g.users])).toEqual(want.map((w) => [w.lo, w.hi, w.users.length]));
  got.forEach((g, i) => {
    const ref = refMetrics(want[i].users.map((u) => ranks[u]));
    const keys = Object.keys(ref);
    expectClose(keys.map((k) => g.metrics[k]), keys.map((k) => ref[k]), { rtol: 1e-12, atol: 1e-12 }, `group ${i}`);
  });
  // Every user is in exactly one group.
  expect(got.reduce((a, g) => a + g.users, 0)).toBe(13);
  // One count for everybody: one group, whatever was asked.
  const flat = metricsByPopularity(ranks, cases, new Int32Array(11).fill(7), 4);
  expect(flat.map((g) => [g.lo, g.hi, g.users])).toEqual([[7, 7, 13]]);
  // One group: the overall metrics.
  const one = metricsByPopularity(ranks, cases, counts, 1);
  expect(one).toHaveLength(1);
  expectClose(Object.values(one[0].metrics), Object.values(finalize(sumsFromRanks(ranks, 1))), { rtol: 1e-12, atol: 0 }, 'one group');
});

it('itemCounts counts training occurrences and skips padding; bad inputs name what is wrong', () => {
  expect(Array.from(itemCounts([Int32Array.from([0, 2, 2, 5]), Int32Array.from([2, 1, 5, 5])], 5))).toEqual([1, 1, 3, 0, 0]);
  const cases = [kase(0, 1), kase(1, 2)];
  const ranks = Int32Array.from([3, 4]);
  const counts = Int32Array.from([1, 2, 3]);
  expect(() => metricsByPopularity(ranks, cases, counts, 0)).toThrow(/groups must be a positive integer, got 0/);
  expect(() => metricsByPopularity(ranks, cases, counts, 1.5)).toThrow(/groups must be a positive integer, got 1.5/);
  expect(() => metricsByPopularity(Int32Array.from([3]), cases, counts)).toThrow(/1 ranks for 2 cases/);
  expect(() => metricsByPopularity(ranks, [kase(0, 1), kase(1, 7)], counts)).toThrow(/target item 7 of user 1 is outside the 3 counted items/);
  const three = { ...kase(0, 1), targets: Int32Array.from([0, 1, 2]) };
  expect(() => metricsByPopularity(Int32Array.from([1, 2, 3]), [three], counts)).toThrow(/one target per case/);
});

it('rankCases: the ranks evaluateCases summarises, cases without a history left out', async () => {
  await withTinyModel({}, async (m, zOf) => {
    const z = tidy(() => noGrad(zOf));
    try {
      const test = dataSplit(ds, tinyConfig({})).test;
      const maxLen = tinyConfig({}).maxLen;
      const cases = [{ ...test[0], history: new Int32Array(0) }, ...test.slice(1)];
      // A chunk size that does not divide the cases, so several chunks are joined.
      const got = await rankCases(m, z, cases, maxLen, 7);
      expect(got.cases.map((c) => c.user)).toEqual(test.slice(1).map((c) => c.user));
      expect(got.ranks.length).toBe(test.length - 1);
      got.cases.forEach((c, i) => expect(got.ranks[i] >= 0 && got.ranks[i] < I, `rank of user ${c.user}`).toBe(true));
      const a = finalize(await evaluateCases(m, z, cases, maxLen, 7));
      const b = finalize(sumsFromRanks(got.ranks, 1));
      expectClose(Object.values(b), Object.values(a), { rtol: 1e-12, atol: 1e-12 }, 'metrics from the ranks');
      expectClose(Object.values(finalize(got.sums)), Object.values(a), { rtol: 0, atol: 0 }, 'the sums rankCases returns');
    } finally {
      z.dispose();
    }
  });
});
