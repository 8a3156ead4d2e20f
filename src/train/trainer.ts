// The orchestrator: data → CF pretraining → MFL → SAL → evaluation, all model work on the GPU; the
// CPU only builds index batches (issue #4, DESIGN §5–§6).
//
//   1. split       leave-one-out by time (last = test, second-to-last = validation)
//   2. CF          BPR-MF on the training interactions → c_i, frozen (the L_cf target)
//   3. MFL         cascade stage 1: L_MFL on batches of items (eq. 5)
//   4. SAL         cascade stage 2: user–item InfoNCE on every prefix of the training sequences, with
//                  MFL fine-tuned (its L_MFL kept as an auxiliary term) or frozen (`schedule`)
//   5. evaluate    after every SAL epoch on validation (full catalog, seen items excluded), early
//                  stopping on NDCG@10, best weights restored for the test evaluation
//
// A step is encoded without waiting on the GPU: losses stay on the GPU and are read back every
// `lossReadEvery` steps.

import type { Dataset } from '../data/dataset.ts';
import { leaveOneOut, zeroShotSplit, orderTies, recentInteractions, chooseColdItems } from '../data/split.ts';
import type { EvalCase, TieOrder } from '../data/split.ts';
import { makeBatches } from '../data/batches.ts';
import { mulberry32, shuffleInPlace } from '../data/rng.ts';
import { engine } from '../gpu/engine.ts';
import { tensor } from '../tensor/ops/creation.ts';
import { reshape, concat } from '../tensor/ops/layout.ts';
import { NonFiniteError } from '../errors.ts';
import { add } from '../tensor/ops/binary.ts';
import { affine } from '../tensor/ops/unary.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { tidy, keep } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Adam } from '../nn/adam.ts';
import { seededRandom } from '../nn/init.ts';
import { saveCheckpoint, loadCheckpoint } from './checkpoint.ts';
import type { NamedArray } from './checkpoint.ts';
import { Mufasa, defaultMufasaConfig, checkMufasaConfig } from '../model/mufasa.ts';
import type { MufasaConfig } from '../model/mufasa.ts';
import { SASRec, defaultSasrecConfig } from '../model/sasrec.ts';
import type { SasrecConfig } from '../model/sasrec.ts';
import type { SequenceModel, SequenceBatch, TrainCatalog, LossOptions } from '../model/sequence.ts';
import { rankingVectors } from '../model/sequence.ts';
import { deepMerge } from '../model/presets.ts';
import type { ModalityInput } from '../model/mfl.ts';
import { trainBPR } from './cf.ts';
import { rankTargets, sumsFromRanks, finalize, addSums, emptySums } from './metrics.ts';
import type { MetricSums } from './metrics.ts';
import { metricsByPopularity, itemCounts, metricsByGap, metricsByColdness, DEFAULT_GAP_EDGES } from './breakdown.ts';
import type { PopularityGroup, GapGroup, ColdnessGroup } from './breakdown.ts';
import type { CaseRanks, RunRanks } from '../compare/paired.ts';

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

export interface EpochLog {
  stage: 'cf' | 'mfl' | 'sal';
  epoch: number;
  loss: number;
  seconds: number;
  /** Wall seconds since the start of training when this epoch ended (resumed runs include the earlier part). */
  wall?: number;
  valid?: Record<string, number>;
}

export interface TrainResult {
  config: TrainConfig;
  bestEpoch: number;
  wallSeconds: number;
  valid: Record<string, number>;
  /** Test metrics: leave-one-out test items, or the zero-shot users' last 3 interactions; seen items excluded. */
  test: Record<string, number>;
  /** The same with the user's earlier items left in the ranking (RecBole's rule for sequential models). */
  testWithSeen: Record<string, number>;
  /** The test metrics per popularity group of the target item (metricsByPopularity, 4 groups); leave-one-out only (one target per user). */
  testByPopularity?: PopularityGroup[];
  /** Validation and test metrics by the time from the interaction before the target to it (metricsByGap, default edges). */
  validByGap?: GapGroup[];
  testByGap?: GapGroup[];
  /** Cold-item protocol: the test metrics of the cases whose target is a cold item, and of the rest (metricsByColdness). */
  testByColdness?: ColdnessGroup[];
  /** Every validation and test target's rank (for paired comparisons between models: src/compare/paired.ts). */
  ranks?: RunRanks;
  log: EpochLog[];
  numParameters: number;
}

