// Sanity rows of `mufasa compare` that are not sequence models: popularity (rank by training
// interaction count), BPR-MF (src/train/cf.ts, the CF pretraining model, as a recommender) and
// content-kNN (the items' modality vectors alone, no training). Same splits and the same GPU
// evaluation as the trainer (full catalog, seen items excluded, ties → lower id), and, for
// leave-one-out, the same test breakdown by the target's popularity.
//
// BPR-MF has no early stopping here: trainBPR runs a fixed number of epochs (cfEpochs, default 10:
// on ML-100K 10 epochs at lr 1e-2 beat 50 on validation, src/train/cf.ts). It has one embedding per
// training user, so it has no zero-shot row (held-out users have no embedding).
//
// Content-kNN measures what MFL has to work with (issue #5: "modality quality"): how well the items'
// content alone finds the next item, per popularity group. On ML-100K it is below SASRec even on the
// rarest quarter of the targets (CONTENT_KNN_HISTORY), so MFL has little to add there.

import type { Dataset } from '../data/dataset.ts';
import type { EvalCase } from '../data/split.ts';
import { tensor } from '../tensor/ops/creation.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { tidy } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { finalize, sumsFromRanks } from '../train/metrics.ts';
import { trainBPR } from '../train/cf.ts';
import { dataSplit, chunkRanks } from '../train/trainer.ts';
import type { TrainConfig, TrainResult } from '../train/trainer.ts';
import { metricsByPopularity, itemCounts } from '../train/breakdown.ts';
import type { PopularityGroup } from '../train/breakdown.ts';

/** Every case's ranks ([cases·T], cases with a history) for user vectors `userRow(case)` (rows of `users`) against `items`. */
async function rankRows(items: Tensor, users: Tensor, cases: EvalCase[], row: (c: EvalCase) => number, excludeSeen = true): Promise<{ cases: EvalCase[]; ranks: Int32Array }> {
  const withHistory = cases.filter((c) => c.history.length > 0);
  const T = withHistory[0]?.targets.length ?? 1;
  const ranks = new Int32Array(withHistory.length * T);
  for (let s = 0; s < withHistory.length; s += 256) {
    const chunk = withHistory.slice(s, s + 256);
    const u = tidy(() => noGrad(() => gatherRows(users, indexTensor(chunk.map(row), [chunk.length], users.shape[0]))));
    try {
      ranks.set(await chunkRanks(items, u, chunk, excludeSeen), s * T);
    } finally {
      u.dispose();
    }
  }
  return { cases: withHistory, ranks };
}

/** Metrics of user vectors `userRow(case)` (rows of `users`) against `items`, seen items excluded. */
async function evaluateRows(items: Tensor, users: Tensor, cases: EvalCase[], row: (c: EvalCase) => number, excludeSeen = true): Promise<Record<string, number>> {
  const r = await rankRows(items, users, cases, row, excludeSeen);
  return finalize(sumsFromRanks(r.ranks, r.cases[0]?.targets.length ?? 1));
}

/** The valid, test (seen items excluded and left in) metrics, and for leave-one-out the test metrics per popularity group. */
async function evaluateAll(items: Tensor, users: { valid: Tensor; test: Tensor }, split: ReturnType<typeof dataSplit>, numItems: number, cfg: TrainConfig, row: (c: EvalCase) => number): Promise<Pick<TrainResult, 'valid' | 'test' | 'testWithSeen' | 'testByPopularity'>> {
  const valid = await evaluateRows(items, users.valid, split.valid, row);
  const ranked = await rankRows(items, users.test, split.test, row);
  const test = finalize(sumsFromRanks(ranked.ranks, ranked.cases[0]?.targets.length ?? 1));
  const testWithSeen = await evaluateRows(items, users.test, split.test, row, false);
  let testByPopularity: PopularityGroup[] | undefined;
  if ((cfg.protocol ?? 'leaveOneOut') === 'leaveOneOut') testByPopularity = metricsByPopularity(ranked.ranks, ranked.cases, itemCounts(split.train, numItems));
  return { valid, test, testWithSeen, testByPopularity };
}

/** Popularity: score_i = #training interactions with i (one "user vector" [1], items [I, 1]). */
export async function trainPopularity(ds: Dataset, cfg: TrainConfig): Promise<TrainResult> {
  const t0 = performance.now();
  const split = dataSplit(ds, cfg);
  const count = new Float32Array(ds.numItems);
  for (const s of split.train) for (const i of s) count[i]++;
  const items = tensor(count, [ds.numItems, 1]);
  const one = tensor([1], [1, 1]);
  try {
    const metrics = await evaluateAll(items, { valid: one, test: one }, split, ds.numItems, cfg, () => 0);
    const wall = (performance.now() - t0) / 1000;
    return { config: cfg, bestEpoch: 0, wallSeconds: wall, ...metrics, log: [], numParameters: 0 };
  } finally {
    items.dispose();
    one.dispose();
  }
}

