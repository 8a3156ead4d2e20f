// Leave-one-out and zero-shot splits, and the next-item batcher: shapes, padding, targets, determinism.
import { describe, expect, it } from 'vitest';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { leaveOneOut, zeroShotSplit, orderTies, recentInteractions } from '../../src/data/split.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { dataSplit } from '../../src/train/data.ts';
import { makeBatches, padId } from '../../src/data/batches.ts';
import { mulberry32 } from '../../src/data/rng.ts';
import type { Dataset } from '../../src/data/dataset.ts';

function tiny(seqs: number[][], numItems = 10, times?: number[][]): Dataset {
  return {
    name: 'tiny', numUsers: seqs.length, numItems,
    userIds: seqs.map((_, u) => `u${u}`), itemIds: Array.from({ length: numItems }, (_, i) => `i${i}`),
    sequences: seqs.map((s) => Int32Array.from(s)), timestamps: times ? times.map((t) => Float64Array.from(t)) : seqs.map((s) => Float64Array.from(s.map((_, j) => j))),
    items: { titles: Array.from({ length: numItems }, (_, i) => `item ${i}`), modalities: [] },
  };
}

describe('leaveOneOut', () => {
  it('last = test, second-to-last = valid, rest = train; short users train only', () => {
    const ds = tiny([[1, 2, 3, 4, 5], [6, 7], [8, 9, 1]]);
    const s = leaveOneOut(ds, { maxLen: 2 });
    expect(s.train.map((x) => Array.from(x))).toEqual([[1, 2, 3], [6, 7], [8]]);
    expect(s.test.map((c) => [c.user, c.targets[0], Array.from(c.history)])).toEqual([[0, 5, [3, 4]], [2, 1, [8, 9]]]);
    expect(s.valid.map((c) => [c.user, c.targets[0], Array.from(c.history)])).toEqual([[0, 4, [2, 3]], [2, 9, [8]]]);
    // seen: the whole prefix, not only the maxLen history.
    expect(Array.from(s.test[0].seen)).toEqual([1, 2, 3, 4]);
  });

  it("each case's gap is the time from the interaction before its target to it (0 for a shared timestamp)", () => {
    const ds = tiny([[1, 2, 3, 4, 5], [8, 9, 1, 6]], 10, [[10, 70, 70, 3675.5, 3675.5], [0, 5, 5, 86400]]);
    const s = leaveOneOut(ds, { maxLen: 2 });
    expect(s.test.map((c) => c.gap)).toEqual([0, 86395]);
    expect(s.valid.map((c) => c.gap)).toEqual([3605.5, 0]);
  });
});