export interface TrainHooks {
  onEpoch?: (e: EpochLog) => void;
  /** Before every optimizer step of the MFL and SAL stages; awaited, so a caller can pause training here (the demo's Stop/Resume). */
  onStep?: (stage: string, step: number, stepsPerEpoch: number) => void | Promise<void>;
  /**
   * Each step's loss terms (`step` counts the stage's steps from 0), delivered with the periodic loss
   * readback (every `lossReadEvery` steps and at epoch ends); reading the terms costs a few more small
   * read-backs, so they are kept on the GPU only when this hook is set.
   */
  onLosses?: (stage: 'mfl' | 'sal', step: number, losses: StepLosses) => void;
  /** Checked between steps: once aborted the run skips the remaining steps and epochs (an unfinished epoch is neither evaluated nor checkpointed), then restores the best weights and evaluates as usual. */
  signal?: AbortSignal;
  /** MUFASA models only (SASRec runs skip it). After each SAL epoch's validation (`final`: after the test evaluation) with the live model and its item vectors z [I, d]; read only, do not dispose. */
  onEvaluated?: (info: { epoch: number; final: boolean; model: Mufasa; z: Tensor }) => void | Promise<void>;
  /** Save the best model here (atomically, on every validation improvement). */
  checkpointDir?: string;
  /** Recorded in the checkpoint so `eval`/`embed` can reload the same data. */
  dataSource?: Record<string, unknown>;
  /**
   * Save a resumable "last" checkpoint here after the MFL stage and after every SAL epoch: weights,
   * Adam moments and step count, the CF item embeddings (tensor `cf.itemEmb`, so a resume skips BPR),
   * the best weights so far (`best.<param>`), and in the sidecar the stage, epoch, MFL-order RNG state,
   * the loss-seed counter, early-stopping state and the log. Independent of `checkpointDir` (best model).
   */
  lastDir?: string;
  /**
   * Continue from a `lastDir` checkpoint: everything above is restored and training goes on at the
   * next epoch; a run of E epochs equals k epochs + a resume for the rest, bit for bit on one adapter.
   * `cfg` should be the checkpoint's config (the CLI loads it from the sidecar), except that the
   * stopping fields may change: whether the run has stopped is decided again from `cfg` (validation
   * evaluations since the best ≥ patience, or wall time ≥ timeBudget), so a larger patience, epoch cap
   * or time budget continues a finished run exactly as if it had been trained with them from the start.
   */
  resumeFrom?: string;
}

/** One step's loss terms (undefined: the term is off or has no input in this step). */
export interface StepLosses {
  total: number;
  title?: number;
  cf?: number;
  cons?: number;
  fusCl?: number;
  userItem?: number;
}

/** Sidecar fields of a resumable checkpoint (see TrainHooks.lastDir). */
interface ResumeState {
  kind: 'last';
  stage: 'mfl' | 'sal';
  /** SAL epochs completed (0 after the MFL stage). */
  epoch: number;
  stopped: boolean;
  orderState: number;
  stepSeed: number;
  best: number;
  bestEpoch: number;
  sinceBest: number;
  validMetrics: Record<string, number>;
  log: EpochLog[];
  wallSeconds: number;
  hasCf: boolean;
  hasBest: boolean;
}

const CF_NAME = 'cf.itemEmb';
const BEST_PREFIX = 'best.';

/** The model for data set `ds` under `cfg` (the item modalities fix MFL's input sizes). */
export function buildModel(ds: Dataset, cfg: TrainConfig): SequenceModel {
  if ((cfg.arch ?? 'mufasa') === 'sasrec') return new SASRec(cfg.sasrec, ds.numItems, cfg.maxLen, seededRandom(cfg.seed + 1));
  if (cfg.arch !== 'mufasa') throw new Error(`config: unknown arch '${cfg.arch}' (mufasa, sasrec)`);
  const inputs = contentModalities(ds, cfg.excludeModalities);
  const title = ds.items.modalities.find((m) => m.name === 'title');
  return new Mufasa(cfg.model, ds.numItems, inputs.map((m) => ({ name: m.name, dim: m.dim })), title?.dim ?? 0, seededRandom(cfg.seed + 1));
}

/** Parameters by name, as saved in checkpoints. */
export function namedParameters(model: SequenceModel): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const p of model.parameters()) {
    if (!p.name || out.has(p.name)) throw new Error(`internal: parameter ${p} has no unique name`);
    out.set(p.name, p);
  }
  return out;
}

/** Overwrite the model's parameters with checkpoint weights (every name and shape must match). */
export function loadWeights(model: SequenceModel, weights: Map<string, NamedArray>, file: string): void {
  const e = engine();
  for (const [name, p] of namedParameters(model)) {
    const w = weights.get(name);
    if (!w) throw new Error(`${file}: no tensor '${name}' (checkpoint from another model or config)`);
    if (w.shape.join() !== p.shape.join()) throw new Error(`${file}: '${name}' has shape [${w.shape}], the model needs [${p.shape}]`);
    const b = p.binding('loadWeights');
    e.stream.write(b.buffer, b.offset!, w.data);
  }
}

