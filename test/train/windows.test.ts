// Training windows (TrainConfig.windowStride): sequences longer than maxLen are cut into windows so
// every next-item target is trained once per epoch, not only the last maxLen items' (RecBole trains
// every prefix; with the last window only, SASRec at maxLen 50 saw 39 % of ML-100K's targets).
import { it, expect } from 'vitest';
import { train } from '../../src/train/trainer.ts';
import { windowStride, defaultTrainConfig } from '../../src/train/config.ts';
import { epochBatches } from '../../src/train/data.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { nextItemPairs } from '../../src/model/sequence.ts';
import { presetOverrides, deepMerge } from '../../src/model/presets.ts';
import { datasetFromArrays } from '../../src/data/arrays.ts';

// Item ids unique across all sequences (sequence j holds j·40 + k), so a target id names its position.
const lengths = [3, 9, 17, 40, 1, 26];
const seqs = lengths.map((n, j) => Int32Array.from({ length: n }, (_, k) => j * 40 + k));
const numItems = 40 * lengths.length;

function epochTargets(cfg: TrainConfig): number[] {
  return epochBatches(seqs, numItems, cfg, 1).flatMap((b) => nextItemPairs(b).targets).sort((a, b) => a - b);
}

it('epochBatches: with windowStride every target once per epoch; with 0 only the last maxLen items', () => {
  const all = seqs.flatMap((s) => Array.from(s.subarray(1))).sort((a, b) => a - b);
  for (const windowStride of [1, 4, 9]) {
    const cfg = { ...defaultTrainConfig, maxLen: 10, batchSize: 4, windowStride };
    expect(epochTargets(cfg), `stride ${windowStride}`).toEqual(all);
  }
  const last = seqs.flatMap((s) => Array.from(s.subarray(Math.max(1, s.length - 10 + 1)))).sort((a, b) => a - b);
  expect(epochTargets({ ...defaultTrainConfig, maxLen: 10, batchSize: 4, windowStride: 0 })).toEqual(last);
});

it("windowStride in the config: 'last', 'half' or a stride below maxLen, and a clear error otherwise", () => {
  expect(windowStride({ windowStride: 'last', maxLen: 50 })).toBe(0);
  expect(windowStride({ windowStride: 'half', maxLen: 50 })).toBe(25);
  expect(windowStride({ windowStride: 'half', maxLen: 7 })).toBe(3);
  expect(windowStride({ windowStride: 12, maxLen: 50 })).toBe(12);
  for (const w of [50, -2, 2.5, 'all']) {
    expect(() => windowStride({ windowStride: w as number, maxLen: 50 })).toThrow(/config: windowStride must be 'last', 'half' or a whole number of items in 1\.\.maxLen − 1 = 49 \(got/);
  }
});

it('train() rejects a bad windowStride before the first epoch of any stage', async () => {
  const users = seqs.flatMap((s, u) => Array.from(s, () => u));
  const items = seqs.flatMap((s) => Array.from(s));
  // One content modality, so MUFASA's CF and MFL stages run before SAL.
  const feat = { name: 'feat', dim: 3, values: Array.from({ length: numItems * 3 }, (_, i) => Math.sin(i)) };
  const ds = datasetFromArrays({ interactions: { users, items }, items: { ids: Array.from({ length: numItems }, (_, i) => i), modalities: [feat] } });
  const epochs: string[] = [];
  const cfg = { ...defaultTrainConfig, maxLen: 8, windowStride: 8, cfEpochs: 1, mflEpochs: 1 };
  await expect(train(ds, cfg, { onEpoch: (l) => void epochs.push(l.stage) })).rejects.toThrow(/config: windowStride must be .* 1\.\.maxLen − 1 = 7 \(got 8\)/);
  expect(epochs).toEqual([]);
});

it('train() runs SASRec on windows: one step per batch of windows, finite losses', async () => {
  const users = seqs.flatMap((s, u) => Array.from(s, () => u));
  const items = seqs.flatMap((s) => Array.from(s));
  const ds = datasetFromArrays({ interactions: { users, items }, items: { ids: Array.from({ length: numItems }, (_, i) => i) } });
  const cfg: TrainConfig = deepMerge(deepMerge(defaultTrainConfig, presetOverrides('sasrec')), {
    seed: 1, epochs: 2, maxLen: 8, windowStride: 3, batchSize: 2, patience: 5, sasrec: { dim: 8, inner: 16, dropout: 0.2 },
  });
  let steps = 0;
  const res = await train(ds, cfg, { onStep: (stage, _i, perEpoch) => void (stage === 'sal' && (steps = perEpoch)) });
  // leaveOneOut keeps all but the last two items of each sequence (sequences under 3 whole).
  const train0 = ds.sequences.map((s) => (s.length < 3 ? s : s.subarray(0, s.length - 2)));
  const windows = epochBatches(train0, ds.numItems, cfg, 1).reduce((a, b) => a + b.batch, 0);
  expect(windows).toBeGreaterThan(train0.filter((s) => s.length >= 2).length);
  expect(steps).toBe(Math.ceil(windows / 2));
  expect(res.log.filter((l) => l.stage === 'sal').every((l) => Number.isFinite(l.loss))).toBe(true);
});
