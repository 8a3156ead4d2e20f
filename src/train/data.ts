// Stage 1 of the orchestrator: from a data set to what training and evaluation consume, as the
// config says: the users' sequences (tie order, recent cut), the split (leave-one-out, zero-shot,
// cold items) and each epoch's SAL batches.

import type { Dataset } from '../data/dataset.ts';
import { leaveOneOut, zeroShotSplit, orderTies, recentInteractions, chooseColdItems } from '../data/split.ts';
import type { EvalCase } from '../data/split.ts';
import { makeBatches } from '../data/batches.ts';
import type { SequenceBatch } from '../model/sequence.ts';
import { windowStride } from './config.ts';
import type { TrainConfig } from './config.ts';

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

/** The items not in `cold`, ascending. */
export function warmItems(numItems: number, cold: Int32Array): Int32Array {
  const isCold = new Uint8Array(numItems);
  for (const c of cold) isCold[c] = 1;
  const out: number[] = [];
  for (let i = 0; i < numItems; i++) if (!isCold[i]) out.push(i);
  return Int32Array.from(out);
}

/** Each item's row in the catalogue `items` (ascending ids), −1 outside it. */
export function catalogRows(numItems: number, items: Int32Array): Int32Array {
  const rows = new Int32Array(numItems).fill(-1);
  items.forEach((it, r) => (rows[it] = r));
  return rows;
}

/** The SAL stage's batches for epoch `ep` (a new shuffle per epoch; windows per cfg.windowStride). */
export function epochBatches(trainSeqs: Int32Array[], numItems: number, cfg: TrainConfig, ep: number): SequenceBatch[] {
  const opts = { batchSize: cfg.batchSize, numItems, maxLen: cfg.maxLen, windowStride: windowStride(cfg), seed: cfg.seed + ep, padTo: 'batch' as const };
  return Array.from(makeBatches(trainSeqs, opts), (b) => ({ items: b.items, lengths: b.lengths, batch: b.B, maxLen: b.L, firstTarget: b.firstTarget }));
}
