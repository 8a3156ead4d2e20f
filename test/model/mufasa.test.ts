// MUFASA wiring: padding gives zero item vectors, the user–item loss is the InfoNCE of the right
// (user, next item) pairs, and a few Adam steps on planted sequences lower it (both loss modes).
import { describe, it, expect } from 'vitest';
import { Mufasa, defaultMufasaConfig } from '../../src/model/mufasa.ts';
import type { SequenceBatch } from '../../src/model/mufasa.ts';
import type { ModalityInput } from '../../src/model/mfl.ts';
import { seededRandom } from '../../src/nn/init.ts';
import { Adam } from '../../src/nn/adam.ts';
import { tensor, tidy, indexTensor } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { randn } from '../reference/nd.ts';

const I = 24;
const dims = [{ name: 'a', dim: 6 }, { name: 'b', dim: 3 }];

function modalities(): ModalityInput[] {
  // Items of topic k = i % 4 share a signal: sequences below stay within a topic.
  return dims.map((m, k) => {
    const v = randn([I, m.dim], 50 + k, 0.3).data.map((x, j) => x + (Math.floor(j / m.dim) % 4 === j % m.dim % 4 ? 1 : 0));
    return { name: m.name, values: tensor(Float32Array.from(v), [I, m.dim]), present: tensor(new Float32Array(I).fill(1), [I, 1]) };
  });
}

function batch(): SequenceBatch {
  const B = 6, L = 9;
  const items = new Int32Array(B * L).fill(I);
  const lengths = Int32Array.from([9, 7, 5, 9, 3, 8]);
  const r = seededRandom(9);
  for (let b = 0; b < B; b++) {
    const topic = b % 4;
    for (let t = 0; t < lengths[b]; t++) items[b * L + t] = topic + 4 * Math.floor(r() * 6);
  }
  return { items, lengths, batch: B, maxLen: L };
}

describe('Mufasa', () => {
  it('sequence vectors are the item vectors, zero at padding', async () => {
    const m = new Mufasa({ ...defaultMufasaConfig, dim: 8, sal: { ...defaultMufasaConfig.sal, blockSize: 2, topK: 2 } }, I, dims, 0, seededRandom(1));
    const ms = modalities();
    const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
    const bt = batch();
    const [z, h] = tidy(() => {
      const z = m.itemVectors(ms, all);
      return [z, m.sequenceVectors(z, bt)];
    }) as Tensor[];
    const zv = await z.data();
    const hv = await h.data();
    for (let p = 0; p < bt.items.length; p++) {
      const it = bt.items[p];
      for (let c = 0; c < 8; c++) expect(hv[p * 8 + c]).toBe(it === I ? 0 : zv[it * 8 + c]);
    }
    [z, h, all].forEach((t) => t.dispose());
    ms.forEach((x) => (x.values.dispose(), x.present.dispose()));
    m.dispose();
  });

  for (const mode of ['inBatch', 'catalog'] as const) {
    it(`20 Adam steps lower the ${mode} user–item loss on topic-coherent sequences`, async () => {
      const m = new Mufasa({ ...defaultMufasaConfig, dim: 16, userItemLoss: mode, sal: { ...defaultMufasaConfig.sal, blockSize: 2, topK: 2 } }, I, dims, 0, seededRandom(2));
      const ms = modalities();
      const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
      const bt = batch();
      const opt = new Adam(m.parameters(), { lr: 1e-2 });
      const losses: Tensor[] = [];
      for (let s = 0; s < 20; s++) {
        opt.zeroGrad();
        const l = tidy(() => m.userItemLoss(m.itemVectors(ms, all), bt));
        l.backward();
        opt.step();
        losses.push(l);
      }
      const v: number[] = [];
      for (const l of losses) (v.push((await l.data())[0]), l.dispose());
      expect(v.every(Number.isFinite)).toBe(true);
      expect(v[19]).toBeLessThan(0.9 * v[0]);
      opt.dispose();
      all.dispose();
      ms.forEach((x) => (x.values.dispose(), x.present.dispose()));
      m.dispose();
    });
  }
});
