// Evaluation splits (DESIGN §6; paper §4). Leave-one-out by time: the last interaction is the test
// target, the one before it the validation target, the rest is training; the full catalogue is
// ranked later, so a case carries its history (the model input, the most recent maxLen items) and
// `seen` (every item before the target: what the evaluator masks out of the ranking).

import type { Dataset } from './dataset.ts';
import { mulberry32, shuffleInPlace } from './rng.ts';

export interface EvalCase {
  /** Dense user id. */
  user: number;
  /** The most recent ≤ maxLen items before the target, in time order. */
  history: Int32Array;
  /** The item(s) to retrieve: one for leave-one-out, the last 3 for zero-shot. */
  targets: Int32Array;
  /** Sorted distinct items the user interacted with before the (first) target, whole history. */
  seen: Int32Array;
  /** Time from the interaction before the (first) target to it, in the data's timestamp units
   *  (seconds for ML-100K); 0 when both share a timestamp, so their order is the item-id tie rule,
   *  not time. Absent on cases built without timestamps. See metricsByGap (src/train/breakdown.ts). */
  gap?: number;
}

/**
 * Order of interactions that share a timestamp. 'itemId': ascending original item id, as loaded (the
 * issue's protocol: RecBole's stable sort). 'shuffled': a seeded shuffle within each user's run of
 * equal timestamps, the same for every run and model (per-user seed, independent of the training seed).
 *
 * Why the choice exists: on ML-100K 44 % of test targets share their second with the item before them,
 * so under 'itemId' the target is the higher id of the pair, and the training sequences teach that
 * order: "the 10 unseen items with the next ids after the last one" finds 13 % of those targets (4 %
 * of the others). 'shuffled' measures next-item prediction without that leak.
 */
export type TieOrder = 'itemId' | 'shuffled';

/** The data set with its tied interactions in `order` (the same object for 'itemId'). */
export function orderTies(ds: Dataset, order: TieOrder): Dataset {
  if (order === 'itemId') return ds;
  if (order !== 'shuffled') throw new Error(`config: unknown tieOrder '${order}' (itemId, shuffled)`);
  const sequences = ds.sequences.map((seq, u) => {
    const t = ds.timestamps[u];
    const out = seq.slice();
    const rng = mulberry32(Math.imul(u + 1, 0x9e3779b1));
    for (let a = 0; a < out.length; ) {
      let b = a + 1;
      while (b < out.length && t[b] === t[a]) b++;
      if (b - a > 1) shuffleInPlace(out.subarray(a, b), rng);
      a = b;
    }
    return out;
  });
  return { ...ds, sequences };
}

/**
 * The data set with each user's sequence cut to its last `k` interactions (timestamps alike; 0: all,
 * the same object). Apply after orderTies, so a cut through a run of equal timestamps keeps the
 * items that order puts last.
 *
 * Why: the paper's data set (MicroLens-100k) has 7.19 interactions per user, ML-100K 106. Cut to its
 * users' recent interactions, ML-100K becomes a sparse set where most items occur a handful of times
 * in training, which is where an item tower built from content should matter (issue 5).
 */
export function recentInteractions(ds: Dataset, k: number): Dataset {
  if (k === 0) return ds;
  if (!(Number.isInteger(k) && k >= 3)) throw new Error(`recentInteractions: the interactions kept per user must be an integer ≥ 3 (a training item, a validation and a test target), or 0 for all; got ${k}`);
  const cut = <T extends Int32Array | Float64Array>(a: T): T => (a.length > k ? (a.slice(a.length - k) as T) : a);
  return { ...ds, sequences: ds.sequences.map(cut), timestamps: ds.timestamps.map(cut) };
}

export interface LeaveOneOut {
  /** Per user (index = dense user id): the training prefix, all but the last two interactions; a user
   *  with fewer than 3 interactions keeps the whole sequence here and has no targets (RecBole's rule:
   *  such users are in training only). Not truncated: the batcher keeps the last maxLen. */
  train: Int32Array[];
  valid: EvalCase[];
  test: EvalCase[];
  maxLen: number;
}

function tail(seq: Int32Array, end: number, maxLen: number): Int32Array {
  return seq.slice(Math.max(0, end - maxLen), end);
}

function seenBefore(seq: Int32Array, end: number): Int32Array {
  return Int32Array.from(new Set(seq.subarray(0, end))).sort();
}

function evalCase(user: number, seq: Int32Array, times: Float64Array, at: number, count: number, maxLen: number, cold?: ReadonlySet<number>): EvalCase {
  // The items before the target that the model may know (all but the cold ones), the last maxLen of them.
  const known = cold ? withoutItems(seq.subarray(0, at), cold) : seq.subarray(0, at);
  const history = tail(known, known.length, maxLen);
  return { user, history, targets: seq.slice(at, at + count), seen: seenBefore(seq, at), gap: times[at] - times[at - 1] };
}

