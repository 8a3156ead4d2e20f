// Exported user embeddings come from the history the model was trained on: with
// TrainConfig.recentInteractions = k, a user's vector is computed from the last k interactions only,
// which is what the same model gives with a history window (maxLen) of k on the whole data set.
import { it, expect } from 'vitest';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { buildModel } from '../../src/train/build.ts';
import { computeEmbeddings } from '../../src/train/embeddings.ts';
import { deepMerge, presetOverrides } from '../../src/model/presets.ts';

it('computeEmbeddings with recentInteractions k: user vectors from the last k items; item vectors unchanged', async () => {
  const ds = makeSynthetic({ seed: 2, users: 23, items: 31 });
  const longer = ds.sequences.filter((s) => s.length > 5).length;
  expect(longer).toBeGreaterThan(5); // the cut changes most users' histories
  const cfg = deepMerge({ ...defaultTrainConfig, seed: 3 }, { ...presetOverrides('sasrec'), sasrec: { ...defaultTrainConfig.sasrec, dim: 8 } });
  const model = buildModel(ds, cfg);
  try {
    const cut = await computeEmbeddings(model, ds, { maxLen: 20, recentInteractions: 5, excludeModalities: cfg.excludeModalities });
    const window5 = await computeEmbeddings(model, ds, { maxLen: 5, excludeModalities: cfg.excludeModalities });
    const whole = await computeEmbeddings(model, ds, { maxLen: 20, excludeModalities: cfg.excludeModalities });
    expect(cut.users).toEqual(window5.users);
    expect(cut.items).toEqual(whole.items);
    // Users with more than 5 interactions get another vector than from their last 20.
    let differ = 0;
    ds.sequences.forEach((s, u) => {
      const a = cut.users.subarray(u * 8, (u + 1) * 8);
      const b = whole.users.subarray(u * 8, (u + 1) * 8);
      if (s.length > 5 && a.some((v, k) => Math.abs(v - b[k]) > 1e-4)) differ++;
    });
    expect(differ).toBe(longer);
  } finally {
    model.dispose();
  }
});