/** The item modalities a MUFASA model consumes: the data set's, less those `exclude` names. */
function contentModalities(ds: Dataset, exclude: string[]) {
  return ds.items.modalities.filter((m) => !exclude.includes(m.name));
}

/** Upload the item modalities MFL consumes (present masks as [I, 1] floats). */
export function uploadModalities(ds: Dataset, exclude: string[]): ModalityInput[] {
  return contentModalities(ds, exclude).map((m) => ({
    name: m.name,
    values: keep(tensor(m.values, [ds.numItems, m.dim], { name: `modality.${m.name}` })),
    present: keep(tensor(Float32Array.from(m.present), [ds.numItems, 1])),
  }));
}

/** A CPU SequenceBatch (left-aligned, pad = numItems) from evaluation histories. */
export function historyBatch(cases: EvalCase[], numItems: number, maxLen: number): SequenceBatch {
  const L = Math.max(1, Math.min(maxLen, Math.max(...cases.map((c) => c.history.length))));
  const items = new Int32Array(cases.length * L).fill(numItems);
  const lengths = new Int32Array(cases.length);
  cases.forEach((c, b) => {
    const h = c.history.subarray(Math.max(0, c.history.length - L));
    items.set(h, b * L);
    lengths[b] = h.length;
  });
  return { items, lengths, batch: cases.length, maxLen: L };
}

/** Full-catalog metrics of `cases` (seen items excluded, never the target itself). */
/** `excludeSeen` false leaves the user's earlier items in the ranking (RecBole's rule for sequential models). */
export async function evaluateCases(model: SequenceModel, z: Tensor, cases: EvalCase[], maxLen: number, batchSize = 256, excludeSeen = true): Promise<MetricSums> {
  return (await rankCases(model, z, cases, maxLen, batchSize, excludeSeen)).sums;
}

/** The items not in `cold`, ascending. */
export function warmItems(numItems: number, cold: Int32Array): Int32Array {
  const isCold = new Uint8Array(numItems);
  for (const c of cold) isCold[c] = 1;
  const out: number[] = [];
  for (let i = 0; i < numItems; i++) if (!isCold[i]) out.push(i);
  return Int32Array.from(out);
}

/** Sets rows `rows` of the 2-D parameter `t` to 0 (one read-back and one upload, at build time). */
async function zeroRows(t: Tensor, rows: Int32Array): Promise<void> {
  const d = t.shape[1];
  const data = Float32Array.from(await t.data());
  for (const r of rows) data.fill(0, r * d, (r + 1) * d);
  const b = t.binding('zeroRows');
  t.engine.stream.write(b.buffer, b.offset!, data);
}

/** Each item's row in the catalogue `items` (ascending ids), −1 outside it. */
function catalogRows(numItems: number, items: Int32Array): Int32Array {
  const rows = new Int32Array(numItems).fill(-1);
  items.forEach((it, r) => (rows[it] = r));
  return rows;
}

/** A Ranked's per-user ranks, as results files keep them. */
export function caseRanks(r: Ranked): CaseRanks {
  return { users: r.cases.map((c) => c.user), ranks: Array.from(r.ranks) };
}

/** What one ranking pass over validation and one over test give a run's results. */
export type SplitResults = Pick<TrainResult, 'valid' | 'test' | 'testByPopularity' | 'validByGap' | 'testByGap' | 'testByColdness' | 'ranks'>;

/**
 * The metrics of the two ranking passes and their breakdowns: gap groups of both splits, every
 * target's rank, for leave-one-out the popularity groups of the test targets, and under the cold-item
 * protocol the cold and warm test targets. Shared by train() and the baselines (src/compare/baselines.ts).
 */
export function splitResults(rankedValid: Ranked, ranked: Ranked, split: ReturnType<typeof dataSplit>, numItems: number, cfg: TrainConfig): SplitResults {
  return {
    valid: finalize(rankedValid.sums),
    test: finalize(ranked.sums),
    validByGap: metricsByGap(rankedValid.ranks, rankedValid.cases, DEFAULT_GAP_EDGES, rankedValid.targetsPerCase),
    testByGap: metricsByGap(ranked.ranks, ranked.cases, DEFAULT_GAP_EDGES, ranked.targetsPerCase),
    ranks: { valid: caseRanks(rankedValid), test: caseRanks(ranked) },
    testByPopularity: (cfg.protocol ?? 'leaveOneOut') === 'leaveOneOut' ? metricsByPopularity(ranked.ranks, ranked.cases, itemCounts(split.train, numItems)) : undefined,
    testByColdness: split.cold ? metricsByColdness(ranked.ranks, ranked.cases, split.cold) : undefined,
  };
}

/** Ranks of the cases with a history ([cases·targetsPerCase], in the order of `cases`) and their metric sums. */
export interface Ranked {
  cases: EvalCase[];
  ranks: Int32Array;
  targetsPerCase: number;
  sums: MetricSums;
}

