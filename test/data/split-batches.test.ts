// Leave-one-out and zero-shot splits, and the next-item batcher: shapes, padding, targets, determinism.
import { describe, expect, it } from 'vitest';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { leaveOneOut, zeroShotSplit } from '../../src/data/split.ts';
import { makeBatches, padId } from '../../src/data/batches.ts';
import type { Dataset } from '../../src/data/dataset.ts';

function tiny(seqs: number[][], numItems = 10): Dataset {
  return {
    name: 'tiny', numUsers: seqs.length, numItems,
    userIds: seqs.map((_, u) => `u${u}`), itemIds: Array.from({ length: numItems }, (_, i) => `i${i}`),
    sequences: seqs.map((s) => Int32Array.from(s)), timestamps: seqs.map((s) => Float64Array.from(s.map((_, j) => j))),
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

  it('rejects ids outside the catalogue', () => {
    expect(() => [...makeBatches([Int32Array.from([1, 12])], { batchSize: 1, numItems: 10 })]).toThrow(/item id 12, outside 0\.\.9/);
  });
});
