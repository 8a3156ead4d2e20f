// A tiny MUFASA on a small synthetic set, shared by the model tests that build layers by hand
// (user-head-dropout.test.ts, layers.test.ts): d 8, blocks of 2, top-2, and one batch of three
// left-aligned sequences (lengths 7, 2, 5: row 0 sees several blocks, row 1 none).
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { buildModel, uploadModalities } from '../../src/train/build.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { deepMerge } from '../../src/model/presets.ts';
import type { Mufasa } from '../../src/model/mufasa.ts';
import type { SequenceBatch } from '../../src/model/sequence.ts';
import { indexTensor } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';

export const ds = makeSynthetic({ seed: 4, users: 20, items: 30, minSeqLen: 5, maxSeqLen: 9 });
export const I = ds.numItems;
export const D = 8;
export const batch: SequenceBatch = {
  items: Int32Array.from([1, 5, 9, 2, 7, 12, 13, 3, 8, I, I, I, I, I, 4, 6, 0, 11, 10, I, I]),
  lengths: Int32Array.from([7, 2, 5]),
  batch: 3,
  maxLen: 7,
};

/** The training config of the tiny model, `model` merged over its model fields. */
export function tinyConfig(model: object): TrainConfig {
  return deepMerge(defaultTrainConfig, { model: { dim: D, sal: { blockSize: 2, topK: 2 }, ...model }, maxLen: 12 });
}

/** Runs `f` with the tiny model and its item vectors z(); frees both (and the inputs) afterwards. */
export async function withTinyModel(model: object, f: (m: Mufasa, z: () => Tensor) => Promise<void>): Promise<void> {
  const cfg = tinyConfig(model);
  const m = buildModel(ds, cfg) as Mufasa;
  const mods = uploadModalities(ds, cfg.excludeModalities);
  const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
  try {
    await f(m, () => m.itemVectors(mods, all));
  } finally {
    all.dispose();
    mods.forEach((x) => (x.values.dispose(), x.present.dispose()));
    m.dispose();
  }
}
