// CF pretraining (issue #4 §2): BPR-MF on the training interactions only, giving the collaborative
// item embeddings c_i that MFL's L_cf aligns to (paper §3, eq. 5's L_cf term).
//
// Why BPR-MF and not LightGCN: c_i is a target for an alignment loss, not the final recommender, so
// the simplest CF model that gives good item geometry is enough; BPR-MF is one embedding table per
// side and one pairwise loss (two row gathers per step, no graph propagation, no sparse adjacency
// in WGSL), and issue #5 has a RecBole BPR anchor to compare against (HR@10 0.0806 on ML-100K,
// leave-one-out), which LightGCN would not have here. LightGCN can replace this later behind the
// same return type.
//
// Choices (Rendle et al. 2009, "BPR: Bayesian Personalized Ranking from Implicit Feedback"):
// - Loss per batch of B (user u, positive i⁺, sampled negative i⁻) triples:
//     L = mean_b softplus(−x_b) + l2 · Σ_b (‖u_b‖² + ‖i⁺_b‖² + ‖i⁻_b‖²) / B,   x_b = u_b·(i⁺_b − i⁻_b)
//   softplus(−x) = −log σ(x), written relu(−x) + log(1 + exp(−|x|)) so that neither exp overflows
//   nor σ underflows to log(0) for badly ranked pairs (|x| > 88 in f32). The regulariser is on the
//   gathered rows (rows in the batch, counted once per occurrence), as in BPR's SGD update, not on
//   the whole tables: rows that are not in the batch are not decayed. At exactly x = 0 the composed
//   gradient is 0 instead of −½ (relu'(0) = sign(0) = 0); x is a dot product of random floats, so
//   this has probability ~0 and no effect on training.
// - Negatives: uniform over items (or `candidates`) the user has not interacted with in training, drawn on the CPU
//   with a seeded RNG (resample on collision); the CPU only feeds indices.
// - Init N(0, 0.1²) for both tables (not Xavier): an embedding table's "fan-in" is its row count, so
//   Xavier's std would shrink with the catalogue size (≈0.03 for ML-100K items) and make the initial
//   scores depend on the data set's size; a fixed 0.1 gives initial scores u·i of std 0.1²·√d ≈ 0.08
//   at d = 64 for any data set, small enough that σ starts near ½ (no saturation).
// - Adam (src/nn/adam.ts), no weight decay in the optimizer (the l2 term above is the regulariser).
//   lr default 1e-2: with batch 4096, ML-100K has 24 steps per epoch and Adam moves each coordinate
//   by at most ≈ lr per step. Measured on ML-100K leave-one-out (seed 1, d 64, llvmpipe-GL; ranking
//   on the CPU over the whole catalogue minus the user's earlier items): lr 1e-2 reaches training
//   loss 0.106 at epoch 10 (valid HR@10 0.1166, NDCG@10 0.0585; test HR@10 0.0785, NDCG@10 0.0336)
//   and then overfits (epoch 50: loss 0.033, valid HR@10 0.0997 / NDCG@10 0.0475, test 0.0710 /
//   0.0349); lr 1e-3 (RecBole's default) is still descending at epoch 50 (loss 0.153; valid 0.1071 /
//   0.0543, test 0.0689 / 0.0292). So 1e-2 gets there in a fifth of the epochs; with it, fewer
//   epochs (≈10) or early stopping on validation is better than the default 50 on ML-100K.
// - Gathers with gatherRows (deterministic sorted scatter-add backward), positives and negatives
//   through one gather of the item table so backward sorts once for both; every step is encoded
//   without waiting, the loss tensors of an epoch are read back once at its end.

import { engine as defaultEngine } from '../gpu/engine.ts';
// The tensor index (not the op files one by one): it registers the ops the tape's backward needs.
import { Tensor, TensorError, ShapeError, tidy, keep, tensor, concat, slice, reshape, gatherRows, add, sub, mul, relu, neg, abs, exp, log, square, addScalar, mulScalar, sum, mean } from '../tensor/index.ts';
import { engineOf, assertDType, fmt } from '../tensor/ops/util.ts';
import { Adam } from '../nn/adam.ts';
import { seededRandom, normalArray } from '../nn/init.ts';

export interface BPRData {
  numUsers: number;
  numItems: number;
  /** Per user, the training interactions only (item ids in [0, numItems)); repeats are allowed. */
  sequences: Int32Array[];
  /** The items negatives are drawn from (default every item); the cold-item protocol leaves the cold
   *  items out, so their rows keep their initial values. */
  candidates?: Int32Array;
}