/**
 * evaluateCases' metric sums together with every target's full-catalog rank (0 = first; seen items
 * excluded unless `excludeSeen` is false): [cases·T] in the order of the returned cases, which are
 * `cases` less those without a history. One ranking pass gives both, for breakdowns of the metrics
 * (src/train/breakdown.ts) next to the overall numbers.
 */
export async function rankCases(model: SequenceModel, z: Tensor, cases: EvalCase[], maxLen: number, batchSize = 256, excludeSeen = true): Promise<Ranked> {
  // Rank by the score the model was trained with (MUFASA's `model.score`), not always by raw dot products.
  const zr = noGrad(() => rankingVectors(model, z));
  try {
    const usersOf = (chunk: EvalCase[]) => tidy(() => noGrad(() => rankingVectors(model, reshape(model.userVectors(z, historyBatch(chunk, model.numItems, maxLen), true), [chunk.length, model.dim]))));
    return await rankChunks(zr, cases, usersOf, batchSize, excludeSeen);
  } finally {
    if (zr !== z) zr.dispose();
  }
}

/**
 * Every target's rank against `items` for the cases with a history, `batchSize` at a time, with the
 * metric sums added chunk by chunk: [cases·T] in the order of the returned cases. `usersOf(chunk)`
 * gives the chunk's user vectors [chunk, d] as a new tensor (disposed here). Shared by rankCases and
 * the non-sequence baselines (src/compare/baselines.ts).
 */
export async function rankChunks(items: Tensor, cases: EvalCase[], usersOf: (chunk: EvalCase[]) => Tensor, batchSize = 256, excludeSeen = true): Promise<Ranked> {
  const withHistory = cases.filter((c) => c.history.length > 0);
  const T = withHistory[0]?.targets.length ?? 1;
  const ranks = new Int32Array(withHistory.length * T);
  let sums = emptySums();
  for (let s = 0; s < withHistory.length; s += batchSize) {
    const chunk = withHistory.slice(s, s + batchSize);
    const users = usersOf(chunk);
    try {
      const r = await chunkRanks(items, users, chunk, excludeSeen);
      ranks.set(r, s * T);
      sums = addSums(sums, sumsFromRanks(r, T));
    } finally {
      users.dispose();
    }
  }
  return { cases: withHistory, ranks, targetsPerCase: T, sums };
}

/**
 * The full-catalog rank of every target of one chunk of cases ([chunk·T]): row r of `users` [chunk, d]
 * against every row of `items`, each case's seen items other than its targets excluded when
 * `excludeSeen` (the target never is).
 */