/** BPR-MF for cfg.cfEpochs epochs (d = cfg.model.dim), scored by u·i. */
export async function trainBprMf(ds: Dataset, cfg: TrainConfig): Promise<TrainResult> {
  if (cfg.protocol === 'zeroShot') throw new Error('bpr: BPR-MF has no vector for users held out of training, so it has no zero-shot row');
  const t0 = performance.now();
  const split = dataSplit(ds, cfg);
  const epochs = Math.max(1, cfg.cfEpochs);
  const bpr = await trainBPR({ numUsers: split.train.length, numItems: ds.numItems, sequences: split.train }, { dim: cfg.model.dim, epochs, seed: cfg.seed });
  try {
    const trainS = (performance.now() - t0) / 1000;
    const metrics = await evaluateAll(bpr.itemEmb, { valid: bpr.userEmb, test: bpr.userEmb }, split, ds.numItems, cfg, (c) => c.user);
    const log = bpr.losses.map((loss, i) => ({ stage: 'cf' as const, epoch: i + 1, loss, seconds: trainS / epochs, wall: (trainS * (i + 1)) / epochs }));
    return { config: cfg, bestEpoch: epochs, wallSeconds: (performance.now() - t0) / 1000, ...metrics, log, numParameters: bpr.userEmb.size + bpr.itemEmb.size };
  } finally {
    bpr.userEmb.dispose();
    bpr.itemEmb.dispose();
  }
}

/**
 * How many of the most recent history items content-kNN sums over. ML-100K (GloVe text, all five
 * modalities), test HR@10 by the target's training-count quarter, rarest first, and overall:
 *   last 10 items   0.066 / 0.063 / 0.047 / 0.039, 0.054   (1: 0.044, 5: 0.056, 20: 0.045, 50: 0.038)
 *   SASRec          0.089 / 0.138 / 0.216 / 0.310, 0.186   (3 seeds)
 *   item-kNN on the training interactions (co-occurrence cosine, last 10 items)
 *                   0.012 / 0.021 / 0.086 / 0.288, 0.100
 * Content finds rare targets 5× better than co-occurrence does, but still below what SASRec gets
 * for them from their IDs: on ML-100K only 26 of 943 test targets occur ≤ 5 times in training.
 */
export const CONTENT_KNN_HISTORY = 10;

/**
 * Content-kNN's vectors: item i is the concatenation over the data set's modalities of its L2-normalised
 * modality vectors (a missing or zero one is a zero block), so x_i·x_j is the sum over modalities of
 * the cosines; a case's user vector is the sum of x_h over its last `history` items, and its score for
 * item j is the sum of j's content cosines to those items. [numItems·D] and [cases·D], row-major.
 */
export function contentKnnVectors(ds: Dataset, cases: EvalCase[], history = CONTENT_KNN_HISTORY): { dim: number; items: Float32Array; users: Float32Array } {
  const mods = ds.items.modalities;
  if (!mods.length) throw new Error(`content-knn: data set '${ds.name}' has no item modalities`);
  const D = mods.reduce((a, m) => a + m.dim, 0);
  const items = new Float32Array(ds.numItems * D);
  let off = 0;
  for (const m of mods) {
    for (let i = 0; i < ds.numItems; i++) {
      if (!m.present[i]) continue;
      let n = 0;
      for (let k = 0; k < m.dim; k++) n += m.values[i * m.dim + k] ** 2;
      if (n === 0) continue;
      const r = 1 / Math.sqrt(n);
      for (let k = 0; k < m.dim; k++) items[i * D + off + k] = m.values[i * m.dim + k] * r;
    }
    off += m.dim;
  }
  const users = new Float32Array(cases.length * D);
  cases.forEach((c, u) => {
    for (const h of c.history.subarray(Math.max(0, c.history.length - history))) {
      for (let k = 0; k < D; k++) users[u * D + k] += items[h * D + k];
    }
  });
  return { dim: D, items, users };
}

/** Content-kNN (no training): score_j = Σ over the last CONTENT_KNN_HISTORY history items h and over modalities of cos(h, j). */
export async function trainContentKnn(ds: Dataset, cfg: TrainConfig): Promise<TrainResult> {
  const t0 = performance.now();
  const split = dataSplit(ds, cfg);
  const v = contentKnnVectors(ds, split.valid);
  const t = contentKnnVectors(ds, split.test);
  const items = tensor(v.items, [ds.numItems, v.dim]);
  const users = { valid: tensor(v.users, [split.valid.length, v.dim]), test: tensor(t.users, [split.test.length, v.dim]) };
  // One user vector per case (valid and test histories differ by one item): the row is the case's index.
  const index = new Map<EvalCase, number>();
  for (const cs of [split.valid, split.test]) cs.forEach((c, i) => index.set(c, i));
  try {
    const metrics = await evaluateAll(items, users, split, ds.numItems, cfg, (c) => index.get(c)!);
    return { config: cfg, bestEpoch: 0, wallSeconds: (performance.now() - t0) / 1000, ...metrics, log: [], numParameters: 0 };
  } finally {
    items.dispose();
    users.valid.dispose();
    users.test.dispose();
  }
}
