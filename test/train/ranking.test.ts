// Evaluation ranks by the score the model trains: MUFASA's `model.score` (dot by default, or cosine),
// dot for SASRec.
// A regression test for a real bug: MUFASA was trained with cosine InfoNCE but ranked by raw u·z, so
// item norms (never seen by the loss) reordered the catalog; on ML-100K the same checkpoint scored test
// HR@10 0.103 ranked by u·z and 0.173 ranked by cosine.
import { it, expect } from 'vitest';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { leaveOneOut } from '../../src/data/split.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { buildModel, uploadModalities } from '../../src/train/build.ts';
import { evaluateCases, historyBatch } from '../../src/train/evaluate.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { finalize } from '../../src/train/metrics.ts';
import { indexTensor } from '../../src/tensor/ops/gather.ts';
import { reshape } from '../../src/tensor/ops/layout.ts';
import { tidy } from '../../src/tensor/scope.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { ranksRef, metricsRef } from '../reference/metrics.ts';

/** Float64 metrics of `cases` from read-back user and item vectors, scored by cosine or dot. */
function referenceMetrics(z: Float32Array, users: Float32Array, cases: ReturnType<typeof leaveOneOut>['test'], I: number, d: number, cosine: boolean): { ranks: Int32Array; m: Record<string, number> } {
  const U = cases.length;
  const norm = (v: Float32Array, r: number) => (cosine ? Math.max(Math.hypot(...v.subarray(r * d, (r + 1) * d)), 1e-12) : 1);
  const scores = new Float64Array(U * I);
  for (let u = 0; u < U; u++) {
    const nu = norm(users, u);
    for (let i = 0; i < I; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += users[u * d + c] * z[i * d + c];
      scores[u * I + i] = s / (nu * norm(z, i));
    }
  }
  const offsets = new Int32Array(U + 1);
  const ex: number[] = [];
  cases.forEach((c, u) => {
    for (const it of c.seen) if (it !== c.targets[0]) ex.push(it);
    offsets[u + 1] = ex.length;
  });
  const ranks = ranksRef(scores, I, U, Int32Array.from(cases, (c) => c.targets[0]), 1, offsets, Int32Array.from(ex));
  return { ranks, m: metricsRef(ranks, 1, [10, 100]) };
}

for (const [arch, score] of [['mufasa', 'dot'], ['mufasa', 'cosine'], ['sasrec', 'dot']] as const) {
  it(`${arch}: evaluateCases ranks by the trained score (${score})`, async () => {
    const ds = makeSynthetic({ seed: 5, users: 80, items: 150 });
    // MUFASA's score is its config's (model.score); SASRec's is always dot.
    const cfg: TrainConfig = { ...defaultTrainConfig, arch, maxLen: 40, model: { ...defaultTrainConfig.model, dim: 16, score }, sasrec: { ...defaultTrainConfig.sasrec, dim: 16 } };
    const model = buildModel(ds, cfg);
    const mods = uploadModalities(ds, cfg.excludeModalities);
    const all = indexTensor(Array.from({ length: ds.numItems }, (_, i) => i), [ds.numItems], ds.numItems);
    const z = tidy(() => noGrad(() => model.itemVectors(mods, all)));
    try {
      // Item norms must differ for the two scores to rank differently: scale every item by a factor
      // in [0.5, 2] (a cosine model's ranking ignores it, a dot model's does not).
      const zData = (await z.data()) as Float32Array;
      for (let i = 0; i < ds.numItems; i++) for (let c = 0; c < 16; c++) zData[i * 16 + c] *= 0.5 + 1.5 * ((i * 37) % 101) / 100;
      z.engine.stream.write(z.binding('test').buffer, z.binding('test').offset!, zData);
      const cases = leaveOneOut(ds, { maxLen: cfg.maxLen }).test;
      const gpu = finalize(await evaluateCases(model, z, cases, cfg.maxLen));
      const u = tidy(() => noGrad(() => reshape(model.userVectors(z, historyBatch(cases, ds.numItems, cfg.maxLen), true), [cases.length, 16])));
      const users = (await u.data()) as Float32Array;
      u.dispose();
      const cos = referenceMetrics(zData, users, cases, ds.numItems, 16, true);
      const dot = referenceMetrics(zData, users, cases, ds.numItems, 16, false);
      const want = model.similarity === 'cosine' ? cos : dot;
      const other = model.similarity === 'cosine' ? dot : cos;
      expect(model.similarity).toBe(score);
      // The two scores must rank most targets differently here, else this test could not tell them apart.
      const differ = want.ranks.filter((r, i) => r !== other.ranks[i]).length;
      expect(differ).toBeGreaterThan(cases.length / 2);
      expect(Math.abs(other.m['NDCG@100'] - want.m['NDCG@100'])).toBeGreaterThan(1e-3);
      // float32 scores may swap near-ties: one swap moves NDCG@100 by < 1/U·(1/log2(r+2) − 1/log2(r+3)).
      for (const k of ['NDCG@100', 'HR@100', 'NDCG@10', 'MRR@10']) expect(Math.abs(gpu[k] - want.m[k]), k).toBeLessThan(5e-4);
    } finally {
      z.dispose();
      all.dispose();
      mods.forEach((m) => (m.values.dispose(), m.present.dispose()));
      model.dispose();
    }
  });
}
