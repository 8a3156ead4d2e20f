// Metrics by the popularity of the target item (`mufasa eval --by-popularity`): where a model wins.
// The test users are cut into groups by how often their target item occurs in the training
// sequences, each group as near to an equal share of the users as ties allow (one count is never
// split between groups, so there may be fewer groups than asked), and each group gets its own
// HR / NDCG / MRR.
//
// Why: on ML-100K MUFASA's +7 % test HR@10 over SASRec (3 seeds each, early-stopping patience 5)
// comes from the more popular half of the targets (HR@10 +0.036 ± 0.015 in the third quarter, paired
// over the same users), and on the rarest quarter it is level or behind (−0.010 ± 0.013): not where
// item content should help (issue 5 note, 2026-12-05). The overall number hides that; this table
// shows it for any checkpoint.

import type { EvalCase } from '../data/split.ts';
import { finalize, sumsFromRanks } from './metrics.ts';

export interface PopularityGroup {
  /** Training occurrences of the target item: lo ≤ count ≤ hi. */
  lo: number;
  hi: number;
  /** Cases in the group. */
  users: number;
  /** finalize()'d metrics of the group (HR@K, NDCG@K, MRR@10, Recall@K). */
  metrics: Record<string, number>;
}

/** How often each item occurs in the training sequences ([numItems]; ids ≥ numItems, i.e. padding, are skipped). */
export function itemCounts(train: readonly Int32Array[], numItems: number): Int32Array {
  const c = new Int32Array(numItems);
  for (const s of train) for (const it of s) if (it >= 0 && it < numItems) c[it]++;
  return c;
}

/**
 * Metrics of `cases` in `groups` popularity groups, rarest first. `ranks` are rankCases' [cases] ranks
 * (0 = first), in the order of `cases`; one target per case (leave-one-out).
 */
export function metricsByPopularity(ranks: Int32Array, cases: readonly EvalCase[], counts: Int32Array, groups = 4): PopularityGroup[] {
  if (!(Number.isInteger(groups) && groups >= 1)) throw new Error(`by popularity: groups must be a positive integer, got ${groups}`);
  if (cases.some((c) => c.targets.length !== 1)) throw new Error('by popularity: needs one target per case (leave-one-out); zero-shot cases have 3');
  if (ranks.length !== cases.length) throw new Error(`by popularity: ${ranks.length} ranks for ${cases.length} cases`);
  const n = cases.length;
  const cnt = cases.map((c) => {
    const t = c.targets[0];
    if (!(t >= 0 && t < counts.length)) throw new Error(`by popularity: target item ${t} of user ${c.user} is outside the ${counts.length} counted items`);
    return counts[t];
  });
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => cnt[a] - cnt[b] || a - b);
  const out: PopularityGroup[] = [];
  let start = 0;
  for (let g = 0; g < groups && start < n; g++) {
    // An equal share of the cases still left (a group before may have grown past its share), then
    // on past every case with the same count.
    let end = g === groups - 1 ? n : start + Math.max(1, Math.round((n - start) / (groups - g)));
    while (end < n && cnt[order[end]] === cnt[order[end - 1]]) end++;
    const idx = order.slice(start, end);
    const r = Int32Array.from(idx, (i) => ranks[i]);
    out.push({ lo: cnt[idx[0]], hi: cnt[idx[idx.length - 1]], users: idx.length, metrics: finalize(sumsFromRanks(r, 1)) });
    start = end;
  }
  return out;
}
