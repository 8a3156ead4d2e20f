// MufasaConfig.positions (SASRec-style learned absolute positions added to H before SAL; off by
// default): with the table it equals SAL over H + P[min(t, P − 1)] built on the CPU, padding rows get
// no position, and the table receives a gradient. Float32 end to end, so tolerance 1e-5.
import { it, expect } from 'vitest';
import { buildModel, uploadModalities } from '../../src/train/build.ts';
import { Mufasa } from '../../src/model/mufasa.ts';
import { tidy, indexTensor, tensor } from '../../src/tensor/index.ts';
import { expectClose } from '../helpers.ts';
import { ds, I, batch, tinyConfig } from './tiny-mufasa.ts';

const P = 4; // fewer rows than the longest sequence: positions ≥ 3 share row 3
const cfg = tinyConfig({ positions: P, layers: 1 });

it('positions: user vectors equal SAL(H + P[min(t, P−1)]); the table gets a gradient', async () => {
  const m = buildModel(ds, cfg) as Mufasa;
  const mods = uploadModalities(ds, cfg.excludeModalities);
  const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
  try {
    expect(m.posEmb?.shape).toEqual([P, 8]);
    const got = tidy(() => m.userVectors(m.itemVectors(mods, all), batch));
    const h = tidy(() => m.sequenceVectors(m.itemVectors(mods, all), batch));
    const hv = (await h.data()) as Float32Array;
    const pv = (await m.posEmb!.data()) as Float32Array;
    h.dispose();
    const withPos = Float32Array.from(hv);
    for (let b = 0; b < 3; b++)
      for (let t = 0; t < batch.lengths[b]; t++) for (let c = 0; c < 8; c++) withPos[(b * 7 + t) * 8 + c] += pv[Math.min(t, P - 1) * 8 + c];
    const want = tidy(() => {
      const hp = tensor(withPos, [3, 7, 8]);
      return m.withHead(m.sal.forward(hp, batch.lengths), hp);
    });
    expectClose(await got.data(), await want.data(), { rtol: 1e-5, atol: 1e-5 }, 'user vectors with positions');
    // Without the positions the output differs (the test can tell them apart).
    const noPos = tidy(() => {
      const h0 = tensor(hv, [3, 7, 8]);
      return m.withHead(m.sal.forward(h0, batch.lengths), h0);
    });
    const a = await got.data();
    const b = await noPos.data();
    expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-4)).toBe(true);
    [got, want, noPos].forEach((t) => t.dispose());
    const l = tidy(() => m.userItemLoss(m.itemVectors(mods, all), batch));
    l.backward();
    const g = (await m.posEmb!.grad!.data()) as Float32Array;
    expect(g.some((v) => v !== 0)).toBe(true);
    l.dispose();
  } finally {
    all.dispose();
    mods.forEach((x) => (x.values.dispose(), x.present.dispose()));
    m.dispose();
  }
});
