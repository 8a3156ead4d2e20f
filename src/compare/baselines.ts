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
import { finalize } from '../train/metrics.ts';
import { trainBPR } from '../train/cf.ts';
import { dataSplit, warmItems } from '../train/data.ts';
import { rankChunks, splitResults } from '../train/evaluate.ts';
import type { TrainResult } from '../train/trainer.ts';
import type { TrainConfig } from '../train/config.ts';
import type { SplitResults } from '../train/evaluate.ts';

/** A chunk's user vectors [chunk, d] (a new tensor; rankChunks disposes it). */
type UserVectors = (chunk: EvalCase[]) => Tensor;

/** Rows `row(case)` of a user matrix as UserVectors. */
const rowsOf = (users: Tensor, row: (c: EvalCase) => number): UserVectors => (chunk) =>
  tidy(() => noGrad(() => gatherRows(users, indexTensor(chunk.map(row), [chunk.length], users.shape[0]))));

/** The metrics of rankChunks' ranks. */
async function evaluateRows(items: Tensor, cases: EvalCase[], usersOf: UserVectors, excludeSeen = true): Promise<Record<string, number>> {
  return finalize((await rankChunks(items, cases, usersOf, 256, excludeSeen)).sums);
}

/** splitResults of the two ranking passes, and the test metrics with seen items left in the ranking. */
async function evaluateAll(items: Tensor, usersOf: UserVectors, split: ReturnType<typeof dataSplit>, numItems: number, cfg: TrainConfig): Promise<SplitResults & Pick<TrainResult, 'testWithSeen'>> {
  const results = splitResults(await rankChunks(items, split.valid, usersOf), await rankChunks(items, split.test, usersOf), split, numItems, cfg);
  return { ...results, testWithSeen: await evaluateRows(items, split.test, usersOf, false) };
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
    const metrics = await evaluateAll(items, rowsOf(one, () => 0), split, ds.numItems, cfg);
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
  const bpr = await trainBPR({ numUsers: split.train.length, numItems: ds.numItems, sequences: split.train, candidates: split.cold ? warmItems(ds.numItems, split.cold) : undefined }, { dim: cfg.model.dim, epochs, seed: cfg.seed });
  try {
    const trainS = (performance.now() - t0) / 1000;
    const metrics = await evaluateAll(bpr.itemEmb, rowsOf(bpr.userEmb, (c) => c.user), split, ds.numItems, cfg);
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
 *   SASRec          0.109 / 0.155 / 0.247 / 0.301, 0.202   (3 seeds, patience 10)
 *   item-kNN on the training interactions (co-occurrence cosine, last 10 items)
 *                   0.012 / 0.021 / 0.086 / 0.288, 0.100
 * Content finds rare targets 5× better than co-occurrence does, but still below what SASRec gets
 * for them from their IDs: on ML-100K only 26 of 943 test targets occur ≤ 5 times in training.
 */
export const CONTENT_KNN_HISTORY = 10;

/**
 * Content-kNN's item vectors [numItems·dim], row-major: item i is the concatenation over the data set's
 * modalities of its L2-normalised modality vectors (a missing or zero one is a zero block), so x_i·x_j
 * is the sum over the modalities of the cosines.
 */
export function contentKnnItems(ds: Dataset): { dim: number; items: Float32Array } {
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
  return { dim: D, items };
}

/** Each case's user vector [cases·dim]: the sum of the item vectors of its last `history` items. */
export function contentKnnUsers(items: Float32Array, dim: number, cases: EvalCase[], history = CONTENT_KNN_HISTORY): Float32Array {
  const users = new Float32Array(cases.length * dim);
  cases.forEach((c, u) => {
    for (const h of c.history.subarray(Math.max(0, c.history.length - history))) {
      for (let k = 0; k < dim; k++) users[u * dim + k] += items[h * dim + k];
    }
  });
  return users;
}

/** Content-kNN (no training): score_j = Σ over the last CONTENT_KNN_HISTORY history items h and over modalities of cos(h, j). */
export async function trainContentKnn(ds: Dataset, cfg: TrainConfig): Promise<TrainResult> {
  const t0 = performance.now();
  const split = dataSplit(ds, cfg);
  const { dim, items: x } = contentKnnItems(ds);
  const items = tensor(x, [ds.numItems, dim]);
  try {
    // User vectors per chunk of cases, so memory stays at 256 users whatever the data set's size.
    const metrics = await evaluateAll(items, (chunk) => tensor(contentKnnUsers(x, dim, chunk), [chunk.length, dim]), split, ds.numItems, cfg);
    return { config: cfg, bestEpoch: 0, wallSeconds: (performance.now() - t0) / 1000, ...metrics, log: [], numParameters: 0 };
  } finally {
    items.dispose();
  }
}
