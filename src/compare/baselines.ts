// Sanity rows of `mufasa compare` that are not sequence models: popularity (rank by training
// interaction count) and BPR-MF (src/train/cf.ts, the CF pretraining model, as a recommender). Same
// splits and the same GPU evaluation as the trainer (full catalog, seen items excluded, ties → lower id).
//
// BPR-MF has no early stopping here: trainBPR runs a fixed number of epochs (cfEpochs, default 10:
// on ML-100K 10 epochs at lr 1e-2 beat 50 on validation, src/train/cf.ts). It has one embedding per
// training user, so it has no zero-shot row (held-out users have no embedding).

import type { Dataset } from '../data/dataset.ts';
import type { EvalCase } from '../data/split.ts';
import { tensor } from '../tensor/ops/creation.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { tidy } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { addSums, emptySums, finalize } from '../train/metrics.ts';
import { trainBPR } from '../train/cf.ts';
import { dataSplit, rankChunk } from '../train/trainer.ts';
import type { TrainConfig, TrainResult } from '../train/trainer.ts';

/** Metrics of user vectors `userRow(case)` (rows of `users`) against `items`, seen items excluded. */
async function evaluateRows(items: Tensor, users: Tensor, cases: EvalCase[], row: (c: EvalCase) => number, excludeSeen = true): Promise<Record<string, number>> {
  let sums = emptySums();
  const withHistory = cases.filter((c) => c.history.length > 0);
  for (let s = 0; s < withHistory.length; s += 256) {
    const chunk = withHistory.slice(s, s + 256);
    const u = tidy(() => noGrad(() => gatherRows(users, indexTensor(chunk.map(row), [chunk.length], users.shape[0]))));
    try {
      sums = addSums(sums, await rankChunk(items, u, chunk, excludeSeen));
    } finally {
      u.dispose();
    }
  }
  return finalize(sums);
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
    const valid = await evaluateRows(items, one, split.valid, () => 0);
    const test = await evaluateRows(items, one, split.test, () => 0);
    const testWithSeen = await evaluateRows(items, one, split.test, () => 0, false);
    const wall = (performance.now() - t0) / 1000;
    return { config: cfg, bestEpoch: 0, wallSeconds: wall, valid, test, testWithSeen, log: [], numParameters: 0 };
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
    const valid = await evaluateRows(bpr.itemEmb, bpr.userEmb, split.valid, (c) => c.user);
    const test = await evaluateRows(bpr.itemEmb, bpr.userEmb, split.test, (c) => c.user);
    const testWithSeen = await evaluateRows(bpr.itemEmb, bpr.userEmb, split.test, (c) => c.user, false);
    const log = bpr.losses.map((loss, i) => ({ stage: 'cf' as const, epoch: i + 1, loss, seconds: trainS / epochs, wall: (trainS * (i + 1)) / epochs }));
    return { config: cfg, bestEpoch: epochs, wallSeconds: (performance.now() - t0) / 1000, valid, test, testWithSeen, log, numParameters: bpr.userEmb.size + bpr.itemEmb.size };
  } finally {
    bpr.userEmb.dispose();
    bpr.itemEmb.dispose();
  }
}
