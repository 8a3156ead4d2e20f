// Synthetic data: deterministic from the seed, with its planted topic structure visible.
import { describe, expect, it } from 'vitest';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { modality, numInteractions } from '../../src/data/dataset.ts';

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let k = 0; k < a.length; k++) { d += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
  return d / Math.sqrt(na * nb);
}

describe('makeSynthetic', () => {
  const ds = makeSynthetic({ seed: 7 });

  it('defaults: 200 users, 300 items, lengths in [20, 60], valid ids, increasing time', () => {
    expect(ds.numUsers).toBe(200);
    expect(ds.numItems).toBe(300);
    for (let u = 0; u < ds.numUsers; u++) {
      const s = ds.sequences[u], t = ds.timestamps[u];
      expect(s.length).toBeGreaterThanOrEqual(20);
      expect(s.length).toBeLessThanOrEqual(60);
      for (let j = 0; j < s.length; j++) {
        expect(s[j] >= 0 && s[j] < 300).toBe(true);
        if (j) expect(t[j] > t[j - 1]).toBe(true);
      }
    }
  });

  it('is deterministic from the seed', () => {
    const again = makeSynthetic({ seed: 7 });
    const other = makeSynthetic({ seed: 8 });
    expect(again.sequences).toEqual(ds.sequences);
    expect(again.items.titles).toEqual(ds.items.titles);
    expect(again.items.modalities).toEqual(ds.items.modalities);
    expect(other.sequences).not.toEqual(ds.sequences);
  });

  it('items of a topic are more similar than items of different topics, in every modality', () => {
    for (const m of ds.items.modalities) {
      let same = 0, ns = 0, diff = 0, nd = 0;
      for (let i = 0; i < ds.numItems; i++) {
        if (!m.present[i]) continue;
        for (let j = i + 1; j < ds.numItems; j++) {
          if (!m.present[j]) continue;
          const c = cosine(m.values.subarray(i * m.dim, (i + 1) * m.dim), m.values.subarray(j * m.dim, (j + 1) * m.dim));
          if (ds.itemTopic[i] === ds.itemTopic[j]) { same += c; ns++; } else { diff += c; nd++; }
        }
      }
      // Planted signal: centre ~ N(0, I), noise 0.6 → within-topic cosine ≈ 0.7, across ≈ 0;
      // a 0.3 margin fails if the signal is lost and holds with room for the noise of 300 items.
      expect(same / ns - diff / nd, m.name).toBeGreaterThan(0.3);
    }
    // 'tags' is sometimes missing (missingRate 0.2), the others always present.
    const tags = modality(ds, 'tags').present.reduce((s, v) => s + v, 0);
    expect(tags).toBeGreaterThan(200);
    expect(tags).toBeLessThan(280);
    expect(modality(ds, 'visual').present.every((v) => v === 1)).toBe(true);
    // Titles use their topic's words.
    ds.items.titles.forEach((t, i) => expect(t).toContain(`T${ds.itemTopic[i]}w`));
  });

  it('users move between topics in runs of mean ≈ runLength', () => {
    let switches = 0, steps = 0;
    for (const s of ds.sequences) for (let j = 1; j < s.length; j++) { steps++; if (ds.itemTopic[s[j]] !== ds.itemTopic[s[j - 1]]) switches++; }
    // Switch probability 1/8 per step; ~8000 steps → observed rate within ±0.03 of 0.125.
    expect(Math.abs(switches / steps - 1 / 8)).toBeLessThan(0.03);
    expect(numInteractions(ds)).toBe(ds.sequences.reduce((a, s) => a + s.length, 0));
  });
});
