// SASRec in the engine (issue #5): a tiny model's user vectors, loss and every parameter's gradient
// against the float64 reference (test/reference/sasrec.ts, gradients by central differences of it),
// dropout reproducible from the seed, and training through the trainer beats popularity.
import { describe, it, expect } from 'vitest';
import { SASRec, defaultSasrecConfig } from '../../src/model/sasrec.ts';
import type { SasrecConfig } from '../../src/model/sasrec.ts';
import type { SequenceBatch } from '../../src/model/sequence.ts';
import { seededRandom } from '../../src/nn/init.ts';
import { tidy } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { train } from '../../src/train/trainer.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { presetOverrides, deepMerge } from '../../src/model/presets.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { sasrecHiddenRef, sasrecLossRef } from '../reference/sasrec.ts';
import { expectClose } from '../helpers.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { popularityHR10 } from '../train/popularity.ts';

// Odd sizes: d = 6 with 2 heads of 3, 7 items, L = 5 with 4 learned positions spare, ragged lengths.
const I = 7;
const cfg: SasrecConfig = { ...defaultSasrecConfig, dim: 6, heads: 2, layers: 2, inner: 10, dropout: 0, initStd: 0.4, layerNormEps: 1e-5 };
const batch: SequenceBatch = {
  items: Int32Array.from([3, 1, 4, 1, 5, 2, 6, 0, I, I, 5, 3, I, I, I]),
  lengths: Int32Array.from([5, 3, 2]),
  batch: 3,
  maxLen: 5,
  // Row 0 as a later window of a longer sequence (makeBatches' windowStride): positions 0–1 are context only.
  firstTarget: Int32Array.from([2, 0, 0]),
};

async function paramsOf(m: SASRec): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const p of m.parameters()) out.set(p.name!, Float64Array.from(await p.data()));
  return out;
}

