// The training config: every field a run is defined by, its defaults (each non-obvious default with
// the measurement that chose it, in src/model/*.ts for the model's fields), how a saved run's config
// is read back, and which fields a resume may change.

import type { TieOrder } from '../data/split.ts';
import { defaultMufasaConfig } from '../model/mufasa.ts';
import type { MufasaConfig } from '../model/mufasa.ts';
import { defaultSasrecConfig } from '../model/sasrec.ts';
import type { SasrecConfig } from '../model/sasrec.ts';
import { deepMerge } from '../model/presets.ts';

export interface TrainConfig {
  /** Which sequence model: MUFASA (and its ablations, `model` fields) or SASRec (`sasrec`). */
  arch: 'mufasa' | 'sasrec';
  model: MufasaConfig;
  sasrec: SasrecConfig;
  /**
   * 'leaveOneOut': last item = test, second-to-last = validation. 'zeroShot' (paper §4): 10 % of the
   * users (at least 90 when the data set has 180 or more) never seen in training, tested on their last
   * 3 interactions (Recall@K); validation = the training users' last interaction.
   */
  protocol: 'leaveOneOut' | 'zeroShot';
  /** Order of a user's interactions with equal timestamps, which decides which is the target (orderTies in src/data/split.ts). */
  tieOrder: TieOrder;
  /**
   * Cold-item protocol (leave-one-out only; 0: off): this fraction of the items is unknown at training
   * time (chooseColdItems: a fixed seeded draw, the same for every run). They leave the training
   * sequences, the histories, validation targets, the training softmax, BPR's negatives and the MFL
   * item batches, and their ID-embedding rows are 0 (no information); the test ranks the whole
   * catalogue, and results report cold and warm targets apart.
   * What an item tower built from content can do that ID embeddings cannot (issue 5).
   */
  coldItems: number;
  /**
   * Keep only each user's last this many interactions (after tieOrder) before the split; 0: all.
   * A sparse, short-sequence version of a long-sequence data set (recentInteractions in
   * src/data/split.ts), like the paper's MicroLens (7.19 interactions per user).
   */
  recentInteractions: number;
  /** Stop after the epoch that passes this many wall seconds since the start (0: no budget). */
  timeBudget: number;
  seed: number;
  /** SAL-stage epochs (upper bound: early stopping usually ends sooner). */
  epochs: number;
  /** MFL-stage epochs over the item catalog before SAL (cascade stage 1). */
  mflEpochs: number;
  /** 'finetune': MFL keeps training in stage 2 with `mflAuxWeight`·L_MFL; 'frozen': z is fixed. */
  schedule: 'finetune' | 'frozen';
  mflAuxWeight: number;
  batchSize: number;
  itemBatchSize: number;
  maxLen: number;
  /**
   * Training sequences longer than maxLen: 'last' trains only their last maxLen items (the targets
   * before them are never seen); a stride s in 1..maxLen − 1 cuts them into windows s items apart so
   * every target is trained once, with ≥ maxLen − s items of context (makeBatches' windowStride);
   * 'half' is s = ⌊maxLen / 2⌋.
   */
  windowStride: number | 'last' | 'half';
  lr: number;
  weightDecay: number;
  clipNorm: number;
  /** CF pretraining (BPR-MF); epochs 0 disables L_cf. */
  cfEpochs: number;
  /** Early stopping: evaluations without a better validation NDCG@10. */
  patience: number;
  lossReadEvery: number;
  /** Modalities not fed to MFL: the title is the anchor of L_title, so feeding it too would let z copy it. */
  excludeModalities: string[];
}

