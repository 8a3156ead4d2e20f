// Stage 5 of the orchestrator: full-catalog ranking of evaluation cases on the GPU (users' vectors
// chunk by chunk against every item, seen items excluded or not), the metrics, and the breakdowns a
// run's results carry (DESIGN §6).

import { reshape } from '../tensor/ops/layout.ts';
import { tidy } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { EvalCase } from '../data/split.ts';
import type { SequenceModel, SequenceBatch } from '../model/sequence.ts';
import { rankingVectors } from '../model/sequence.ts';
import { rankTargets, sumsFromRanks, finalize, addSums, emptySums } from './metrics.ts';
import type { MetricSums } from './metrics.ts';
import { metricsByPopularity, itemCounts, metricsByGap, metricsByColdness, DEFAULT_GAP_EDGES } from './breakdown.ts';
import type { CaseRanks } from '../compare/paired.ts';
import type { TrainConfig } from './config.ts';
import type { dataSplit } from './data.ts';
import type { TrainResult } from './trainer.ts';

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
