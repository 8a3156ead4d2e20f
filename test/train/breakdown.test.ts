// Metrics by the target item's popularity (src/train/breakdown.ts, `mufasa eval --by-popularity`):
// - groups against an independent float64 reference on 13 odd cases with tied counts: near-equal
//   shares in count order, a count never split between groups, and each group's HR / NDCG / MRR
//   computed from its ranks by the textbook formulas (exact up to f64 summation order: 1e-12);
// - itemCounts counts training occurrences and skips padding; bad inputs are errors that say why;
// - rankCases gives the ranks evaluateCases summarises (a trained-shape model on the GPU).
// Metrics by the time gap before the target (metricsByGap, `mufasa eval --by-gap`): groups by the
// edges (upper bound inclusive, a gap equal to an edge in the lower group), empty groups left out,
// 1 and 3 targets per case, each group's metrics from the definitions; bad inputs are errors.
import { it, expect } from 'vitest';
import { metricsByPopularity, itemCounts, metricsByGap, gapLabel, parseGapEdges, DEFAULT_GAP_EDGES } from '../../src/train/breakdown.ts';
import { dataSplit } from '../../src/train/data.ts';
import { rankCases, evaluateCases } from '../../src/train/evaluate.ts';
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

it('metricsByGap: groups by the edges (upper bound inclusive), empty groups left out, metrics per group from the definitions', () => {
  // 11 users; gaps on and either side of the edges 0, 60, 3600, none in (60, 3600] when edges differ.
  const gaps = [0, 61, 3600, 0, 1e6, 60, 0.5, 3600.5, 59, 0, 7200];
  const ranks = Int32Array.from([0, 15, 3, 120, 9, 1, 10, 2, 44, 19, 7]);
  const cases = gaps.map((g, u) => ({ ...kase(u, 1), gap: g }));
  const got = metricsByGap(ranks, cases);
  const want = [
    { after: null, upTo: 0, users: [0, 3, 9] },
    { after: 0, upTo: 60, users: [5, 6, 8] },
    { after: 60, upTo: 3600, users: [1, 2] },
    { after: 3600, upTo: null, users: [4, 7, 10] },
  ];
  expect(got.map((g) => [g.after, g.upTo, g.users])).toEqual(want.map((w) => [w.after, w.upTo, w.users.length]));
  got.forEach((g, i) => {
    const ref = refMetrics(want[i].users.map((u) => ranks[u]));
    const keys = Object.keys(ref);
    expectClose(keys.map((k) => g.metrics[k]), keys.map((k) => ref[k]), { rtol: 1e-12, atol: 1e-12 }, `gap group ${i}`);
  });
  expect(got.map(gapLabel)).toEqual(['same timestamp', '(0, 60]', '(60, 3600]', '> 3600']);
  expect(DEFAULT_GAP_EDGES).toEqual([0, 60, 3600]);
  // Other edges: an empty middle group is left out; a first edge above 0 is labelled as a bound.
  const other = metricsByGap(ranks, cases, [1, 10, 100]);
  expect(other.map((g) => [gapLabel(g), g.users])).toEqual([['≤ 1', 4], ['(10, 100]', 3], ['> 100', 4]]);
  // Three targets per case (zero-shot): a case's three ranks stay together; Recall@10 over the three.
  const ranks3 = Int32Array.from([0, 30, 5, 12, 2, 99, 40, 41, 9]);
  const three = [0, 120, 0].map((g, u) => ({ ...kase(u, 1), targets: Int32Array.from([1, 2, 3]), gap: g }));
  const by3 = metricsByGap(ranks3, three, [0], 3);
  expect(by3.map((g) => g.users)).toEqual([2, 1]);
  expect(by3[0].metrics['Recall@10']).toBeCloseTo((2 / 3 + 1 / 3) / 2, 12);
  expect(by3[0].metrics['HR@10']).toBeCloseTo(1, 12);
  expect(by3[1].metrics['Recall@10']).toBeCloseTo(1 / 3, 12);
});

it('metricsByGap: bad inputs name what is wrong', () => {
  const cases = [{ ...kase(0, 1), gap: 5 }, { ...kase(1, 2), gap: 0 }];
  const ranks = Int32Array.from([3, 4]);
  expect(() => metricsByGap(ranks, cases, [60, 60])).toThrow(/edges must be finite and strictly increasing, got \[60, 60\]/);
  expect(() => metricsByGap(ranks, cases, [])).toThrow(/strictly increasing, got \[\]/);
  expect(() => metricsByGap(ranks, cases, [0, Infinity])).toThrow(/finite/);
  expect(() => metricsByGap(Int32Array.from([3]), cases)).toThrow(/1 ranks for 2 cases of 1 target/);
  expect(() => metricsByGap(ranks, [cases[0], kase(1, 2)])).toThrow(/user 1's case has no time gap/);
  expect(() => metricsByGap(Int32Array.from([1, 2, 3, 4, 5, 6]), cases, [0], 3)).toThrow(/user 0 has 1 targets, expected 3/);
  expect(parseGapEdges('0, 60,3600.5')).toEqual([0, 60, 3600.5]);
  expect(() => parseGapEdges('0,,60')).toThrow(/comma-separated numbers \(timestamp units\), got '0,,60'/);
  expect(() => parseGapEdges('1h')).toThrow(/got '1h'/);
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