export const defaultTrainConfig: TrainConfig = {
  arch: 'mufasa',
  model: defaultMufasaConfig,
  sasrec: defaultSasrecConfig,
  protocol: 'leaveOneOut',
  // The issue prescribes RecBole's rule (ties by ascending item id); 'shuffled' removes the leak it
  // gives (orderTies).
  tieOrder: 'itemId',
  coldItems: 0,
  recentInteractions: 0,
  timeBudget: 0,
  seed: 0,
  // A cap, not a schedule: early stopping (patience) ends a run. 30 cut the engine's SASRec short on
  // ML-100K: with patience 10 its best validation epochs were 39, 52 and 54 (seeds 0–2, llvmpipe,
  // 'half' windows), and its 3-seed test HR@10 / NDCG@10 rose from 0.1863 / 0.1018 (patience 5) to
  // 0.2015 / 0.1088; MUFASA's best epochs were 30, 36 and 23.
  epochs: 100,
  mflEpochs: 5,
  // Paper's cascade, MFL fine-tuned in stage 2. ML-100K (seed 0, llvmpipe): frozen reached valid
  // NDCG@10 0.0189 at best in 10 SAL epochs, finetune 0.0581 by epoch 10 (both ranked by raw u·z, before
  // the cosine-ranking fix); with cosine ranking 0.0176 vs 0.0623 after 4 epochs. Frozen also freezes
  // the ID embedding at its random init.
  schedule: 'finetune',
  mflAuxWeight: 0.1,
  batchSize: 64,
  itemBatchSize: 256,
  maxLen: 200,
  // Every target once per epoch, each with ≥ maxLen/2 items of context. ML-100K, llvmpipe, seeds 0–2,
  // patience 5, test HR@10 / NDCG@10 (seen items excluded) and best valid NDCG@10, 'last' → 'half':
  //   SASRec (maxLen 50: 'last' trains 39 % of the targets) 0.1658 / 0.0858, valid 0.1078
  //                                                  → 0.1863 / 0.1018, valid 0.1204
  //   MUFASA (maxLen 200: 86 %)                       0.2008 / 0.1088, valid 0.1339
  //                                                  → 0.1997 / 0.1065, valid 0.1326 (a tie)
  // Cost: SASRec runs 4.4× the positions (171k against 39k) and 2.5× the loss rows, ≈ 27 s per epoch
  // alone on llvmpipe; MUFASA 1.5× the positions, 18.5 s per epoch against 16.6–17.4 (`bench train`).
  // One policy for every model keeps `compare` a comparison of models, not of how much data each saw.
  windowStride: 'half',
  lr: 1e-3,
  weightDecay: 0,
  clipNorm: 5,
  cfEpochs: 10, // BPR-MF on ML-100K: 10 epochs at lr 1e-2 beat 50 on validation (0.117 vs 0.100 HR@10)
  patience: 10,
  lossReadEvery: 20,
  excludeModalities: ['title'],
};

/**
 * The training config of a saved run (a checkpoint's meta.config): merged field by field over the
 * defaults, except that fields added with a non-neutral default read as what runs before them did —
 * a checkpoint without `model.userHead` was trained without the head (and without dropout), one
 * without `model.layers` with one SAL layer, one without `model.score` with cosine scores (its
 * `model.temperature` is saved), one without `windowStride` on the last maxLen items of each
 * sequence only.
 */
export function savedTrainConfig(saved: unknown, where = 'checkpoint config'): TrainConfig {
  const before = deepMerge(defaultTrainConfig, { model: { userHead: 'none', dropout: 0, layers: 1, score: 'cosine' }, windowStride: 'last' });
  try {
    return deepMerge(before, saved, where);
  } catch (e) {
    // A saved config was valid when written, so an unknown field is a version mismatch, not a typo.
    throw new Error(`${(e as Error).message}; the run was probably saved by a newer mufasa-gpu than this one`);
  }
}

/** The config fields that only decide when a run stops (a resume may change them: TrainHooks.resumeFrom). */
export const STOPPING_FIELDS = ['epochs', 'patience', 'timeBudget'] as const;

/**
 * The stopping fields `after` sets lower than `before` (timeBudget 0 = none = the largest). A larger
 * value continues a run exactly; a smaller one cannot undo the epochs a run already went past it.
 */
export function smallerStopping(before: TrainConfig, after: TrainConfig): (typeof STOPPING_FIELDS)[number][] {
  const limit = (f: (typeof STOPPING_FIELDS)[number], c: TrainConfig) => (f === 'timeBudget' && c[f] === 0 ? Infinity : c[f]);
  return STOPPING_FIELDS.filter((f) => limit(f, after) < limit(f, before));
}

/** cfg.windowStride as makeBatches takes it (0: the last window only). */
export function windowStride(cfg: Pick<TrainConfig, 'windowStride' | 'maxLen'>): number {
  const w = cfg.windowStride ?? 'last';
  if (w === 'last') return 0;
  if (w === 'half') return Math.floor(cfg.maxLen / 2);
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || (w > 0 && w >= cfg.maxLen)) {
    throw new Error(`config: windowStride must be 'last', 'half' or a whole number of items in 1..maxLen − 1 = ${cfg.maxLen - 1} (got ${JSON.stringify(w)})`);
  }
  return w;
}