export interface BPROptions {
  /** Embedding size (default 64). */
  dim?: number;
  /** Passes over every (user, positive) pair (default 50). */
  epochs?: number;
  /** Triples per step (default 4096); the last step of an epoch takes the remainder. */
  batchSize?: number;
  /** Adam learning rate (default 1e-2; see the top of this file). */
  lr?: number;
  /** Weight of the per-row L2 term (default 1e-5). */
  l2?: number;
  seed: number;
  /** Called after each epoch with its mean loss (pairs-weighted), read back once per epoch. */
  onEpoch?: (epoch: number, loss: number) => void;
}

export interface BPRResult {
  /** [numUsers, dim] */
  userEmb: Tensor;
  /** [numItems, dim]: the c_i of MFL's L_cf. */
  itemEmb: Tensor;
  /** Mean loss per epoch. */
  losses: number[];
}

/**
 * The BPR loss of one batch (see the top of this file for the exact formula): `userEmb` [U, d],
 * `itemEmb` [I, d], `users`, `pos`, `neg` i32 [B]. A scalar; differentiable in both tables.
 */
export function bprLoss(userEmb: Tensor, itemEmb: Tensor, users: Tensor, pos: Tensor, neg_: Tensor, l2: number): Tensor {
  const op = 'bprLoss';
  engineOf(op, userEmb, itemEmb, users, pos, neg_);
  for (const t of [users, pos, neg_]) assertDType(op, t, 'i32');
  if (userEmb.rank !== 2 || itemEmb.rank !== 2 || userEmb.shape[1] !== itemEmb.shape[1]) {
    throw new ShapeError(op, `tables must be [U, d] and [I, d] with the same d, got userEmb ${fmt(userEmb.shape)} and itemEmb ${fmt(itemEmb.shape)}`);
  }
  const b = users.size;
  if (users.rank !== 1 || pos.rank !== 1 || neg_.rank !== 1 || pos.size !== b || neg_.size !== b || b === 0) {
    throw new ShapeError(op, `users, pos, neg must be non-empty [B] vectors of one length, got ${fmt(users.shape)}, ${fmt(pos.shape)}, ${fmt(neg_.shape)}`);
  }
  if (!(l2 >= 0)) throw new TensorError(`${op}: l2 must be ≥ 0, got ${l2}`);
  return tidy(() => {
    const u = gatherRows(userEmb, users); // [B, d]
    const items = gatherRows(itemEmb, concat([pos, neg_], 0)); // [2B, d]: one sort in backward
    // Both scores in one broadcast product, split after the reduction: slicing the [2B, d] rows
    // instead costs two zero-filled [2B, d] gradients and a [B, d] sub in backward (measured on
    // llvmpipe-GL, B = 4096, d = 64, 2 shared cores: 41–81 ms fwd+bwd for that part vs 28–56 ms).
    const s2 = sum(mul(reshape(items, [2, b, u.shape[1]]), u), -1); // [2, B]
    const x = sub(reshape(slice(s2, 0, 0, 1), [b]), reshape(slice(s2, 0, 1, 2), [b])); // [B]
    const nll = mean(add(relu(neg(x)), log(addScalar(exp(neg(abs(x))), 1))));
    if (l2 === 0) return nll;
    return add(nll, mulScalar(add(sum(square(u)), sum(square(items))), l2 / b));
  });
}

/** Sorted unique item ids per user, for the "not interacted" test of negative sampling. */
function seenSets(data: BPRData): Int32Array[] {
  return data.sequences.map((s) => Int32Array.from(new Set(s)).sort());
}

function contains(sorted: Int32Array, v: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === v;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new TensorError(`trainBPR: ${name} must be a positive integer, got ${v}`);
  return v;
}

function checkData(data: BPRData): void {
  positiveInt('numUsers', data.numUsers);
  positiveInt('numItems', data.numItems);
  if (data.sequences.length !== data.numUsers) {
    throw new TensorError(`trainBPR: ${data.sequences.length} sequences for numUsers = ${data.numUsers}`);
  }
  data.sequences.forEach((s, u) => {
    for (let k = 0; k < s.length; k++) {
      if (!(s[k] >= 0 && s[k] < data.numItems)) throw new TensorError(`trainBPR: user ${u}, interaction ${k}: item ${s[k]} is out of range [0, ${data.numItems})`);
    }
  });
}

/**
 * Train BPR-MF with Adam on every (user, positive) training pair, one sampled negative per pair per
 * epoch. Returns the two tables (no longer requiring grad; the caller owns and disposes them) and
 * the per-epoch mean losses. Same seed, same adapter → identical losses (all kernels deterministic).
 */
