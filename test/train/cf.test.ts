// BPR-MF pretraining (src/train/cf.ts): one step's loss and gradients against the float64 reference
// and finite differences; training on a planted cluster data set ranks same-cluster held-out items
// first; the same seed gives the same loss curve.
import { it, expect } from 'vitest';
import { tensor, tidy, ShapeError, Tensor } from '../../src/tensor/index.ts';
import { bprLoss, trainBPR } from '../../src/train/cf.ts';
import { Nd, randn, rng } from '../reference/nd.ts';
import { bprLossRef } from '../reference/bpr.ts';
import { expectClose, finiteDiff, gpuGrads } from '../helpers.ts';

// Tiny problem: 5 users, 7 items, d = 3, 9 fixed triples with repeated users and items (so the
// scatter-add backward must sum several rows into one) and item 2 both a positive and a negative.
const U = 5, I = 7, D = 3;
const USERS = [0, 1, 2, 3, 4, 0, 2, 2, 4];
const POS = [1, 2, 3, 0, 6, 2, 5, 3, 2];
const NEG = [4, 0, 2, 5, 1, 4, 0, 6, 3];
const L2 = 0.05; // large, so a wrong regulariser gradient shows

function lossOf(xs: Tensor[]): Tensor {
  return tidy(() => {
    const iu = tensor(Int32Array.from(USERS), [USERS.length], { dtype: 'i32' });
    const ip = tensor(Int32Array.from(POS), [POS.length], { dtype: 'i32' });
    const ineg = tensor(Int32Array.from(NEG), [NEG.length], { dtype: 'i32' });
    return bprLoss(xs[0], xs[1], iu, ip, ineg, L2);
  });
}

it('bprLoss: loss and gradients of both tables match the float64 reference and finite differences', async () => {
  const ue = randn([U, D], 11, 0.7);
  const ie = randn([I, D], 12, 0.7);
  const ref = bprLossRef(ue.data, ie.data, D, USERS, POS, NEG, L2);
  const w = Nd.from([1], []);
  const { out, grads } = await gpuGrads(lossOf, [ue, ie], w);
  // f32 sums of ≤ 9 terms of O(1): rounding ~1e-7 relative; 1e-5 still catches any wrong term.
  const tol = { rtol: 1e-5, atol: 1e-6 };
  expectClose(out.data, [ref.loss], tol, 'loss');
  expectClose(grads[0].data, ref.gUser, tol, 'd userEmb');
  expectClose(grads[1].data, ref.gItem, tol, 'd itemEmb');
  // Central differences in f32 with eps 1e-2: the loss (≈1) is rounded at ~6e-8, i.e. ~3e-6 after
  // dividing by 2·eps, plus O(eps²) curvature error; 1e-3 absolute is far below a wrong gradient's
  // error (the gradients here are ~1e-2..1e-1).
  for (const which of [0, 1]) {
    const fd = await finiteDiff(lossOf, [ue, ie], which, 1e-2, w);
    expectClose(grads[which].data, fd, { rtol: 1e-2, atol: 1e-3 }, `finite differences, table ${which}`);
  }
});

it('bprLoss: mismatched shapes are a ShapeError naming the op and the shapes', () => {
  tidy(() => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(8), [2, 4]);
    const i = tensor(Int32Array.from([0, 1]), [2], { dtype: 'i32' });
    const j = tensor(Int32Array.from([0]), [1], { dtype: 'i32' });
    expect(() => bprLoss(a, b, i, i, i, 0)).toThrow(ShapeError);
    expect(() => bprLoss(a, b, i, i, i, 0)).toThrow(/bprLoss.*\[2, 3\].*\[2, 4\]/);
    expect(() => bprLoss(a, a, i, i, j, 0)).toThrow(/bprLoss.*\[2\].*\[1\]/);
  });
});