describe('orderTies', () => {
  // 400 users, each: a run of 2 tied items, a single, a run of 3 tied, a run of 2 tied at the end.
  const seqs = Array.from({ length: 400 }, (_, u) => [0, 1, 2, 3, 4, 5, 6, 7].map((j) => (u + j) % 50));
  const times = seqs.map(() => [5, 5, 9, 12, 12, 12, 20, 20]);
  const ds = tiny(seqs, 50, times);

  it("'itemId' keeps the loaded order; 'shuffled' permutes only within each run of equal timestamps, reproducibly", () => {
    expect(orderTies(ds, 'itemId')).toBe(ds);
    const a = orderTies(ds, 'shuffled');
    expect(orderTies(ds, 'shuffled').sequences).toEqual(a.sequences);
    expect(a.timestamps).toBe(ds.timestamps);
    expect(ds.sequences[0]).toEqual(Int32Array.from(seqs[0])); // the input is not modified
    let swappedLast = 0;
    a.sequences.forEach((s, u) => {
      const o = seqs[u];
      for (const [lo, hi] of [[0, 2], [2, 3], [3, 6], [6, 8]]) expect(Array.from(s.slice(lo, hi)).sort((x, y) => x - y)).toEqual(o.slice(lo, hi).sort((x, y) => x - y));
      expect(s[2]).toBe(o[2]);
      if (s[7] !== o[7]) swappedLast++;
    });
    // A fair shuffle swaps a tied pair half the time: 400 pairs, 0.5 ± 5 standard errors (0.125).
    expect(Math.abs(swappedLast / 400 - 0.5)).toBeLessThan(0.125);
    // Each user's order depends only on the user's index and data, not on the other users.
    const firstTen = orderTies(tiny(seqs.slice(0, 10), 50, times.slice(0, 10)), 'shuffled');
    expect(firstTen.sequences).toEqual(a.sequences.slice(0, 10));
    expect(() => orderTies(ds, 'random' as never)).toThrow(/unknown tieOrder 'random' \(itemId, shuffled\)/);
  });

  it("dataSplit takes the targets from the reordered sequences (config tieOrder)", () => {
    const shuffled = orderTies(ds, 'shuffled');
    const split = dataSplit(ds, { ...defaultTrainConfig, tieOrder: 'shuffled' });
    expect(split.test.map((c) => c.targets[0])).toEqual(shuffled.sequences.map((s) => s[7]));
    expect(split.valid.map((c) => c.targets[0])).toEqual(shuffled.sequences.map((s) => s[6]));
    expect(split.train).toEqual(shuffled.sequences.map((s) => s.slice(0, 6)));
    expect(split.test.every((c) => c.gap === 0)).toBe(true);
    expect(dataSplit(ds, defaultTrainConfig).test.map((c) => c.targets[0])).toEqual(seqs.map((s) => s[7]));
  });
});

describe('recentInteractions', () => {
  it("keeps each user's last k interactions and their timestamps; shorter users and k = 0 unchanged", () => {
    const ds = tiny([[1, 2, 3, 4, 5, 6], [7, 8], [9, 1, 2, 3]], 10, [[1, 2, 3, 4, 5, 6], [7, 8], [10, 20, 30, 40]]);
    expect(recentInteractions(ds, 0)).toBe(ds);
    const r = recentInteractions(ds, 4);
    expect(r.sequences.map((x) => Array.from(x))).toEqual([[3, 4, 5, 6], [7, 8], [9, 1, 2, 3]]);
    expect(r.timestamps.map((x) => Array.from(x))).toEqual([[3, 4, 5, 6], [7, 8], [10, 20, 30, 40]]);
    expect(ds.sequences[0]).toEqual(Int32Array.from([1, 2, 3, 4, 5, 6])); // the input is not modified
    for (const k of [1, 2, 3.5, -1, NaN]) expect(() => recentInteractions(ds, k)).toThrow(new RegExp(`integer ≥ 3 .* got ${k}`));
  });

  it('dataSplit cuts after tieOrder: the same targets, histories and training prefixes within the last k', () => {
    // Every user: 9 interactions, the last 4 in one second, so the cut goes through the run of ties.
    const seqs = Array.from({ length: 60 }, (_, u) => Array.from({ length: 9 }, (_, j) => (u * 3 + j * 7) % 40));
    const times = seqs.map(() => [1, 2, 3, 4, 5, 9, 9, 9, 9]);
    const ds = tiny(seqs, 40, times);
    for (const tieOrder of ['itemId', 'shuffled'] as const) {
      const full = dataSplit(ds, { ...defaultTrainConfig, tieOrder });
      const cut = dataSplit(ds, { ...defaultTrainConfig, tieOrder, recentInteractions: 6 });
      const ordered = orderTies(ds, tieOrder).sequences;
      expect(cut.test.map((c) => c.targets[0])).toEqual(full.test.map((c) => c.targets[0]));
      expect(cut.valid.map((c) => c.targets[0])).toEqual(full.valid.map((c) => c.targets[0]));
      expect(cut.train).toEqual(ordered.map((s) => s.slice(3, 7)));
      expect(cut.test.map((c) => Array.from(c.history))).toEqual(ordered.map((s) => Array.from(s.slice(3, 8))));
      // Items before the cut are gone from `seen` too: to the model they never happened.
      expect(cut.test.map((c) => Array.from(c.seen))).toEqual(ordered.map((s) => [...new Set(s.slice(3, 8))].sort((a, b) => a - b)));
    }
  });
});

