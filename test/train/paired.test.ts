// Paired differences between models (src/compare/paired.ts, compare.md's "… − <reference>" table):
// - per-case HR@10 / NDCG@10 from ranks, 1 and 3 targets per case, against the textbook definitions;
// - model − reference: per user averaged over the common seeds where the user has a case in both,
//   then mean ± standard error over users, against an independent float64 reference on hand-made
//   runs whose users differ between seeds (as zero-shot's held-out users do); null without ranks or
//   without a common seed.
import { it, expect } from 'vitest';
import { caseMetrics, pairedDifference } from '../../src/compare/paired.ts';
import type { RunRanks } from '../../src/compare/paired.ts';

it('caseMetrics: HR@10 = a target in the top 10, NDCG@10 averaged over the targets', () => {
  const one = caseMetrics({ users: [4, 1, 7], ranks: [0, 9, 10] });
  expect([...one.keys()]).toEqual([4, 1, 7]);
  expect(one.get(4)).toEqual({ 'HR@10': 1, 'NDCG@10': 1 });
  expect(one.get(1)!['HR@10']).toBe(1);
  expect(one.get(1)!['NDCG@10']).toBeCloseTo(1 / Math.log2(11), 14);
  expect(one.get(7)).toEqual({ 'HR@10': 0, 'NDCG@10': 0 });
  const three = caseMetrics({ users: [2, 3], ranks: [3, 50, 0, 12, 10, 99] });
  expect(three.get(2)!['HR@10']).toBe(1);
  expect(three.get(2)!['NDCG@10']).toBeCloseTo((1 / Math.log2(5) + 1) / 3, 14);
  expect(three.get(3)).toEqual({ 'HR@10': 0, 'NDCG@10': 0 });
  expect(() => caseMetrics({ users: [1, 2], ranks: [1, 2, 3] })).toThrow(/3 ranks for 2 cases/);
});

it('pairedDifference: per-user mean over common seeds, then mean ± standard error over users', () => {
  const run = (users: number[], ranks: number[]): RunRanks => ({ valid: { users, ranks }, test: { users, ranks } });
  // Seeds 0 and 1 in both models; seed 2 only in the model (ignored). User 9 is in seed 1 only, user 5
  // only in the model's runs (unpaired, ignored).
  const model = new Map<number, RunRanks | undefined>([
    [0, run([1, 2, 3, 5], [0, 20, 4, 1])],
    [1, run([1, 2, 3, 9], [15, 2, 4, 0])],
    [2, run([1, 2, 3], [0, 0, 0])],
  ]);
  const ref = new Map<number, RunRanks | undefined>([
    [0, run([3, 2, 1], [30, 1, 0])],
    [1, run([1, 2, 3, 9], [1, 11, 4, 40])],
  ]);
  const got = pairedDifference(model, ref, 'test')!;
  expect(got.seeds).toEqual([0, 1]);
  expect(got.users).toBe(4);
  // Reference computation: per user and seed, hit and ndcg of both; differences averaged over that user's seeds.
  const m = (r: number) => [r < 10 ? 1 : 0, r < 10 ? 1 / Math.log2(r + 2) : 0];
  const pairs: Record<number, [number, number][]> = { 1: [[0, 0], [15, 1]], 2: [[20, 1], [2, 11]], 3: [[4, 30], [4, 4]], 9: [[0, 40]] };
  for (const [k, col] of [[0, 'HR@10'], [1, 'NDCG@10']] as const) {
    const d = Object.values(pairs).map((ps) => ps.reduce((a, [x, y]) => a + m(x)[k] - m(y)[k], 0) / ps.length);
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const se = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1) / d.length);
    expect(got.mean[col]).toBeCloseTo(mean, 14);
    expect(got.se[col]).toBeCloseTo(se, 14);
  }
  // A model against itself: zero difference, zero error.
  const self = pairedDifference(ref, ref, 'valid')!;
  expect(self.mean).toEqual({ 'HR@10': 0, 'NDCG@10': 0 });
  expect(self.se).toEqual({ 'HR@10': 0, 'NDCG@10': 0 });
  // No ranks (a run from before ranks.json), or no common seed: no paired difference.
  expect(pairedDifference(new Map([[0, undefined]]), ref, 'test')).toBeNull();
  expect(pairedDifference(new Map([[5, run([1], [0])]]), ref, 'test')).toBeNull();
});