async function chunkRanks(items: Tensor, users: Tensor, chunk: EvalCase[], excludeSeen: boolean): Promise<Int32Array> {
  const offsets = new Int32Array(chunk.length + 1);
  const excl: number[] = [];
  chunk.forEach((c, i) => {
    const tg = new Set(c.targets);
    if (excludeSeen) for (const it of c.seen) if (!tg.has(it)) excl.push(it);
    offsets[i + 1] = excl.length;
  });
  const targets = Int32Array.from(chunk.flatMap((c) => Array.from(c.targets)));
  return rankTargets(items, { users, targets, targetsPerUser: chunk[0].targets.length, exclude: { offsets, items: Int32Array.from(excl) } }, { numItems: items.shape[0] });
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

/** The SAL stage's batches for epoch `ep` (a new shuffle per epoch; windows per cfg.windowStride). */
export function epochBatches(trainSeqs: Int32Array[], numItems: number, cfg: TrainConfig, ep: number): SequenceBatch[] {
  const opts = { batchSize: cfg.batchSize, numItems, maxLen: cfg.maxLen, windowStride: windowStride(cfg), seed: cfg.seed + ep, padTo: 'batch' as const };
  return Array.from(makeBatches(trainSeqs, opts), (b) => ({ items: b.items, lengths: b.lengths, batch: b.B, maxLen: b.L, firstTarget: b.firstTarget }));
}

/** The users' sequences every split starts from: ties in cfg.tieOrder, cut to cfg.recentInteractions. */
export function userSequences(data: Dataset, cfg: Pick<TrainConfig, 'tieOrder' | 'recentInteractions'>): Dataset {
  return recentInteractions(orderTies(data, cfg.tieOrder ?? 'itemId'), cfg.recentInteractions ?? 0);
}

/** Training sequences and evaluation cases under cfg.protocol (test = the zero-shot users for 'zeroShot'). */
export function dataSplit(data: Dataset, cfg: TrainConfig): { train: Int32Array[]; valid: EvalCase[]; test: EvalCase[]; cold?: Int32Array } {
  const ds = userSequences(data, cfg);
  const coldFraction = cfg.coldItems ?? 0;
  if ((cfg.protocol ?? 'leaveOneOut') === 'leaveOneOut') {
    if (!coldFraction) return leaveOneOut(ds, { maxLen: cfg.maxLen });
    const cold = chooseColdItems(ds, coldFraction);
    return { ...leaveOneOut(ds, { maxLen: cfg.maxLen, cold: new Set(cold) }), cold };
  }
  if (cfg.protocol !== 'zeroShot') throw new Error(`config: unknown protocol '${cfg.protocol}' (leaveOneOut, zeroShot)`);
  if (coldFraction) throw new Error('config: coldItems needs the leaveOneOut protocol (zero-shot holds out users, not items)');
  // Paper §4: 10 % of the users held out; at least 90 where the data set has room (half its users).
  const held = Math.max(Math.round(0.1 * ds.numUsers), Math.min(90, Math.floor(ds.numUsers / 2)));
  const zs = zeroShotSplit(ds, { fraction: Math.min(0.5, held / ds.numUsers), seed: cfg.seed, maxLen: cfg.maxLen });
  return { train: zs.train, valid: zs.valid, test: zs.heldOut };
}

export async function train(ds: Dataset, cfg: TrainConfig = defaultTrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  let t0 = performance.now();
  const e = engine();
  const resume = hooks.resumeFrom ? loadCheckpoint(hooks.resumeFrom) : null;
  const rs = resume ? (resume.meta as unknown as ResumeState) : null;
  if (resume && rs?.kind !== 'last') throw new Error(`${hooks.resumeFrom}: not a resumable checkpoint (it has no training state; use the run's 'last' directory)`);
  if (resume && !resume.optimizer) throw new Error(`${hooks.resumeFrom}: the checkpoint has no optimizer state`);
  const resumeFile = hooks.resumeFrom ? `${hooks.resumeFrom}/${String(resume?.meta.files)}/model.safetensors` : '';
  if (rs) t0 -= rs.wallSeconds * 1000;
  const log: EpochLog[] = rs ? rs.log.map((l) => ({ ...l })) : [];
  const emit = (l: EpochLog) => {
    log.push(l);
    hooks.onEpoch?.(l);
  };
  const split = dataSplit(ds, cfg);
  const trainSeqs = split.train;
  // The items known at training time: all, or all but the cold ones (TrainConfig.coldItems).
  const warm = split.cold ? warmItems(ds.numItems, split.cold) : null;
  // Bad values fail here, not after CF pretraining and the MFL stage.
  windowStride(cfg);
  if (cfg.arch !== 'sasrec') checkMufasaConfig(cfg.model, contentModalities(ds, cfg.excludeModalities).length);
  // Everything allocated below is freed here, also when a stage throws (divergence, device loss).
  const cleanup: (() => void)[] = [];
  const pending: Tensor[] = [];
  cleanup.push(() => pending.splice(0).forEach((t) => t.dispose()));
  // hooks.onLosses: each pending step's loss terms, kept out of the step's tidy scope until read back.
  type Terms = Partial<Record<Exclude<keyof StepLosses, 'total'>, Tensor>>;
  const pendingTerms: { stage: 'mfl' | 'sal'; step: number; terms: Terms; total: Tensor }[] = [];
  cleanup.push(() => pendingTerms.splice(0).forEach((p) => Object.values(p.terms).forEach((t) => t.dispose())));
  let recording: Terms | null = null;
  const record = (name: keyof Terms, t: Tensor | null) => {
    if (recording && t) recording[name] = keep(t);
  };
  const stepCount = { mfl: 0, sal: 0 };
  let stage: 'mfl' | 'sal' = 'mfl';
  const aborted = () => hooks.signal?.aborted ?? false;
  try {
    return await stages();
  } finally {
    for (const f of cleanup.reverse()) f();
  }

  async function stages(): Promise<TrainResult> {
    // 2. CF pretraining on training interactions only.
    let cf: Tensor | null = null;
    if (rs?.hasCf) {
      const w = resume!.weights.get(CF_NAME);
      if (!w || w.shape.length !== 2 || w.shape[0] !== ds.numItems) throw new Error(`${resumeFile}: '${CF_NAME}' missing or not [${ds.numItems}, d]`);
      cf = keep(tensor(w.data as Float32Array, w.shape));
      cleanup.push(() => cf?.dispose());
    } else if (!rs && cfg.arch !== 'sasrec' && (cfg.model.itemTower ?? 'mfl') === 'mfl' && cfg.cfEpochs > 0 && cfg.model.mfl.weights.cf > 0) {
      const tc = performance.now();
      const bpr = await trainBPR({ numUsers: trainSeqs.length, numItems: ds.numItems, sequences: trainSeqs, candidates: warm ?? undefined }, { dim: cfg.model.dim, epochs: cfg.cfEpochs, seed: cfg.seed });
      bpr.userEmb.dispose();
      cf = keep(bpr.itemEmb);
      cleanup.push(() => cf?.dispose());
      emit({ stage: 'cf', epoch: cfg.cfEpochs, loss: bpr.losses[bpr.losses.length - 1], seconds: (performance.now() - tc) / 1000, wall: (performance.now() - t0) / 1000 });
    }

    const modalities = uploadModalities(ds, cfg.excludeModalities);
    const titleMod = ds.items.modalities.find((m) => m.name === 'title') ?? null;
    const titles = titleMod ? keep(tensor(titleMod.values, [ds.numItems, titleMod.dim])) : null;
    const titledItems = titleMod ? Array.from({ length: ds.numItems }, (_, i) => i).filter((i) => titleMod.present[i]) : [];
    const titledSet = new Set(titledItems);
    const model = buildModel(ds, cfg);
    const allItems = keep(indexTensor(Array.from({ length: ds.numItems }, (_, i) => i), [ds.numItems], ds.numItems));
    const catalog: TrainCatalog | undefined = warm ? { items: keep(indexTensor(Array.from(warm), [warm.length], ds.numItems)), rowOf: catalogRows(ds.numItems, warm) } : undefined;
    if (catalog) cleanup.push(() => catalog.items.dispose());
    const opt = new Adam(model.parameters(), { lr: cfg.lr, weightDecay: cfg.weightDecay, decoupled: true, clipNorm: cfg.clipNorm });
    cleanup.push(
      () => modalities.forEach((m) => (m.values.dispose(), m.present.dispose())),
      () => titles?.dispose(),
      () => model.dispose(),
      () => allItems.dispose(),
      () => opt.dispose(),
    );
    const order = mulberry32(cfg.seed + 2);
    let stepSeed = cfg.seed * 100003;
    if (rs) {
      loadWeights(model, resume!.weights, resumeFile);
      opt.importState({ step: Number(resume!.meta.optimizerStep), arrays: [...resume!.optimizer!.values()] });
      order.setState(rs.orderState);
      stepSeed = rs.stepSeed;
    }
    // Cold-item protocol: an unknown item has no ID information, so its ID row is 0 rather than random
    // (no gradient reaches it, so it stays 0 and a cold item's vector is its content alone); a resume
    // loads the zeros with the weights.
    if (warm && !rs && model.idTable) await zeroRows(model.idTable, split.cold!);

    /** Save the resumable state (hooks.lastDir); reads the weights and moments back. */
    const saveLast = async (st: Omit<ResumeState, 'kind' | 'orderState' | 'stepSeed' | 'log' | 'wallSeconds' | 'hasCf' | 'hasBest'>, bestW: Float32Array[] | null): Promise<void> => {
      if (!hooks.lastDir) return;
      const ps = model.parameters();
      const weights: NamedArray[] = [];
      for (const p of ps) weights.push({ name: p.name!, shape: [...p.shape], data: (await p.data()) as Float32Array });
      if (cf) weights.push({ name: CF_NAME, shape: [...cf.shape], data: (await cf.data()) as Float32Array });
      if (bestW) ps.forEach((p, i) => weights.push({ name: BEST_PREFIX + p.name!, shape: [...p.shape], data: bestW[i] }));
      const os = await opt.exportState();
      const meta: ResumeState & Record<string, unknown> = {
        kind: 'last',
        ...st,
        orderState: order.state(),
        stepSeed,
        log,
        wallSeconds: (performance.now() - t0) / 1000,
        hasCf: cf !== null,
        hasBest: bestW !== null,
        optimizerStep: os.step,
        config: cfg,
        data: hooks.dataSource ?? null,
        dataset: ds.name,
        numItems: ds.numItems,
      };
      saveCheckpoint(hooks.lastDir, weights, os.arrays, meta);
    };

    /** L_MFL on a batch of item ids (CPU array). */
    const mfl = model.fusion;
    const mflLoss = (ids: number[]): Tensor => {
      if (!mfl) throw new Error('internal: mflLoss on a model without MFL');
      const idx = indexTensor(ids, [ids.length], ds.numItems);
      const z = mfl.forward(modalities, idx);
      const titledRows = ids.map((id, r) => (titledSet.has(id) ? r : -1)).filter((r) => r >= 0);
      const ls = mfl.losses(z, {
        titles: titles && titledRows.length >= 2 ? gatherRows(titles, idx) : null,
        titled:
          titledRows.length >= 2 && titledRows.length < ids.length
            ? { rows: indexTensor(titledRows, [titledRows.length], ids.length), ids: tensor(Int32Array.from(titledRows, (r) => ids[r]), [titledRows.length], { dtype: 'i32' }) }
            : null,
        cf: cf ? gatherRows(cf, idx) : null,
        itemIds: tensor(Int32Array.from(ids), [ids.length], { dtype: 'i32' }),
        seed: stepSeed++,
      });
      record('title', ls.title);
      record('cf', ls.cf);
      record('cons', ls.cons);
      record('fusCl', ls.fusCl);
      return ls.total;
    };

    /** hooks.onLosses: read the recorded terms of the pending steps (before their totals are disposed). */
    const readTerms = async (): Promise<void> => {
      for (const p of pendingTerms.splice(0)) {
        const out: StepLosses = { total: (await p.total.data())[0] };
        for (const [k, t] of Object.entries(p.terms) as [keyof Terms, Tensor][]) {
          out[k] = (await t.data())[0];
          t.dispose();
        }
        hooks.onLosses!(p.stage, p.step, out);
      }
    };

    const readLosses = async (ls: Tensor[]): Promise<number> => {
      await readTerms();
      if (!ls.length) return 0;
      // NaN/Inf guard (issue 7): the window's losses are gathered on the GPU and read back in one round
      // trip (one l.data() each cost a submit-and-wait per step). Checkpoints are written only after
      // such a check, and saveCheckpoint refuses non-finite weights, so the last good one stays intact.
      const all = tidy(() => noGrad(() => concat(ls.map((l) => reshape(l, [1])), 0)));
      let vs: Float32Array | Int32Array;
      try {
        vs = await all.data();
      } finally {
        all.dispose();
        ls.forEach((l) => l.dispose());
      }
      let s = 0;
      for (let i = 0; i < vs.length; i++) {
        if (!Number.isFinite(vs[i])) {
          throw new NonFiniteError({
            quantity: `the ${stage === 'mfl' ? 'L_MFL' : 'user–item'} training loss`,
            value: vs[i],
            stage,
            step: stepCount[stage] - vs.length + i,
            hint: `training stopped (lr ${cfg.lr}); the last good checkpoint${hooks.lastDir ? ` (${hooks.lastDir})` : ''} is intact`,
          });
        }
        s += vs[i];
      }
      return s;
    };

    /** One optimizer step on `loss()`; returns the sum of the losses read back now (every lossReadEvery steps). */
    const optimizerStep = async (loss: () => Tensor): Promise<number> => {
      opt.zeroGrad();
      const terms: Terms | null = (recording = hooks.onLosses ? {} : null);
      let l: Tensor;
      try {
        l = tidy(loss);
      } catch (err) {
        Object.values(terms ?? {}).forEach((t) => t.dispose());
        throw err;
      } finally {
        recording = null;
      }
      if (terms) pendingTerms.push({ stage, step: stepCount[stage], terms, total: l });
      stepCount[stage]++;
      l.backward();
      opt.step();
      pending.push(l);
      return pending.length >= cfg.lossReadEvery ? readLosses(pending.splice(0)) : 0;
    };

    // 3. MFL stage: epochs over the item catalog.
    for (let ep = 1; !rs && mfl && ep <= cfg.mflEpochs && !aborted(); ep++) {
      const te = performance.now();
      const ids = warm ? Array.from(warm) : Array.from({ length: ds.numItems }, (_, i) => i);
      shuffleInPlace(ids, order);
      let sum = 0;
      let n = 0;
      for (let s = 0; s + 2 <= ids.length; s += cfg.itemBatchSize) {
        await hooks.onStep?.('mfl', n, Math.ceil((ids.length - 1) / cfg.itemBatchSize));
        if (aborted()) break;
        sum += await optimizerStep(() => mflLoss(ids.slice(s, s + cfg.itemBatchSize)));
        n++;
      }
      sum += await readLosses(pending.splice(0));
      emit({ stage: 'mfl', epoch: ep, loss: sum / Math.max(1, n), seconds: (performance.now() - te) / 1000, wall: (performance.now() - t0) / 1000 });
    }

    // 4. SAL stage with early stopping on validation NDCG@10.
    let best = -1;
    let bestEpoch = 0;
    let bestWeights: Float32Array[] | null = null;
    let sinceBest = 0;
    const params = model.parameters();
    let validMetrics: Record<string, number> = {};
    let firstEpoch = 1;
    let stopped = false;
    if (rs) {
      ({ best, bestEpoch, sinceBest, validMetrics } = rs);
      // A stopped run is tested again with the resumed config (TrainHooks.resumeFrom), by the two tests
      // the loop applies after every epoch; unchanged config: the saved decision. A running one stays
      // running (its sidecar's wallSeconds is taken after the budget test, so it may read a little over).
      stopped = rs.stopped && (sinceBest >= cfg.patience || (cfg.timeBudget > 0 && rs.wallSeconds >= cfg.timeBudget));
      firstEpoch = rs.epoch + 1;
      if (rs.hasBest) {
        bestWeights = params.map((p) => {
          const w = resume!.weights.get(BEST_PREFIX + p.name!);
          if (!w || w.data.length !== p.size) throw new Error(`${resumeFile}: '${BEST_PREFIX}${p.name}' missing or of the wrong size`);
          return w.data as Float32Array;
        });
      }
    } else if (!aborted()) {
      await saveLast({ stage: 'mfl', epoch: 0, stopped: false, best, bestEpoch, sinceBest, validMetrics }, null);
    }
    stage = 'sal';
    for (let ep = firstEpoch; !stopped && ep <= cfg.epochs && !aborted(); ep++) {
      const te = performance.now();
      let sum = 0;
      let n = 0;
      const batches = epochBatches(trainSeqs, ds.numItems, cfg, ep);
      for (const [bi, sb] of batches.entries()) {
        await hooks.onStep?.('sal', bi, batches.length);
        if (aborted()) break;
        // Dropout seeds come from the same counter as L_MFL's (resumes restore it); only stochastic models draw one.
        const lossOpts: LossOptions = { ...(model.stochastic ? { seed: stepSeed++ } : {}), catalog };
        sum += await optimizerStep(() => {
          if (cfg.schedule === 'frozen' && mfl) {
            const z = noGrad(() => model.itemVectors(modalities, allItems));
            const u = model.userItemLoss(z, sb, lossOpts);
            record('userItem', u);
            return u;
          }
          const z = model.itemVectors(modalities, allItems, lossOpts.seed === undefined ? null : { seed: lossOpts.seed });
          const ui = model.userItemLoss(z, sb, lossOpts);
          record('userItem', ui);
          if (cfg.mflAuxWeight <= 0 || !mfl) return ui;
          const batchItems = [...new Set(Array.from(sb.items).filter((x) => x < ds.numItems))];
          return add(ui, affine(mflLoss(batchItems), cfg.mflAuxWeight, 0));
        });
        n++;
      }
      sum += await readLosses(pending.splice(0));
      if (aborted()) break; // an unfinished epoch: no validation, no checkpoint
      const z = tidy(() => noGrad(() => model.itemVectors(modalities, allItems)));
      try {
        validMetrics = finalize(await evaluateCases(model, z, split.valid, cfg.maxLen));
        if (model instanceof Mufasa) await hooks.onEvaluated?.({ epoch: ep, final: false, model, z });
      } finally {
        z.dispose();
      }
      emit({ stage: 'sal', epoch: ep, loss: sum / Math.max(1, n), seconds: (performance.now() - te) / 1000, wall: (performance.now() - t0) / 1000, valid: validMetrics });
      const score = validMetrics['NDCG@10'];
      if (score > best) {
        best = score;
        bestEpoch = ep;
        sinceBest = 0;
        bestWeights = [];
        for (const p of params) bestWeights.push((await p.data()) as Float32Array);
        if (hooks.checkpointDir) {
          saveCheckpoint(
            hooks.checkpointDir,
            params.map((p, i) => ({ name: p.name!, shape: [...p.shape], data: bestWeights![i] })),
            null,
            { config: cfg, epoch: ep, metric: 'NDCG@10', valid: validMetrics, data: hooks.dataSource ?? null, dataset: ds.name, numItems: ds.numItems },
          );
        }
      } else if (++sinceBest >= cfg.patience) {
        stopped = true;
      }
      if (cfg.timeBudget > 0 && (performance.now() - t0) / 1000 >= cfg.timeBudget) stopped = true;
      await saveLast({ stage: 'sal', epoch: ep, stopped, best, bestEpoch, sinceBest, validMetrics }, bestWeights);
    }

    // 5. Restore the best weights, then test.
    if (bestWeights) {
      params.forEach((p, i) => {
        const b = p.binding('restore');
        e.stream.write(b.buffer, b.offset!, bestWeights![i]);
      });
    }
    const z = tidy(() => noGrad(() => model.itemVectors(modalities, allItems)));
    let results: SplitResults;
    let testWithSeen: Record<string, number>;
    try {
      results = splitResults(await rankCases(model, z, split.valid, cfg.maxLen), await rankCases(model, z, split.test, cfg.maxLen), split, ds.numItems, cfg);
      testWithSeen = finalize(await evaluateCases(model, z, split.test, cfg.maxLen, 256, false));
      if (model instanceof Mufasa) await hooks.onEvaluated?.({ epoch: bestEpoch, final: true, model, z });
    } finally {
      z.dispose();
    }
    return { config: cfg, bestEpoch, wallSeconds: (performance.now() - t0) / 1000, ...results, testWithSeen, log, numParameters: params.reduce((a, p) => a + p.size, 0) };
  }
}
