// MufasaConfig.idDropout (issue #5 model change; DropoutNet's input dropout, the paper has none):
// - in training each item's whole ID embedding row is kept, scaled by 1/(1 − p), or left out of z,
//   by one draw per item from the step seed at ID_DROPOUT_OFFSET (the CPU Philox reference's mask);
//   evaluation (no seed) adds every row in full;
// - the gradient of the ID table is the upstream gradient times that row mask (float64 reference), and
//   the tower's gradient is untouched by it;
// - config errors name the field; train() draws the masks in the SAL stage (the loss changes).
import { it, expect } from 'vitest';
import { train } from '../../src/train/trainer.ts';
import { buildModel, uploadModalities } from '../../src/train/build.ts';
import { deepMerge } from '../../src/model/presets.ts';
import { Mufasa, ID_DROPOUT_OFFSET, checkMufasaConfig, defaultMufasaConfig } from '../../src/model/mufasa.ts';
import { tidy, indexTensor, tensor, mul, sum } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { dropoutMaskRef } from '../reference/gather.ts';
import { randn } from '../reference/nd.ts';
import { expectClose } from '../helpers.ts';
import { ds, I, D, tinyConfig } from './tiny-mufasa.ts';

const P = 0.4;

async function withModel(f: (m: Mufasa, mods: ReturnType<typeof uploadModalities>, all: Tensor) => Promise<void>): Promise<void> {
  const cfg = tinyConfig({ idDropout: P });
  const m = buildModel(ds, cfg) as Mufasa;
  const mods = uploadModalities(ds, cfg.excludeModalities);
  const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
  try {
    await f(m, mods, all);
  } finally {
    all.dispose();
    mods.forEach((x) => (x.values.dispose(), x.present.dispose()));
    m.dispose();
  }
}

it('idDropout: in training each ID row is kept (×1/(1 − p)) or dropped by one draw per item; evaluation adds every row', async () => {
  await withModel(async (m, mods, all) => {
    const [tower, zEval, z7, z8] = tidy(() => [m.fusion!.forward(mods, all), m.itemVectors(mods, all), m.itemVectors(mods, all, { seed: 7 }), m.itemVectors(mods, all, { seed: 8 })]);
    try {
      const t = await tower.data();
      const id = await m.idEmb!.data();
      const scale = 1 / (1 - P);
      const want = (mask: Uint8Array | null) => Float64Array.from({ length: I * D }, (_, k) => t[k] + id[k] * (mask ? mask[Math.floor(k / D)] * scale : 1));
      expectClose(await zEval.data(), want(null), { rtol: 1e-6, atol: 1e-7 }, 'evaluation: tower + ID');
      const m7 = dropoutMaskRef(I, P, 7, ID_DROPOUT_OFFSET);
      const m8 = dropoutMaskRef(I, P, 8, ID_DROPOUT_OFFSET);
      // The draw must actually drop some rows and keep others, and another seed must draw another mask.
      expect(m7.reduce((a, v) => a + v, 0)).toBeGreaterThan(0);
      expect(m7.reduce((a, v) => a + v, 0)).toBeLessThan(I);
      expect(Array.from(m7)).not.toEqual(Array.from(m8));
      expectClose(await z7.data(), want(m7), { rtol: 1e-6, atol: 1e-7 }, 'training, seed 7');
      expectClose(await z8.data(), want(m8), { rtol: 1e-6, atol: 1e-7 }, 'training, seed 8');
    } finally {
      [tower, zEval, z7, z8].forEach((x) => x.dispose());
    }
  });
});

it('idDropout: d(ID table) is the upstream gradient times the row mask, d(tower) is not masked (float64 reference)', async () => {
  await withModel(async (m, mods, all) => {
    const w = randn([I, D], 3);
    const wt = tensor(Float32Array.from(w.data), [I, D]);
    // Loss Σ w ⊙ z: dz = w, so d idEmb_i = w_i·mask_i/(1 − p) and d tower = w.
    const loss = tidy(() => sum(mul(m.itemVectors(mods, all, { seed: 11 }), wt)));
    try {
      loss.backward();
      const mask = dropoutMaskRef(I, P, 11, ID_DROPOUT_OFFSET);
      const want = Float64Array.from({ length: I * D }, (_, k) => (w.data[k] * mask[Math.floor(k / D)]) / (1 - P));
      expectClose(await m.idEmb!.grad!.data(), want, { rtol: 1e-6, atol: 1e-7 }, 'd idEmb');
      // The tower still learns from every item, dropped or not: its gradient does not depend on the mask.
      const loss2 = tidy(() => sum(mul(m.itemVectors(mods, all), wt)));
      const gTower = m.fusion!.parameters().map((p) => p.grad);
      const first = await Promise.all(gTower.map((g) => (g ? g.data() : Promise.resolve(null))));
      for (const p of m.parameters()) (p.grad?.dispose(), (p.grad = null));
      loss2.backward();
      const second = await Promise.all(m.fusion!.parameters().map((p) => (p.grad ? p.grad.data() : Promise.resolve(null))));
      expect(first.some((g) => g !== null)).toBe(true);
      first.forEach((g, i) => {
        expect(g === null, `tower parameter ${i} has a gradient in both`).toBe(second[i] === null);
        if (g && second[i]) expectClose(g, second[i]!, { rtol: 1e-5, atol: 1e-6 }, `tower parameter ${i}`);
      });
      loss2.dispose();
    } finally {
      loss.dispose();
      wt.dispose();
      for (const p of m.parameters()) (p.grad?.dispose(), (p.grad = null));
    }
  });
});

it('idDropout: config errors name the field; the model counts as stochastic', () => {
  const cfg = (x: object) => ({ ...defaultMufasaConfig, ...x });
  expect(() => checkMufasaConfig(cfg({ idDropout: 1 }), 3)).toThrow(/idDropout must be in \[0, 1\), got 1/);
  expect(() => checkMufasaConfig(cfg({ idDropout: -0.1 }), 3)).toThrow(/idDropout must be in \[0, 1\), got -0.1/);
  expect(() => checkMufasaConfig(cfg({ idDropout: 0.2, useIdEmbedding: false }), 3)).toThrow(/idDropout 0.2 .*needs useIdEmbedding/);
  expect(() => checkMufasaConfig(cfg({ idDropout: 0.2, itemTower: 'concat' }), 0)).toThrow(/idDropout 0.2 .*no content modality/);
  const m = buildModel(ds, tinyConfig({ idDropout: 0.2, dropout: 0, layerDropout: 0 })) as Mufasa;
  try {
    expect(m.stochastic).toBe(true);
  } finally {
    m.dispose();
  }
});

it('train(): the SAL stage draws ID masks (same seed, idDropout 0.5 vs 0: another SAL loss, the same earlier losses)', async () => {
  const base = deepMerge(tinyConfig({}), { epochs: 1, mflEpochs: 1, cfEpochs: 1, batchSize: 8 });
  const run = async (p: number) => train(ds, deepMerge(base, { model: { idDropout: p } }));
  const [off, on] = [await run(0), await run(0.5)];
  const salLoss = (r: Awaited<ReturnType<typeof run>>) => r.log.find((l) => l.stage === 'sal')!.loss;
  expect(Number.isFinite(salLoss(on))).toBe(true);
  expect(salLoss(on)).not.toBe(salLoss(off));
  // The stages before SAL draw nothing from idDropout: their losses are bit for bit the same.
  const before = (r: Awaited<ReturnType<typeof run>>) => r.log.filter((l) => l.stage !== 'sal').map((l) => l.loss);
  expect(before(on)).toEqual(before(off));
});