export async function trainBPR(data: BPRData, opts: BPROptions): Promise<BPRResult> {
  checkData(data);
  const dim = positiveInt('dim', opts.dim ?? 64);
  const epochs = positiveInt('epochs', opts.epochs ?? 50);
  const batchSize = positiveInt('batchSize', opts.batchSize ?? 4096);
  const lr = opts.lr ?? 1e-2;
  const l2 = opts.l2 ?? 1e-5;
  if (!(lr > 0)) throw new TensorError(`trainBPR: lr must be > 0, got ${lr}`);
  if (!(l2 >= 0)) throw new TensorError(`trainBPR: l2 must be ≥ 0, got ${l2}`);
  if (!Number.isInteger(opts.seed)) throw new TensorError(`trainBPR: seed must be an integer, got ${opts.seed}`);
  const { numUsers, numItems } = data;

  // Flat (user, positive) pairs, in user order; shuffled per epoch.
  const total = data.sequences.reduce((s, q) => s + q.length, 0);
  if (total === 0) throw new TensorError('trainBPR: no training interactions');
  const pairUser = new Int32Array(total);
  const pairItem = new Int32Array(total);
  let at = 0;
  data.sequences.forEach((s, u) => {
    pairUser.fill(u, at, at + s.length);
    pairItem.set(s, at);
    at += s.length;
  });
  const seen = seenSets(data);
  const cand = data.candidates;
  const isCand = new Uint8Array(cand ? numItems : 0);
  if (cand) {
    for (const c of cand) {
      if (!(c >= 0 && c < numItems)) throw new TensorError(`trainBPR: candidate item ${c} is out of range [0, ${numItems})`);
      isCand[c] = 1;
    }
  }
  const candCount = isCand.reduce((a, b) => a + b, 0);
  seen.forEach((s, u) => {
    const free = cand ? candCount - s.reduce((a, it) => a + isCand[it], 0) : numItems - s.length;
    if (free <= 0) throw new TensorError(`trainBPR: user ${u} interacted with every ${cand ? 'candidate ' : ''}item; no negative can be sampled`);
  });

  const e = defaultEngine();
  const initRand = seededRandom(opts.seed);
  const sampleRand = seededRandom((opts.seed ^ 0x5bd1e995) >>> 0);
  const userEmb = keep(tensor(normalArray(numUsers * dim, 0.1, initRand), [numUsers, dim], { requiresGrad: true, name: 'bpr.userEmb', engine: e }));
  const itemEmb = keep(tensor(normalArray(numItems * dim, 0.1, initRand), [numItems, dim], { requiresGrad: true, name: 'bpr.itemEmb', engine: e }));
  const opt = new Adam([userEmb, itemEmb], { lr });

  const order = new Int32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  const losses: number[] = [];
  const bu = new Int32Array(batchSize);
  const bi = new Int32Array(2 * batchSize);
  const stepLosses: { loss: Tensor; b: number }[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = total - 1; i > 0; i--) {
        const j = Math.floor(sampleRand() * (i + 1));
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      for (let start = 0; start < total; start += batchSize) {
        const b = Math.min(batchSize, total - start);
        for (let k = 0; k < b; k++) {
          const p = order[start + k];
          const u = pairUser[p];
          bu[k] = u;
          bi[k] = pairItem[p];
          let n: number;
          do n = cand ? cand[Math.floor(sampleRand() * cand.length)] : Math.floor(sampleRand() * numItems);
          while (contains(seen[u], n));
          bi[b + k] = n;
        }
        const users = tensor(bu.subarray(0, b), [b], { dtype: 'i32', engine: e });
        const items = tensor(bi.subarray(0, 2 * b), [2 * b], { dtype: 'i32', engine: e });
        opt.zeroGrad();
        const loss = tidy(() => bprLoss(userEmb, itemEmb, users, slice(items, 0, 0, b), slice(items, 0, b, 2 * b), l2));
        loss.backward();
        opt.step();
        users.dispose();
        items.dispose();
        stepLosses.push({ loss, b });
      }
      // The one wait of the epoch.
      let s = 0;
      for (const { loss, b } of stepLosses) {
        s += (await loss.data())[0] * b;
      }
      for (const { loss } of stepLosses.splice(0)) loss.dispose();
      const epochLoss = s / total;
      losses.push(epochLoss);
      opts.onEpoch?.(epoch, epochLoss);
    }
  } catch (err) {
    for (const { loss } of stepLosses) loss.dispose();
    opt.dispose();
    userEmb.dispose();
    itemEmb.dispose();
    throw err;
  }
  opt.dispose();
  userEmb.requiresGrad = false;
  itemEmb.requiresGrad = false;
  return { userEmb, itemEmb, losses };
}
