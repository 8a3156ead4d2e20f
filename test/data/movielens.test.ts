// ML-100K loader on the real files (read from ../shared/data, never copied), loaded once per file.
import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadMovieLens } from '../../src/data/movielens.ts';
import { leaveOneOut } from '../../src/data/split.ts';
import { modality, numInteractions, titleAnchors, type Dataset } from '../../src/data/dataset.ts';

const dir = fileURLToPath(new URL('../../../shared/data/ml-100k', import.meta.url));
const glove = fileURLToPath(new URL('../../../shared/data/glove/glove-ml100k-100d.txt', import.meta.url));

let ds: Dataset;
beforeAll(async () => {
  ds = await loadMovieLens(dir, { wordVectors: glove });
});

const count = (m: Uint8Array) => m.reduce((s, v) => s + v, 0);

describe('loadMovieLens', () => {
  it('has 943 users, 1682 items, 100,000 interactions in time order', () => {
    expect(ds.numUsers).toBe(943);
    expect(ds.numItems).toBe(1682);
    expect(numInteractions(ds)).toBe(100_000);
    expect(ds.itemIds[0]).toBe('1');
    expect(ds.userIds[0]).toBe('1');
    expect(ds.items.titles[0]).toBe('Toy Story (1995)');
    for (const t of ds.timestamps) for (let j = 1; j < t.length; j++) expect(t[j] >= t[j - 1]).toBe(true);
  });

  it('decodes u.item as Latin-1', () => {
    // Some titles contain é as Latin-1 byte 0xE9; decoded as UTF-8 it would become U+FFFD.
    expect(ds.items.titles.some((t) => t.includes('é'))).toBe(true);
    expect(ds.items.titles.some((t) => t.includes('\uFFFD'))).toBe(false);
  });

  it('breaks time ties by ascending item id (user 209: file order says otherwise)', () => {
    // User 209's last two ratings share timestamp 883589626; u.data lists item 688 before 258, so a
    // file-order stable sort would make 258 the test item; ascending id (RecBole, DESIGN §6) gives 688.
    const u = ds.userIds.indexOf('209');
    const s = ds.sequences[u], t = ds.timestamps[u], n = s.length;
    expect(t[n - 1]).toBe(883589626);
    expect(t[n - 2]).toBe(883589626);
    const split = leaveOneOut(ds);
    const test = split.test.find((c) => c.user === u)!;
    const valid = split.valid.find((c) => c.user === u)!;
    expect(ds.itemIds[test.targets[0]]).toBe('688');
    expect(ds.itemIds[valid.targets[0]]).toBe('258');
    // DESIGN §6: 415 of 943 users have their test item tied in time with the item before it.
    let tied = 0;
    ds.timestamps.forEach((ts) => (tied += ts[ts.length - 1] === ts[ts.length - 2] ? 1 : 0));
    expect(tied).toBe(415);
  });

  it('leave-one-out gives 943 test and 943 validation targets', () => {
    const split = leaveOneOut(ds);
    expect(split.test.length).toBe(943);
    expect(split.valid.length).toBe(943);
    const trainTotal = split.train.reduce((s, x) => s + x.length, 0);
    expect(trainTotal).toBe(100_000 - 2 * 943);
    // maxLen 200 default: histories are the most recent ≤ 200 items before the target.
    for (const c of split.test) expect(c.history.length).toBeLessThanOrEqual(200);
    const long = split.test.find((c) => ds.sequences[c.user].length > 201)!;
    const seq = ds.sequences[long.user];
    expect(Array.from(long.history)).toEqual(Array.from(seq.slice(seq.length - 201, seq.length - 1)));
    expect(long.seen.length).toBe(new Set(seq.slice(0, seq.length - 1)).size);
  });

  it('modalities: presence counts and shapes', () => {
    const names = ds.items.modalities.map((m) => m.name);
    expect(names).toEqual(['title', 'plot', 'cast', 'genre', 'numeric']);
    for (const m of ds.items.modalities) {
      expect(m.values.length).toBe(ds.numItems * m.dim);
      expect(m.values.every(Number.isFinite)).toBe(true);
    }
    // data README: 1,484 items have a plot summary, and every one has a word in the GloVe subset.
    expect(count(modality(ds, 'plot').present)).toBe(1484);
    expect(count(modality(ds, 'cast').present)).toBe(1484);
    // 16 titles have no word in the GloVe subset (e.g. "M*A*S*H", "187", "Daens", "Jungle2Jungle").
    expect(count(titleAnchors(ds).present)).toBe(1682 - 16);
    expect(titleAnchors(ds).present[ds.itemIds.indexOf('211')]).toBe(0);
    expect(titleAnchors(ds).dim).toBe(100);
    expect(count(modality(ds, 'genre').present)).toBe(1682);
    expect(modality(ds, 'genre').dim).toBe(19);
    // Numeric: every item has at least its release year except 267 'unknown', which has IMDb fields.
    const num = modality(ds, 'numeric');
    expect(num.dim).toBe(4);
    expect(count(num.present)).toBe(1682);
    // Item 267 has no release date: its year is imputed with the mean, i.e. 0 after standardising.
    expect(num.values[266 * 4]).toBe(0);
    // Standardised over items that have the field: the year column has mean ≈ 0 (f32 rounding).
    let s = 0;
    for (let i = 0; i < 1682; i++) s += num.values[i * 4];
    expect(Math.abs(s / 1682)).toBeLessThan(1e-5);
    // A missing modality row is zeros and masked (never data): item whose summary is empty.
    const plot = modality(ds, 'plot');
    const miss = plot.present.indexOf(0);
    expect(Array.from(plot.values.subarray(miss * 100, miss * 100 + 100)).every((v) => v === 0)).toBe(true);
  });
});
