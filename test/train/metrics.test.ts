// GPU evaluation (src/train/metrics.ts, shaders/rank.wgsl) against the float64 reference: target ranks
// with exclusions, ties and several targets per user, the chunk loop, metric sums, top-k, the tie rule
// on constant scores, and that only ranks / ids are read back.
//
// Vectors are multiples of 1/8 in [−1, 1] (d ≤ 33): every dot product is then exact in f32 whatever the
// summation order of the matmul tiles, so GPU and float64 scores are equal and ranks must match exactly
// (and exact ties between items are common, which exercises the tie rule). One test uses Gaussian
// vectors and allows the rank range that float32 rounding of the scores can explain.
import { describe, it, expect, vi } from 'vitest';
import { tensor } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { engine } from '../../src/gpu/engine.ts';
import { rankTargets, evaluate, finalize, addSums, topKItems, sumsFromRanks } from '../../src/train/metrics.ts';
import type { Exclusions } from '../../src/train/metrics.ts';
import { rng, randn } from '../reference/nd.ts';
import { scoresRef, ranksRef, rankBoundsRef, topKRef, metricsRef } from '../reference/metrics.ts';
import { expectClose } from '../helpers.ts';

// Metrics are computed in float64 on the CPU from identical integer ranks on both sides; only the
// summation order differs.
const METRIC = { rtol: 1e-12, atol: 1e-12 };

interface Case {
  I: number;
  U: number;
  d: number;
  items: Float64Array;
  users: Float64Array;
}

/** Quantised vectors; every 4th item (from the second on) duplicates an earlier one to force ties. */
function makeCase(U: number, I: number, d: number, seed: number): Case {
  const r = rng(seed);
  const q = () => Math.round(r() * 16 - 8) / 8;
  const items = new Float64Array(I * d).map(q);
  for (let i = 1; i < I; i += 4) {
    const src = Math.floor(r() * i);
    items.copyWithin(i * d, src * d, src * d + d);
  }
  const users = new Float64Array(U * d).map(q);
  return { I, U, d, items, users };
}

function randomTargets(U: number, T: number, I: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: U * T }, () => Math.floor(r() * I));
}

/** Up to 20 random items per user (unsorted, duplicates possible); sometimes one of its targets. */
function randomExclusions(U: number, I: number, targets: Int32Array, T: number, seed: number): Exclusions {
  const r = rng(seed);
  const offsets = new Int32Array(U + 1);
  const items: number[] = [];
  for (let u = 0; u < U; u++) {
    const n = Math.floor(r() * Math.min(I, 20));
    for (let k = 0; k < n; k++) items.push(Math.floor(r() * I));
    if (r() < 0.2) items.push(targets[u * T]); // must be ignored: the target is never excluded
    offsets[u + 1] = items.length;
  }
  return { offsets, items: Int32Array.from(items) };
}

function upload(c: Case): { items: Tensor; users: Tensor } {
  return { items: tensor(Float32Array.from(c.items), [c.I, c.d]), users: tensor(Float32Array.from(c.users), [c.U, c.d]) };
}

const shapes: [number, number, number][] = [
  [1, 1, 5],
  [7, 33, 33],
  [257, 1682, 5],
  [257, 1682, 33],
];

