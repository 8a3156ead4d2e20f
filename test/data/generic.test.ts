// Generic loader on a tiny fixture, and every malformed-input case: an error naming file and line.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadGeneric } from '../../src/data/generic.ts';
import { DataFormatError, modality } from '../../src/data/dataset.ts';

const fx = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const wordVectors = fx('tiny-glove.txt');
const opts = { wordVectors, textFields: ['plot'], categoricalFields: ['genres'], numericFields: ['year', 'price'] };

describe('loadGeneric', () => {
  it('loads the tiny fixture', async () => {
    const ds = await loadGeneric(fx('interactions.tsv'), fx('items.csv'), opts);
    expect(ds.numItems).toBe(4);
    expect(ds.itemIds).toEqual(['m1', 'm2', 'm3', 'm4']);
    // Users in ascending id: 'u1' < 'u10' < 'u2' (not integers, so code-unit order).
    expect(ds.userIds).toEqual(['u1', 'u10', 'u2']);
    // u1: m1@10, then m2 and m3 tie @50 → ascending item id m2, m3.
    expect(Array.from(ds.sequences[0]).map((i) => ds.itemIds[i])).toEqual(['m1', 'm2', 'm3']);
    expect(Array.from(ds.timestamps[0])).toEqual([10, 50, 50]);
    expect(Array.from(ds.sequences[2]).map((i) => ds.itemIds[i])).toEqual(['m3', 'm2', 'm1']);
    expect(ds.items.titles[0]).toBe('The Red Planet');
    expect(ds.items.modalities.map((m) => m.name)).toEqual(['title', 'plot', 'genres', 'numeric']);
    // 'Zzzqx' has no known word → title missing; m2 has an empty plot → plot missing.
    expect(Array.from(modality(ds, 'title').present)).toEqual([1, 1, 0, 1]);
    expect(Array.from(modality(ds, 'plot').present)).toEqual([1, 0, 1, 1]);
    // Categorical: vocabulary sorted [comedy, drama, scifi]; m3's empty cell → missing.
    const g = modality(ds, 'genres');
    expect(g.dim).toBe(3);
    expect(Array.from(g.values)).toEqual([0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1]);
    expect(Array.from(g.present)).toEqual([1, 1, 0, 1]);
    // Numeric: year over {1999, 2001, 2010} (mean 2003.33, population std), price over {10, 12.5, 8};
    // missing cells are 0 (the mean after standardising).
    const num = modality(ds, 'numeric');
    const ym = (1999 + 2001 + 2010) / 3;
    const ys = Math.sqrt(((1999 - ym) ** 2 + (2001 - ym) ** 2 + (2010 - ym) ** 2) / 3);
    // f32 storage of O(1) standardised values: 1e-6.
    expect(Math.abs(num.values[0] - (1999 - ym) / ys)).toBeLessThan(1e-6);
    expect(num.values[3]).toBe(0); // m2 price missing
    expect(num.values[4]).toBe(0); // m3 year missing
    expect(Array.from(num.present)).toEqual([1, 1, 1, 1]);
  });

  const bad: [string, string, string, RegExp][] = [
    ['bad column count', 'bad-columns.csv', 'items.csv', /bad-columns\.csv:3: expected 3 fields .* found 2/],
    ['non-numeric timestamp', 'bad-timestamp.tsv', 'items.csv', /bad-timestamp\.tsv:4 \(column 'timestamp'\): 'yesterday' is not a number/],
    ['unknown item id', 'unknown-item.csv', 'items.csv', /unknown-item\.csv:3 \(column 'item'\): unknown item id 'm9'/],
    ['empty interactions file', 'empty.csv', 'items.csv', /empty\.csv:1: empty file/],
    ['header without rows', 'header-only.csv', 'items.csv', /header-only\.csv:1: no data rows/],
    ['non-UTF-8 items file', 'interactions.tsv', 'latin1-items.csv', /latin1-items\.csv:3: not valid UTF-8/],
    ['duplicate item id', 'interactions.tsv', 'dup-items.csv', /dup-items\.csv:5 \(column 'id'\): duplicate item id 'm2' \(first on line 3\)/],
    ['missing column', 'interactions.tsv', 'items.csv', /items\.csv:1: missing column 'nope'/],
  ];
  for (const [what, inter, items, re] of bad) {
    it(`${what} → error naming file and line`, async () => {
      // The one-column-set items fixtures (Latin-1, duplicate id) are loaded without extra fields.
      const o = what === 'missing column' ? { ...opts, textFields: ['nope'] } : items === 'items.csv' ? opts : { wordVectors };
      const p = loadGeneric(fx(inter), fx(items), o);
      await expect(p).rejects.toThrow(re);
      await expect(p).rejects.toBeInstanceOf(DataFormatError);
    });
  }
});