describe('zeroShotSplit', () => {
  it('holds users out entirely; their last 3 are the targets; deterministic', () => {
    const ds = makeSynthetic({ seed: 1, users: 50, items: 60 });
    const z = zeroShotSplit(ds, { fraction: 0.2, seed: 3 });
    expect(z.heldOut.length).toBe(10);
    expect(z.trainUsers.length).toBe(40);
    const held = new Set(z.heldOut.map((c) => c.user));
    for (const u of z.trainUsers) expect(held.has(u)).toBe(false);
    for (const c of z.heldOut) {
      const s = ds.sequences[c.user];
      const t = ds.timestamps[c.user];
      expect(c.gap).toBe(t[t.length - 3] - t[t.length - 4]); // the first target's
      expect(Array.from(c.targets)).toEqual(Array.from(s.slice(s.length - 3)));
      expect(Array.from(c.history)).toEqual(Array.from(s.slice(0, s.length - 3)));
    }
    z.trainUsers.forEach((u, k) => expect(z.train[k].length).toBe(ds.sequences[u].length - 1));
    expect(zeroShotSplit(ds, { fraction: 0.2, seed: 3 }).heldOut.map((c) => c.user)).toEqual(z.heldOut.map((c) => c.user));
    expect(zeroShotSplit(ds, { fraction: 0.2, seed: 4 }).heldOut.map((c) => c.user)).not.toEqual(z.heldOut.map((c) => c.user));
  });
});