describe('rankTargets / evaluate', () => {
  for (const [U, I, d] of shapes) {
    for (const T of [1, 3]) {
      it(`U=${U} I=${I} d=${d} T=${T} with exclusions`, async () => {
        const c = makeCase(U, I, d, U * 31 + I + d);
        const targets = randomTargets(U, T, I, 7 + T);
        const exclude = randomExclusions(U, I, targets, T, 11 + U);
        const want = ranksRef(scoresRef(c.items, I, c.users, U, d), I, U, targets, T, exclude.offsets, exclude.items);
        const { items, users } = upload(c);
        try {
          const got = await rankTargets(items, { users, targets, targetsPerUser: T, exclude }, { numItems: I });
          expect(Array.from(got)).toEqual(Array.from(want));
          const ks = [1, 5, 10, 20, 50, 100];
          const sums = await evaluate(items, { users, targets, targetsPerUser: T, exclude }, { ks });
          expect(sums.count).toBe(U);
          const m = finalize(sums);
          const ref = metricsRef(want, T, ks);
          expect(Object.keys(m).sort()).toEqual(Object.keys(ref).sort());
          const names = Object.keys(ref);
          expectClose(names.map((k) => m[k]), names.map((k) => ref[k]), METRIC, 'metrics');
        } finally {
          items.dispose();
          users.dispose();
        }
      });
    }
  }

  it('chunk loop: tiny chunks give the same ranks, and batches accumulate', async () => {
    const [U, I, d, T] = [257, 1682, 33, 3];
    const c = makeCase(U, I, d, 5);
    const targets = randomTargets(U, T, I, 6);
    const exclude = randomExclusions(U, I, targets, T, 8);
    const want = ranksRef(scoresRef(c.items, I, c.users, U, d), I, U, targets, T, exclude.offsets, exclude.items);
    const { items, users } = upload(c);
    try {
      for (const chunkUsers of [1, 5, 100]) {
        const got = await rankTargets(items, { users, targets, targetsPerUser: T, exclude }, { chunkUsers });
        expect(Array.from(got), `chunkUsers=${chunkUsers}`).toEqual(Array.from(want));
      }
      // Catalog slices (one dispatch per slice, summed in place), with and without user chunks.
      for (const [sliceItems, chunkUsers] of [[100, undefined], [7, 50], [1681, undefined]]) {
        const got = await rankTargets(items, { users, targets, targetsPerUser: T, exclude }, { sliceItems, chunkUsers });
        expect(Array.from(got), `sliceItems=${sliceItems} chunkUsers=${chunkUsers}`).toEqual(Array.from(want));
      }
      // chunkBytes that is not a multiple of a row: floor(3 rows and a bit) = 3 users per chunk.
      const got = await rankTargets(items, { users, targets, targetsPerUser: T, exclude }, { chunkBytes: I * 4 * 3 + 100 });
      expect(Array.from(got)).toEqual(Array.from(want));
      // Whole = first 100 users + the rest.
      const whole = finalize(sumsFromRanks(want, T));
      const a = sumsFromRanks(want.subarray(0, 100 * T), T);
      const b = sumsFromRanks(want.subarray(100 * T), T);
      const split = finalize(addSums(a, b));
      const names = Object.keys(whole);
      expectClose(names.map((k) => split[k]), names.map((k) => whole[k]), METRIC, 'accumulated batches');
    } finally {
      items.dispose();
      users.dispose();
    }
  });

  it('constant scores: rank = number of lower-id non-excluded items (not 0)', async () => {
    const [U, I, d, T] = [7, 33, 5, 3];
    const items = tensor(new Float32Array(I * d).fill(0.5), [I, d]);
    const users = tensor(new Float32Array(U * d).fill(-0.25), [U, d]);
    const targets = Int32Array.from({ length: U * T }, (_, k) => (k * 7 + 3) % I);
    const exclude = randomExclusions(U, I, targets, T, 3);
    try {
      const got = await rankTargets(items, { users, targets, targetsPerUser: T, exclude });
      for (let u = 0; u < U; u++) {
        const ex = new Set(exclude.items.subarray(exclude.offsets[u], exclude.offsets[u + 1]));
        for (let t = 0; t < T; t++) {
          const tgt = targets[u * T + t];
          const others = new Set(Array.from(targets.subarray(u * T, u * T + T)).filter((_, o) => o !== t));
          let lower = 0;
          for (let j = 0; j < tgt; j++) if (!ex.has(j) && !others.has(j)) lower++;
          expect(got[u * T + t], `user ${u} target ${t}`).toBe(lower);
        }
      }
    } finally {
      items.dispose();
      users.dispose();
    }
  });

  it('a catalog longer than one slice (llvmpipe stops loops after ~65535 passes)', async () => {
    // Constant scores, so the expected rank is the number of lower ids: 69997 = I − T for the last
    // targets. A single loop over this catalog returned 65534 on llvmpipe-GL.
    const [I, d, T] = [70000, 4, 3];
    const items = tensor(new Float32Array(I * d).fill(1), [I, d]);
    const users = tensor(new Float32Array(2 * d).fill(1), [2, d]);
    const targets = Int32Array.from([I - 1, I - 2, I - 3, 5, 70, 40000]);
    try {
      const got = await rankTargets(items, { users, targets, targetsPerUser: T });
      expect(Array.from(got)).toEqual([I - 3, I - 3, I - 3, 5, 69, 39998]);
    } finally {
      items.dispose();
      users.dispose();
    }
  });

  it('Gaussian vectors: ranks within what float32 score rounding allows', async () => {
    const [U, I, d] = [257, 1682, 33];
    const it_ = randn([I, d], 1);
    const us = randn([U, d], 2);
    const targets = randomTargets(U, 1, I, 3);
    // |f32 dot − f64 dot| ≤ d·2⁻²⁴·Σ|x||y| ≈ 33·6e-8·33 ≈ 7e-5 for these magnitudes; 1e-4 covers it.
    const { lo, hi } = rankBoundsRef(scoresRef(it_.data, I, us.data, U, d), I, U, targets, 1e-4);
    const items = tensor(Float32Array.from(it_.data), [I, d]);
    const users = tensor(Float32Array.from(us.data), [U, d]);
    try {
      const got = await rankTargets(items, { users, targets });
      for (let u = 0; u < U; u++) {
        expect(got[u], `user ${u}`).toBeGreaterThanOrEqual(lo[u]);
        expect(got[u], `user ${u}`).toBeLessThanOrEqual(hi[u]);
      }
    } finally {
      items.dispose();
      users.dispose();
    }
  });

  it('a NaN user vector ranks its target last (pessimistic)', async () => {
    const c = makeCase(3, 33, 5, 9);
    c.users[1 * 5 + 2] = NaN;
    const targets = Int32Array.from([4, 5, 6]);
    const { items, users } = upload(c);
    try {
      const got = await rankTargets(items, { users, targets });
      expect(got[1]).toBe(32);
      const want = ranksRef(scoresRef(c.items, 33, c.users, 3, 5), 33, 3, targets, 1);
      expect([got[0], got[2]]).toEqual([want[0], want[2]]);
    } finally {
      items.dispose();
      users.dispose();
    }
  });

  it('reads back only the ranks, never the score matrix', async () => {
    const [U, I, d, T] = [257, 1682, 5, 3];
    const c = makeCase(U, I, d, 4);
    const targets = randomTargets(U, T, I, 5);
    const { items, users } = upload(c);
    const spy = vi.spyOn(engine().stream, 'read');
    try {
      await evaluate(items, { users, targets, targetsPerUser: T });
      await topKItems(items, users, 20);
      const sizes = spy.mock.calls.map((a) => a[2]);
      expect(sizes).toEqual([U * T * 4, U * 20 * 4]);
    } finally {
      spy.mockRestore();
      items.dispose();
      users.dispose();
    }
  });

  it('rejects padding rows, bad targets and bad exclusions, naming the op', async () => {
    const c = makeCase(2, 10, 5, 1);
    const { items, users } = upload(c);
    try {
      await expect(rankTargets(items, { users, targets: Int32Array.from([1, 2]) }, { numItems: 9 })).rejects.toThrow(/rankTargets: .*numItems is 9/);
      await expect(rankTargets(items, { users, targets: Int32Array.from([1, 10]) })).rejects.toThrow(/rankTargets: targets\[1\] = 10/);
      await expect(rankTargets(items, { users, targets: Int32Array.from([1]) })).rejects.toThrow(/rankTargets: targets has 1 entries/);
      const bad = { offsets: Int32Array.from([0, 1, 2]), items: Int32Array.from([3, -1]) };
      await expect(rankTargets(items, { users, targets: Int32Array.from([1, 2]), exclude: bad })).rejects.toThrow(/exclude\.items\[1\] = -1 \(user 1\)/);
      await expect(topKItems(items, users, 101)).rejects.toThrow(/topKItems: k must be/);
      expect(() => finalize(sumsFromRanks(new Int32Array(0), 1))).toThrow(/no users/);
    } finally {
      items.dispose();
      users.dispose();
    }
  });
});