describe('SASRec', () => {
  it('user vectors, loss and all parameter gradients match the float64 reference', async () => {
    const m = new SASRec(cfg, I, 9, seededRandom(4));
    const P = await paramsOf(m);
    // Forward: hidden states of valid positions (padding rows are never read).
    const [u, loss] = tidy(() => {
      const z = m.itemVectors([], null as unknown as Tensor);
      return [m.userVectors(z, batch), m.userItemLoss(z, batch)];
    }) as Tensor[];
    const uv = await u.data();
    const want = sasrecHiddenRef(cfg, P, I, batch);
    const got: number[] = [];
    const ref: number[] = [];
    for (let b = 0; b < batch.batch; b++) {
      for (let t = 0; t < batch.lengths[b]; t++) {
        for (let k = 0; k < cfg.dim; k++) {
          got.push(uv[(b * batch.maxLen + t) * cfg.dim + k]);
          ref.push(want[(b * batch.maxLen + t) * cfg.dim + k]);
        }
      }
    }
    // f32 through 2 blocks of LN/attention/FFN: relative 1e-4 of O(1) layer-normed values.
    expectClose(got, ref, { rtol: 1e-4, atol: 1e-4 }, 'user vectors');
    const l0 = sasrecLossRef(cfg, P, I, batch);
    expectClose([(await loss.data())[0]], [l0], { rtol: 1e-5, atol: 1e-6 }, 'loss');
    // Backward vs central differences of the float64 reference (h = 1e-6).
    loss.backward();
    for (const p of m.parameters()) {
      const w = P.get(p.name!)!;
      const num = new Float64Array(w.length);
      for (let i = 0; i < w.length; i++) {
        const keep = w[i];
        w[i] = keep + 1e-6;
        const lp = sasrecLossRef(cfg, P, I, batch);
        w[i] = keep - 1e-6;
        const lm = sasrecLossRef(cfg, P, I, batch);
        w[i] = keep;
        num[i] = (lp - lm) / 2e-6;
      }
      expect(p.grad, `${p.name} has a gradient`).toBeTruthy();
      // f32 gradients through LN and softmax: 2e-3 relative, 2e-5 absolute (gradients are O(0.1)).
      expectClose(await p.grad!.data(), num, { rtol: 2e-3, atol: 2e-5 }, `grad ${p.name}`);
    }
    u.dispose();
    loss.dispose();
    m.dispose();
  }, 60_000);

  it('dropout: the same seed gives the same loss, another seed another one; userVectors has none', async () => {
    const m = new SASRec({ ...cfg, dropout: 0.3 }, I, 5, seededRandom(5));
    const run = (f: (z: Tensor) => Tensor) => tidy(() => f(m.itemVectors([], null as unknown as Tensor)));
    const ls = [run((z) => m.userItemLoss(z, batch, { seed: 1 })), run((z) => m.userItemLoss(z, batch, { seed: 1 })), run((z) => m.userItemLoss(z, batch, { seed: 2 }))];
    const v = [];
    for (const l of ls) v.push((await l.data())[0]);
    expect(v[0]).toBe(v[1]);
    expect(v[2]).not.toBe(v[0]);
    const P = await paramsOf(m);
    const u = run((z) => m.userVectors(z, batch, true));
    const want = sasrecHiddenRef(cfg, P, I, batch);
    const uv = await u.data();
    const ref = Array.from(batch.lengths).flatMap((n, b) => Array.from(want.subarray((b * 5 + n - 1) * cfg.dim, (b * 5 + n) * cfg.dim)));
    expectClose(uv, ref, { rtol: 1e-4, atol: 1e-4 }, 'last-position user vectors');
    [...ls, u].forEach((t) => t.dispose());
    m.dispose();
  });

  it('trained by the trainer on synthetic data, beats popularity', async () => {
    const ds = makeSynthetic({ seed: 3, users: 150, items: 200 });
    const pop = popularityHR10(ds);
    const c: TrainConfig = deepMerge(deepMerge(defaultTrainConfig, presetOverrides('sasrec')), { seed: 3, epochs: 4, lr: 5e-3, patience: 4, sasrec: { dim: 32, dropout: 0.2, inner: 64 } });
    const res = await train(ds, c);
    const hr = res.test['HR@10'];
    console.log(`synthetic: popularity HR@10 ${pop.toFixed(3)}, SASRec HR@10 ${hr.toFixed(3)} (best epoch ${res.bestEpoch}, ${res.wallSeconds.toFixed(1)} s, ${res.numParameters} parameters)`);
    expect(res.log.every((l) => Number.isFinite(l.loss))).toBe(true);
    expect(res.log.some((l) => l.stage === 'mfl' || l.stage === 'cf')).toBe(false);
    expect(hr).toBeGreaterThan(1.5 * pop);
  }, 120_000);

  it('resume: 1 epoch + 1 resumed equals 2 straight (dropout seeds are part of the saved state)', async () => {
    const ds = makeSynthetic({ seed: 6, users: 30, items: 40, minSeqLen: 6, maxSeqLen: 12 });
    const c: TrainConfig = deepMerge(deepMerge(defaultTrainConfig, presetOverrides('sasrec')), { seed: 2, epochs: 2, batchSize: 8, lossReadEvery: 2, sasrec: { dim: 8, inner: 16, dropout: 0.3 } });
    const straight = await train(ds, c);
    const dir = mkdtempSync(join(tmpdir(), 'sasrec-resume-'));
    try {
      await train(ds, { ...c, epochs: 1 }, { lastDir: join(dir, 'last') });
      const resumed = await train(ds, c, { resumeFrom: join(dir, 'last'), lastDir: join(dir, 'last') });
      const sal = (r: typeof straight) => r.log.filter((l) => l.stage === 'sal').map((l) => [l.epoch, l.loss, l.valid]);
      expect(sal(resumed)).toEqual(sal(straight));
      expect(resumed.test).toEqual(straight.test);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