function withoutItems(seq: Int32Array, drop: ReadonlySet<number> | undefined): Int32Array {
  return drop ? seq.filter((it) => !drop.has(it)) : seq.slice();
}

/**
 * Leave-one-out; with `cold` (the cold-item protocol, TrainConfig.coldItems), those items are unknown
 * at training time: they are removed from the training sequences and from every case's history, a
 * validation case whose target is cold is dropped (early stopping sees known items only), and test
 * targets keep them, so the test measures how the model ranks items it never trained on. `seen`
 * still lists every earlier item (an item the user already had is not recommended, cold or not).
 */
export function leaveOneOut(ds: Dataset, opts: { maxLen?: number; cold?: ReadonlySet<number> } = {}): LeaveOneOut {
  const maxLen = opts.maxLen ?? 200;
  if (!(maxLen >= 1)) throw new Error(`leaveOneOut: maxLen must be ≥ 1 (got ${maxLen})`);
  const cold = opts.cold && opts.cold.size ? opts.cold : undefined;
  const train: Int32Array[] = [];
  const valid: EvalCase[] = [];
  const test: EvalCase[] = [];
  ds.sequences.forEach((seq, u) => {
    const n = seq.length;
    if (n < 3) {
      train.push(withoutItems(seq, cold));
      return;
    }
    train.push(withoutItems(seq.subarray(0, n - 2), cold));
    if (!cold?.has(seq[n - 2])) valid.push(evalCase(u, seq, ds.timestamps[u], n - 2, 1, maxLen, cold));
    test.push(evalCase(u, seq, ds.timestamps[u], n - 1, 1, maxLen, cold));
  });
  return { train, valid, test, maxLen };
}

/** Seed of the cold-item draw: fixed, so every model and training seed of a comparison shares one split. */
export const COLD_ITEM_SEED = 0xc01d;

/**
 * The cold items of the cold-item protocol: round(fraction · K) of the K items with at least one
 * interaction, drawn by a seeded shuffle; ascending ids. Each item is equally likely, so the cold
 * items are mostly rare ones, as new items are.
 */
export function chooseColdItems(ds: Dataset, fraction: number, seed = COLD_ITEM_SEED): Int32Array {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`coldItems: the fraction of items held out of training must be in (0, 1), got ${fraction}`);
  const used = new Uint8Array(ds.numItems);
  for (const s of ds.sequences) for (const it of s) used[it] = 1;
  const items: number[] = [];
  used.forEach((f, i) => f && items.push(i));
  shuffleInPlace(items, mulberry32(seed));
  const k = Math.round(fraction * items.length);
  if (k < 1) throw new Error(`coldItems: ${fraction} of ${items.length} items rounds to none`);
  return Int32Array.from(items.slice(0, k)).sort();
}

export interface ZeroShotSplit {
  /** Dense ids of the users seen in training, ascending. */
  trainUsers: Int32Array;
  /** Their sequences minus the last interaction (aligned with trainUsers). */
  train: Int32Array[];
  /** Last interaction of each training user with ≥ 2 interactions: for early stopping. */
  valid: EvalCase[];
  /** Held-out users (never in training): history = all but the last 3, targets = the last 3. */
  heldOut: EvalCase[];
  maxLen: number;
}

/**
 * The paper's zero-shot protocol: a fraction of users (chosen by a seeded shuffle among users with at
 * least 4 interactions, so each has a non-empty history) is held out of training entirely; their last
 * 3 interactions are the targets (Recall@K over the 3). Default fraction 0.1, seed 0, maxLen 200.
 */
export function zeroShotSplit(ds: Dataset, opts: { fraction?: number; seed?: number; maxLen?: number } = {}): ZeroShotSplit {
  const fraction = opts.fraction ?? 0.1;
  const maxLen = opts.maxLen ?? 200;
  if (!(fraction > 0 && fraction < 1)) throw new Error(`zeroShotSplit: fraction must be in (0, 1) (got ${fraction})`);
  const eligible: number[] = [];
  ds.sequences.forEach((s, u) => s.length >= 4 && eligible.push(u));
  shuffleInPlace(eligible, mulberry32(opts.seed ?? 0));
  const k = Math.min(eligible.length, Math.max(1, Math.round(fraction * ds.numUsers)));
  const held = new Set(eligible.slice(0, k));
  const trainUsers: number[] = [];
  const train: Int32Array[] = [];
  const valid: EvalCase[] = [];
  const heldOut: EvalCase[] = [];
  ds.sequences.forEach((seq, u) => {
    const n = seq.length;
    if (held.has(u)) {
      heldOut.push(evalCase(u, seq, ds.timestamps[u], n - 3, 3, maxLen));
      return;
    }
    trainUsers.push(u);
    if (n >= 2) {
      train.push(seq.slice(0, n - 1));
      valid.push(evalCase(u, seq, ds.timestamps[u], n - 1, 1, maxLen));
    } else {
      train.push(seq.slice());
    }
  });
  return { trainUsers: Int32Array.from(trainUsers), train, valid, heldOut, maxLen };
}