describe('topKItems', () => {
  const cases: [number, number, number, number, number?, number?][] = [
    [1, 1, 5, 10],
    [7, 33, 33, 50], // k > I: −1 fills the tail
    [7, 33, 5, 20, undefined, 4], // slices of 4 items merge into one list
    [257, 1682, 5, 100, 17],
    [257, 1682, 33, 10],
  ];
  for (const [U, I, d, k, chunkUsers, sliceItems] of cases) {
    it(`U=${U} I=${I} d=${d} k=${k}${chunkUsers ? ` chunkUsers=${chunkUsers}` : ''}${sliceItems ? ` sliceItems=${sliceItems}` : ''} with exclusions and ties`, async () => {
      const c = makeCase(U, I, d, U + I * 3 + k);
      const exclude = randomExclusions(U, I, new Int32Array(U), 1, 21);
      const want = topKRef(scoresRef(c.items, I, c.users, U, d), I, U, k, exclude.offsets, exclude.items);
      const wantAll = topKRef(scoresRef(c.items, I, c.users, U, d), I, U, k);
      const { items, users } = upload(c);
      try {
        const got = await topKItems(items, users, k, exclude, { chunkUsers, sliceItems });
        expect(Array.from(got)).toEqual(Array.from(want));
        const gotAll = await topKItems(items, users, k);
        expect(Array.from(gotAll)).toEqual(Array.from(wantAll));
      } finally {
        items.dispose();
        users.dispose();
      }
    });
  }

  it('increasing scores (every item shifts the whole list): default slices stay within the loop limit', async () => {
    const [I, k] = [5000, 100];
    const items = tensor(Float32Array.from({ length: I }, (_, i) => i), [I, 1]);
    const users = tensor(Float32Array.from([1, -1]), [2, 1]);
    try {
      const got = await topKItems(items, users, k);
      const want = [...Array.from({ length: k }, (_, s) => I - 1 - s), ...Array.from({ length: k }, (_, s) => s)];
      expect(Array.from(got)).toEqual(want);
    } finally {
      items.dispose();
      users.dispose();
    }
  });
});
