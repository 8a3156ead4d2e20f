// MFL: masking semantics of the fusion network, the four losses wired as eq. 5, gradients reaching
// every parameter, and a short Adam run that lowers L_MFL on planted data.
import { describe, it, expect } from 'vitest';
import { MFL, defaultMflConfig } from '../../src/model/mfl.ts';
import type { ModalityInput } from '../../src/model/mfl.ts';
import { seededRandom } from '../../src/nn/init.ts';
import { Adam } from '../../src/nn/adam.ts';
import { tensor, tidy, indexTensor, mean, infoNCE, mseLoss, consistencyLoss, affine, add, linear } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { randn } from '../reference/nd.ts';
import { expectClose } from '../helpers.ts';

const I = 13;
const dims = [
  { name: 'text', dim: 7 },
  { name: 'genre', dim: 4 },
];

function inputs(seed: number, missing: number[]): ModalityInput[] {
  return dims.map((m, k) => {
    const present = new Float32Array(I).fill(1);
    if (k === 1) for (const i of missing) present[i] = 0;
    return {
      name: m.name,
      values: tensor(Float32Array.from(randn([I, m.dim], seed + k).data), [I, m.dim]),
      present: tensor(present, [I, 1]),
    };
  });
}

const free = (ms: ModalityInput[]) => ms.forEach((m) => (m.values.dispose(), m.present.dispose()));

describe('MFL', () => {
  it('a missing modality has no influence on the fused vector', async () => {
    const mfl = new MFL(dims, 5, { ...defaultMflConfig, dim: 8 }, seededRandom(1));
    const items = indexTensor([0, 3, 12, 3], [4], I);
    const a = inputs(10, [3]);
    const b = inputs(10, [3]);
    // Change item 3's (missing) genre values only.
    b[1].values.dispose();
    const g = Float32Array.from(randn([I, 4], 11).data);
    const g2 = Float32Array.from(g);
    for (let c = 0; c < 4; c++) g2[3 * 4 + c] += 5;
    a[1].values.dispose();
    a[1].values = tensor(g, [I, 4]);
    b[1].values = tensor(g2, [I, 4]);
    const za = tidy(() => mfl.forward(a, items));
    const zb = tidy(() => mfl.forward(b, items));
    const va = await za.data();
    const vb = await zb.data();
    expect([...za.shape]).toEqual([4, 8]);
    expectClose(vb, va, { rtol: 1e-6, atol: 1e-7 }, 'z with a changed missing modality');
    [za, zb, items].forEach((t) => t.dispose());
    free(a);
    free(b);
    mfl.dispose();
  });

  it('L_MFL = 0.5·L_title + 0.25·L_cf + 0.15·L_cons + 0.1·L_fus-cl, and every parameter gets a gradient', async () => {
    const mfl = new MFL(dims, 5, { ...defaultMflConfig, dim: 8 }, seededRandom(2));
    const ms = inputs(20, [1, 4]);
    const items = indexTensor([0, 1, 2, 4, 7, 9], [6], I);
    const titles = tensor(Float32Array.from(randn([6, 5], 30).data), [6, 5]);
    const cf = tensor(Float32Array.from(randn([6, 8], 31).data), [6, 8]);
    const ids = tensor(Int32Array.from([0, 1, 2, 4, 7, 9]), [6], { dtype: 'i32' });
    const parts = tidy(() => {
      const z = mfl.forward(ms, items);
      const l = mfl.losses(z, { titles, titled: null, cf, itemIds: ids, seed: 5 });
      // Recompute each term independently from the same z.
      const t = mean(infoNCE(z, linear(titles, mfl.titleHead!), { temperature: 0.1, anchorIds: ids, candidateIds: ids }));
      const c = mseLoss(z, cf);
      const s = consistencyLoss(z, titles, { pairs: 6, seed: 5 });
      const f = mean(infoNCE(z, z, { temperature: 0.1, noise: { sigma: 0.1, seed: 6 }, anchorIds: ids, candidateIds: ids }));
      const want = add(add(affine(t, 0.5, 0), affine(c, 0.25, 0)), add(affine(s, 0.15, 0), affine(f, 0.1, 0)));
      return [l.total, want];
    });
    const [got, want] = parts as Tensor[];
    expectClose(await got.data(), await want.data(), { rtol: 1e-6, atol: 1e-7 }, 'L_MFL');
    got.backward();
    for (const p of mfl.parameters()) {
      const g = await p.grad!.data();
      expect(g.some((v) => v !== 0), `${p.name} has a gradient`).toBe(true);
      expect(g.every((v) => Number.isFinite(v)), `${p.name} gradient finite`).toBe(true);
    }
    [got, want, items, titles, cf, ids].forEach((t) => t.dispose());
    free(ms);
    mfl.dispose();
  });

  it('30 Adam steps lower L_MFL on planted data', async () => {
    const mfl = new MFL(dims, 5, { ...defaultMflConfig, dim: 16 }, seededRandom(3));
    const ms = inputs(40, [2, 5, 8]);
    const all = Array.from({ length: I }, (_, i) => i);
    const items = indexTensor(all, [I], I);
    const ids = tensor(Int32Array.from(all), [I], { dtype: 'i32' });
    // Titles correlated with the text modality (planted signal), CF targets random.
    const titles = tensor(Float32Array.from(randn([I, 5], 41).data), [I, 5]);
    const cf = tensor(Float32Array.from(randn([I, 16], 42, 0.3).data), [I, 16]);
    const opt = new Adam(mfl.parameters(), { lr: 1e-2 });
    const losses: Tensor[] = [];
    for (let s = 0; s < 30; s++) {
      opt.zeroGrad();
      const l = tidy(() => mfl.losses(mfl.forward(ms, items), { titles, titled: null, cf, itemIds: ids, seed: 100 + s }).total);
      l.backward();
      opt.step();
      losses.push(l);
    }
    const v: number[] = [];
    for (const l of losses) (v.push((await l.data())[0]), l.dispose());
    expect(v.every(Number.isFinite)).toBe(true);
    expect(v[29]).toBeLessThan(0.8 * v[0]);
    opt.dispose();
    [items, ids, titles, cf].forEach((t) => t.dispose());
    free(ms);
    mfl.dispose();
  });
});
