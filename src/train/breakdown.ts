// Breakdowns of the metrics over groups of cases: by the popularity of the target item, by the time
// gap before it, and by whether it is a cold item (the cold-item protocol).
//
// By popularity (`mufasa eval --by-popularity`): where a model wins.
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

// Metrics by the time since the interaction before the target (`mufasa eval --by-gap`): how much of a
// split is ordered by the timestamp tie rule rather than by time.
//
// Why: on ML-100K 415 of the 943 test targets (and 422 validation targets) share their second with
// the item before them, so their place in the sequence — target or last history item — is decided
// by the item-id tie rule (RecBole's stable sort, which the issue prescribes), not by when they were
// rated. MUFASA − SASRec (patience 10, 5 seeds, paired) flipped sign on that group between
// validation (+0.015 ± 0.011 HR@10) and test (−0.017 ± 0.010) while the later targets agreed (+0.004,
// +0.014): which model wins the tied half can decide a split (issue 5 note, 2026-12-05).

/** Default gap edges, in timestamp units: same timestamp, ≤ 1 min, ≤ 1 h, more (for seconds). ML-100K's
 *  test targets fall 415 / 265 / 200 / 63 into them. */
export const DEFAULT_GAP_EDGES: readonly number[] = [0, 60, 3600];

export interface GapGroup {
  /** Cases with after < gap ≤ upTo; null: unbounded on that side. */
  after: number | null;
  upTo: number | null;
  users: number;
  /** finalize()'d metrics of the group (HR@K, NDCG@K, MRR@10, Recall@K). */
  metrics: Record<string, number>;
}

/** The group's bounds as a table label: "same timestamp" (or "≤ e"), "(0, 60]", "> 3600". */
export function gapLabel(g: Pick<GapGroup, 'after' | 'upTo'>): string {
  if (g.after === null) return g.upTo === 0 ? 'same timestamp' : `≤ ${g.upTo}`;
  if (g.upTo === null) return `> ${g.after}`;
  return `(${g.after}, ${g.upTo}]`;
}

/** `--by-gap`'s edge list: comma-separated numbers in timestamp units ("0,60,3600"); the order is checked by metricsByGap. */
export function parseGapEdges(text: string): number[] {
  const edges = text.split(',').map((t) => t.trim());
  for (const t of edges) if (t === '' || !Number.isFinite(Number(t))) throw new Error(`--by-gap: edges must be comma-separated numbers (timestamp units), got '${text}'`);
  return edges.map(Number);
}

/**
 * Metrics of `cases` grouped by their `gap` (EvalCase.gap: time from the interaction before the first
 * target to it): group 0 has gap ≤ edges[0], group k has edges[k−1] < gap ≤ edges[k], the last
 * gap > the last edge. Edges strictly increasing; empty groups are left out. `ranks` are rankCases'
 * ranks in the order of `cases`, `targetsPerCase` per case (1 for leave-one-out, 3 for zero-shot).
 */
export function metricsByGap(ranks: Int32Array, cases: readonly EvalCase[], edges: readonly number[] = DEFAULT_GAP_EDGES, targetsPerCase = 1): GapGroup[] {
  if (edges.length === 0 || edges.some((e, i) => !Number.isFinite(e) || (i > 0 && !(e > edges[i - 1])))) {
    throw new Error(`by gap: edges must be finite and strictly increasing, got [${edges.join(', ')}]`);
  }
  const T = targetsPerCase;
  if (ranks.length !== cases.length * T) throw new Error(`by gap: ${ranks.length} ranks for ${cases.length} cases of ${T} target(s)`);
  const members: number[][] = Array.from({ length: edges.length + 1 }, () => []);
  cases.forEach((c, i) => {
    if (c.targets.length !== T) throw new Error(`by gap: user ${c.user} has ${c.targets.length} targets, expected ${T}`);
    const g = c.gap;
    if (g === undefined || !Number.isFinite(g)) throw new Error(`by gap: user ${c.user}'s case has no time gap (got ${g}); cases must come from leaveOneOut or zeroShotSplit`);
    let k = 0;
    while (k < edges.length && g > edges[k]) k++;
    members[k].push(i);
  });
  const out: GapGroup[] = [];
  members.forEach((idx, k) => {
    if (idx.length === 0) return;
    const r = new Int32Array(idx.length * T);
    idx.forEach((i, j) => r.set(ranks.subarray(i * T, i * T + T), j * T));
    out.push({ after: k === 0 ? null : edges[k - 1], upTo: k === edges.length ? null : edges[k], users: idx.length, metrics: finalize(sumsFromRanks(r, T)) });
  });
  return out;
}

/** The cases whose target is cold (or warm): how many, and their finalize()'d metrics. */
export interface ColdnessGroup {
  targets: 'cold' | 'warm';
  users: number;
  metrics: Record<string, number>;
}

/**
 * Test metrics of the cases whose target is one of `cold` (the cold items of the cold-item protocol)
 * and of the others, cold first; an empty side is left out. One target per case.
 */
export function metricsByColdness(ranks: Int32Array, cases: readonly EvalCase[], cold: Int32Array): ColdnessGroup[] {
  if (ranks.length !== cases.length) throw new Error(`by cold target: ${ranks.length} ranks for ${cases.length} cases`);
  const set = new Set(cold);
  const side = { cold: [] as number[], warm: [] as number[] };
  cases.forEach((c, i) => {
    if (c.targets.length !== 1) throw new Error(`by cold target: user ${c.user} has ${c.targets.length} targets; needs leave-one-out cases`);
    side[set.has(c.targets[0]) ? 'cold' : 'warm'].push(ranks[i]);
  });
  return (['cold', 'warm'] as const).filter((k) => side[k].length).map((k) => ({ targets: k, users: side[k].length, metrics: finalize(sumsFromRanks(Int32Array.from(side[k]), 1)) }));
}
