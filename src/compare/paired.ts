// Paired differences between two models of a `compare` (the table "… − <reference>" in compare.md).
//
// Why: with 3–5 seeds the std over seeds hides differences the same users show clearly. On ML-100K
// (issue 5 notes) seed-to-seed std of test HR@10 was 0.008, and MUFASA − SASRec paired over the 943
// test users had a standard error of 0.007 with 5 seeds, 0.009 with 3: the paired number is the one
// that says whether a gap is noise. Each user's metric is averaged over the seeds first (the seeds are
// repeated trainings, the users the sample), then the difference is averaged over users, ± one
// standard error over users.
//
// Each run writes the rank of every validation and test target (ranks.json, next to results.json).

import { sumsFromRanks } from '../train/metrics.ts';

/** The full-catalog ranks of one split of one run: case c's targets are ranks[c·T … c·T + T − 1]. */
export interface CaseRanks {
  /** Dense user id of each case (one case per user in a split). */
  users: number[];
  ranks: number[];
}

export interface RunRanks {
  valid: CaseRanks;
  test: CaseRanks;
}

export const PAIRED_COLUMNS = ['HR@10', 'NDCG@10'] as const;

/** Per user: HR@10 (a target in the top 10) and NDCG@10 (averaged over the case's targets), by sumsFromRanks' definitions. */
export function caseMetrics(cr: CaseRanks): Map<number, Record<(typeof PAIRED_COLUMNS)[number], number>> {
  const n = cr.users.length;
  if (n === 0) return new Map();
  const T = cr.ranks.length / n;
  if (!Number.isInteger(T) || T < 1) throw new Error(`paired: ${cr.ranks.length} ranks for ${n} cases`);
  const out = new Map<number, Record<(typeof PAIRED_COLUMNS)[number], number>>();
  cr.users.forEach((u, c) => {
    const s = sumsFromRanks(Int32Array.from(cr.ranks.slice(c * T, (c + 1) * T)), T, [10]);
    out.set(u, { 'HR@10': s.hr[10], 'NDCG@10': s.ndcg[10] });
  });
  return out;
}

export interface PairedDifference {
  /** Users in both models' runs (of any common seed). */
  users: number;
  /** Seeds both models ran. */
  seeds: number[];
  mean: Record<string, number>;
  /** One standard error of the mean over users (sample std / √users). */
  se: Record<string, number>;
}

/**
 * model − reference on one split, paired by user: per user, the mean over the common seeds where the
 * user has a case in both runs; then mean ± standard error over users. Null when a run has no ranks
 * (results from before ranks.json) or the two share no seed or user.
 */
export function pairedDifference(model: Map<number, RunRanks | undefined>, reference: Map<number, RunRanks | undefined>, split: 'valid' | 'test'): PairedDifference | null {
  const seeds = [...model.keys()].filter((s) => reference.has(s)).sort((a, b) => a - b);
  if (!seeds.length || seeds.some((s) => !model.get(s) || !reference.get(s))) return null;
  const sum = new Map<number, Record<string, number>>();
  const count = new Map<number, number>();
  for (const s of seeds) {
    const a = caseMetrics(model.get(s)![split]);
    const b = caseMetrics(reference.get(s)![split]);
    for (const [u, ma] of a) {
      const mb = b.get(u);
      if (!mb) continue;
      const acc = sum.get(u) ?? Object.fromEntries(PAIRED_COLUMNS.map((c) => [c, 0]));
      for (const c of PAIRED_COLUMNS) acc[c] += ma[c] - mb[c];
      sum.set(u, acc);
      count.set(u, (count.get(u) ?? 0) + 1);
    }
  }
  const users = [...sum.keys()];
  if (!users.length) return null;
  const mean: Record<string, number> = {};
  const se: Record<string, number> = {};
  for (const c of PAIRED_COLUMNS) {
    const d = users.map((u) => sum.get(u)![c] / count.get(u)!);
    const m = d.reduce((x, y) => x + y, 0) / d.length;
    mean[c] = m;
    se[c] = d.length > 1 ? Math.sqrt(d.reduce((x, y) => x + (y - m) ** 2, 0) / (d.length - 1) / d.length) : 0;
  }
  return { users: users.length, seeds, mean, se };
}