// Planted data: 60 users, 40 items in 4 clusters of 10; user u belongs to cluster u % 4 and has 6
// training items of its cluster; 2 more items of its cluster are held out (never trained on).
const NU = 60, NI = 40, K = 4, PER = NI / K;
function planted(seed: number): { sequences: Int32Array[]; heldOut: number[][] } {
  const r = rng(seed);
  const sequences: Int32Array[] = [];
  const heldOut: number[][] = [];
  for (let u = 0; u < NU; u++) {
    const c = u % K;
    const items = Array.from({ length: PER }, (_, k) => c * PER + k);
    for (let k = items.length - 1; k > 0; k--) {
      const j = Math.floor(r() * (k + 1));
      [items[k], items[j]] = [items[j], items[k]];
    }
    sequences.push(Int32Array.from(items.slice(0, 6)));
    heldOut.push(items.slice(6, 8));
  }
  return { sequences, heldOut };
}

it('trainBPR on planted clusters: held-out same-cluster items outrank other clusters, loss decreases', async () => {
  const { sequences, heldOut } = planted(7);
  const res = await trainBPR({ numUsers: NU, numItems: NI, sequences }, { dim: 8, epochs: 30, batchSize: 64, seed: 3 });
  const ue = await res.userEmb.data();
  const ie = await res.itemEmb.data();
  res.userEmb.dispose();
  res.itemEmb.dispose();
  expect(res.losses.length).toBe(30);
  const score = (u: number, i: number) => {
    let s = 0;
    for (let j = 0; j < 8; j++) s += ue[u * 8 + j] * ie[i * 8 + j];
    return s;
  };
  // AUC over (held-out same-cluster item, other-cluster item) pairs; chance is 0.5.
  let wins = 0, pairs = 0;
  for (let u = 0; u < NU; u++) {
    const c = u % K;
    for (const h of heldOut[u]) {
      for (let o = 0; o < NI; o++) {
        if (Math.floor(o / PER) === c) continue;
        pairs++;
        if (score(u, h) > score(u, o)) wins++;
      }
    }
  }
  const auc = wins / pairs;
  // Held-out items are only ever seen as other users' positives; a model that learned the clusters
  // ranks them first almost always, an untrained or broken one at ~0.5.
  expect(auc, `AUC ${auc}`).toBeGreaterThan(0.9);
  expect(res.losses[29], `losses ${res.losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(0.5 * res.losses[0]);
});

it('trainBPR: the same seed gives the same loss curve and tables; another seed does not', async () => {
  const { sequences } = planted(9);
  const run = async (seed: number) => {
    const epochs: number[] = [];
    const r = await trainBPR({ numUsers: NU, numItems: NI, sequences }, { dim: 8, epochs: 3, batchSize: 50, seed, onEpoch: (e) => epochs.push(e) });
    const out = { losses: r.losses, items: Array.from(await r.itemEmb.data()), epochs };
    r.userEmb.dispose();
    r.itemEmb.dispose();
    return out;
  };
  const a = await run(5);
  const b = await run(5);
  const c = await run(6);
  expect(a.epochs).toEqual([0, 1, 2]);
  expect(b.losses).toEqual(a.losses);
  expect(b.items).toEqual(a.items);
  expect(c.losses).not.toEqual(a.losses);
});

it('trainBPR: bad input names the user and interaction', async () => {
  await expect(trainBPR({ numUsers: 2, numItems: 3, sequences: [Int32Array.from([0]), Int32Array.from([1, 3])] }, { seed: 1 })).rejects.toThrow(/user 1, interaction 1: item 3/);
  await expect(trainBPR({ numUsers: 1, numItems: 2, sequences: [Int32Array.from([0, 1])] }, { seed: 1 })).rejects.toThrow(/user 0 interacted with every item/);
  await expect(trainBPR({ numUsers: 2, numItems: 2, sequences: [Int32Array.from([0])] }, { seed: 1 })).rejects.toThrow(/1 sequences for numUsers = 2/);
});