describe('makeBatches', () => {
  const seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 0, 1], [2, 3], [7, 8, 9]].map((s) => Int32Array.from(s));

  it('left-aligned rows, pad = numItems, targets shifted by one, -1 elsewhere', () => {
    const bs = [...makeBatches(seqs, { batchSize: 3, numItems: 10, maxLen: 4, shuffle: false })];
    // [4] is skipped (a single item has no next-item target): 4 rows → batches of 3 and 1.
    expect(bs.map((b) => [b.B, b.L])).toEqual([[3, 4], [1, 4]]);
    const b = bs[0];
    const P = padId(10);
    expect(P).toBe(10);
    expect(Array.from(b.rows)).toEqual([0, 2, 3]);
    expect(Array.from(b.lengths)).toEqual([3, 4, 2]);
    expect(Array.from(b.items)).toEqual([1, 2, 3, P, /* last 4 of row 2 */ 8, 9, 0, 1, 2, 3, P, P]);
    expect(Array.from(b.targets)).toEqual([2, 3, -1, -1, 9, 0, 1, -1, 3, -1, -1, -1]);
    const nb = [...makeBatches(seqs, { batchSize: 3, numItems: 10, maxLen: 4, shuffle: false, padTo: 'batch', dropLast: true })];
    expect(nb.length).toBe(1);
  });

  it('deterministic from the seed; every row appears once per epoch', () => {
    const ds = makeSynthetic({ seed: 2, users: 37, items: 40 });
    const run = (seed: number) => [...makeBatches(ds.sequences, { batchSize: 8, numItems: 40, maxLen: 33, seed })];
    const a = run(5), b = run(5), c = run(6);
    expect(a).toEqual(b);
    expect(a.map((x) => Array.from(x.rows))).not.toEqual(c.map((x) => Array.from(x.rows)));
    expect(a.flatMap((x) => Array.from(x.rows)).sort((p, q) => p - q)).toEqual(Array.from({ length: 37 }, (_, i) => i));
    for (const x of a) {
      expect(x.items.length).toBe(x.B * 33);
      for (let r = 0; r < x.B; r++) {
        const s = ds.sequences[x.rows[r]];
        const keep = s.slice(Math.max(0, s.length - 33));
        expect(x.lengths[r]).toBe(keep.length);
        expect(Array.from(x.items.subarray(r * 33, r * 33 + keep.length))).toEqual(Array.from(keep));
      }
    }
  });

  it('windowStride: a long sequence is cut into windows that train each target once', () => {
    // Items 0..10 (n 11), maxLen 4, stride 2: windows end at 11, 9, 7, 5 and 3 (the one from item 0).
    const s = Int32Array.from({ length: 11 }, (_, i) => i);
    const bs = [...makeBatches([s], { batchSize: 8, numItems: 20, maxLen: 4, windowStride: 2, shuffle: false })];
    expect(bs.length).toBe(1);
    const b = bs[0];
    const P = 20;
    expect(Array.from(b.items)).toEqual([0, 1, 2, P, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 8, 7, 8, 9, 10]);
    expect(Array.from(b.lengths)).toEqual([3, 4, 4, 4, 4]);
    expect(Array.from(b.firstTarget)).toEqual([0, 1, 1, 1, 1]);
    expect(Array.from(b.rows)).toEqual([0, 0, 0, 0, 0]);
    // Context-only positions hold -1: window [1, 5) trains items 3 and 4 (items 1–2 came from [0, 3)).
    expect(Array.from(b.targets)).toEqual([1, 2, -1, -1, -1, 3, 4, -1, -1, 5, 6, -1, -1, 7, 8, -1, -1, 9, 10, -1]);
    // Stride 0 (the default) keeps the last window only, as before.
    const last = [...makeBatches([s], { batchSize: 8, numItems: 20, maxLen: 4, shuffle: false })][0];
    expect(Array.from(last.items)).toEqual([7, 8, 9, 10]);
    expect(Array.from(last.firstTarget)).toEqual([0]);
  });

  it('windowStride: every target exactly once, with ≥ maxLen − stride items of context, for any length', () => {
    const r = mulberry32(11);
    for (let trial = 0; trial < 60; trial++) {
      const maxLen = 2 + r.int(9);
      const stride = 1 + r.int(maxLen - 1);
      const seqs = Array.from({ length: 1 + r.int(5) }, () => Int32Array.from({ length: 2 + r.int(40) }, (_, k) => k));
      const trained = seqs.map((q) => new Array<number>(q.length).fill(0));
      for (const b of makeBatches(seqs, { batchSize: 3, numItems: 50, maxLen, windowStride: stride, seed: trial })) {
        for (let row = 0; row < b.B; row++) {
          const q = seqs[b.rows[row]];
          const len = b.lengths[row];
          expect(len).toBeLessThanOrEqual(maxLen);
          // Item k of each sequence is id k, so a row's first item is where its window starts.
          const st = b.items[row * maxLen];
          expect(Array.from(b.items.subarray(row * maxLen, row * maxLen + len))).toEqual(Array.from(q.subarray(st, st + len)));
          for (let t = 0; t + 1 < len; t++) {
            const tg = b.targets[row * maxLen + t];
            if (t < b.firstTarget[row]) {
              expect(tg).toBe(-1);
              continue;
            }
            expect(tg).toBe(q[st + t + 1]);
            trained[b.rows[row]][st + t + 1]++;
            expect(t + 1, `context of item ${st + t + 1}`).toBeGreaterThanOrEqual(Math.min(st + t + 1, maxLen - stride));
          }
        }
      }
      trained.forEach((c) => expect(c.slice(1)).toEqual(c.slice(1).map(() => 1)));
    }
  });

  it('windowStride must be 0 or in 1..maxLen − 1', () => {
    const s = [Int32Array.from([1, 2, 3, 4, 5])];
    for (const w of [4, 5, -1, 1.5]) expect(() => [...makeBatches(s, { batchSize: 2, numItems: 10, maxLen: 4, windowStride: w })]).toThrow(/windowStride must be 0 .* 1\.\.maxLen − 1 = 3 \(got/);
  });

  it('rejects ids outside the catalogue', () => {
    expect(() => [...makeBatches([Int32Array.from([1, 12])], { batchSize: 1, numItems: 10 })]).toThrow(/item id 12, outside 0\.\.9/);
  });
});
