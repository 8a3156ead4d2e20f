// MUFASA ablation presets (issue #5 §1; paper Tables 5–6): every preset builds, its loss is finite and
// reaches every parameter; the w/o-MFL item tower and the w/o-SAL mean pooling equal their float64
// definitions; each MFL loss can be switched off alone; w/o-MFL trains without CF or MFL stages.
import { describe, it, expect } from 'vitest';
import { train } from '../../src/train/trainer.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { buildModel, uploadModalities } from '../../src/train/build.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { PRESETS, presetOverrides, deepMerge } from '../../src/model/presets.ts';
import { Mufasa } from '../../src/model/mufasa.ts';
import { tidy, indexTensor, tensor, gatherRows } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { expectClose } from '../helpers.ts';
import { ds, I, batch } from './tiny-mufasa.ts';

const small: TrainConfig = deepMerge(defaultTrainConfig, { model: { dim: 8, sal: { blockSize: 2, topK: 2 }, layers: 1 }, sasrec: { dim: 8, inner: 16 }, maxLen: 12 });
// The shared tiny batch: row 0 is long enough (t up to 5 with blocks of 2) that SAL's block branch
// sees two blocks (with one visible block its softmax is constant and W_q of that branch would get no
// gradient).
const L = batch.maxLen;

function withModel<T>(name: string, f: (m: ReturnType<typeof buildModel>, z: () => Tensor) => Promise<T>): Promise<T> {
  const cfg = deepMerge(small, presetOverrides(name));
  const m = buildModel(ds, cfg);
  const mods = uploadModalities(ds, cfg.excludeModalities);
  const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
  return f(m, () => m.itemVectors(mods, all)).finally(() => {
    all.dispose();
    mods.forEach((x) => (x.values.dispose(), x.present.dispose()));
    m.dispose();
  });
}

describe('ablation presets', () => {
  for (const name of Object.keys(PRESETS)) {
    it(`${name}: loss finite, every parameter gets a gradient`, async () => {
      await withModel(name, async (m, z) => {
        const names = m.parameters().map((p) => p.name);
        expect(new Set(names).size).toBe(names.length);
        const l = tidy(() => m.userItemLoss(z(), batch, { seed: 1 }));
        try {
          l.backward();
          expect(Number.isFinite((await l.data())[0])).toBe(true);
          // The title head only feeds L_title (an MFL loss), not the user–item loss.
          for (const p of m.parameters().filter((q) => q.name !== 'mfl.titleHead')) {
            expect(p.grad, `${name}: ${p.name}`).toBeTruthy();
            const g = await p.grad!.data();
            expect(g.some((v) => v !== 0), `${name}: ${p.name} gradient is all zero`).toBe(true);
          }
        } finally {
          l.dispose();
        }
      });
    });
  }

  it('mufasa-no-mfl: z = W·[x_m·p_m …; p_m …] + b + id, no MFL', async () => {
    await withModel('mufasa-no-mfl', async (m, z) => {
      const mm = m as Mufasa;
      expect(mm.fusion).toBeNull();
      const zt = tidy(() => z());
      const got = await zt.data();
      const W = await mm.concatProj!.w.data();
      const b = await mm.concatProj!.b.data();
      const id = await mm.idEmb!.data();
      const mods = ds.items.modalities.filter((x) => !small.excludeModalities.includes(x.name));
      const d = 8;
      const want = new Float64Array(I * d);
      for (let i = 0; i < I; i++) {
        const x: number[] = [];
        for (const md of mods) for (let k = 0; k < md.dim; k++) x.push(md.present[i] ? md.values[i * md.dim + k] : 0);
        for (const md of mods) x.push(md.present[i] ? 1 : 0);
        for (let c = 0; c < d; c++) {
          let s = b[c] + id[i * d + c];
          x.forEach((v, k) => (s += v * W[k * d + c]));
          want[i * d + c] = s;
        }
      }
      expect(mods.some((md) => Array.from(md.present).some((p) => !p))).toBe(true); // a missing modality is exercised
      expectClose(got, want, { rtol: 1e-5, atol: 1e-6 }, 'concat tower');
      zt.dispose();
    });
  });

  it('mufasa-no-id: z is the MFL output alone (no ID embedding)', async () => {
    await withModel('mufasa-no-id', async (m, z) => {
      const mm = m as Mufasa;
      expect(mm.idEmb).toBeNull();
      expect(m.parameters().some((p) => p.name === 'item.id')).toBe(false);
      const mods = uploadModalities(ds, small.excludeModalities);
      const all = indexTensor(Array.from({ length: I }, (_, i) => i), [I], I);
      const [zt, ft] = tidy(() => [z(), mm.mfl.forward(mods, all)]) as Tensor[];
      expect(Array.from(await zt.data())).toEqual(Array.from(await ft.data()));
      [zt, ft, all].forEach((t) => t.dispose());
      mods.forEach((x) => (x.values.dispose(), x.present.dispose()));
    });
  });

  it("mufasa scores by dot at τ 1 (the default), mufasa-cosine by cosine at τ 0.1; ranking follows (ranking.test.ts)", async () => {
    await withModel('mufasa', async (m) => expect([m.similarity, (m as Mufasa).cfg.temperature]).toEqual(['dot', 1]));
    await withModel('mufasa-cosine', async (m) => expect([m.similarity, (m as Mufasa).cfg.temperature]).toEqual(['cosine', 0.1]));
  });

  it('mufasa-id-only: z is the ID embedding alone (no MFL, no concat tower); it needs the ID embedding; an unknown score is named', async () => {
    await withModel('mufasa-id-only', async (m, z) => {
      const mm = m as Mufasa;
      expect(mm.fusion).toBeNull();
      expect(mm.concatProj).toBeNull();
      expect(m.parameters().some((p) => p.name!.startsWith('mfl.') || p.name!.startsWith('concat.'))).toBe(false);
      const zt = tidy(() => z());
      expect(Array.from(await zt.data())).toEqual(Array.from(await mm.idEmb!.data()));
      zt.dispose();
    });
    const noId = deepMerge(small, { model: { itemTower: 'id', useIdEmbedding: false } });
    expect(() => buildModel(ds, noId)).toThrow(/itemTower 'id' .* needs useIdEmbedding/);
    expect(() => buildModel(ds, deepMerge(small, { model: { score: 'l2' } }))).toThrow(/unknown score 'l2' \(cosine, dot\)/);
    const dropped = deepMerge(small, { model: { itemTower: 'id', idDropout: 0.5 } });
    expect(() => buildModel(ds, dropped)).toThrow(/idDropout 0.5 .* itemTower 'id' has none/);
  });

  it('mufasa-no-sal: user vector at t = mean of z over items 0 … t', async () => {
    await withModel('mufasa-no-sal', async (m, z) => {
      expect((m as Mufasa).salLayer).toBeNull();
      const [zt, u, ul] = tidy(() => {
        const zz = z();
        return [zz, m.userVectors(zz, batch), m.userVectors(zz, batch, true)];
      }) as Tensor[];
      const zv = await zt.data();
      const uv = await u.data();
      const lv = await ul.data();
      const d = 8;
      const means = new Float32Array(3 * L * d);
      for (let b = 0; b < 3; b++)
        for (let t = 0; t < batch.lengths[b]; t++)
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let j = 0; j <= t; j++) s += zv[batch.items[b * L + j] * d + c];
            means[(b * L + t) * d + c] = s / (t + 1);
          }
      // The default user head (MufasaConfig.userHead, tested on its own) runs on top of the tower.
      const headed = tidy(() => (m as Mufasa).withHead(tensor(means, [3, L, d]), (m as Mufasa).sequenceVectors(z(), batch)));
      const hv = await headed.data();
      headed.dispose();
      for (let b = 0; b < 3; b++) {
        for (let t = 0; t < batch.lengths[b]; t++) {
          const want = hv.subarray((b * L + t) * d, (b * L + t + 1) * d);
          expectClose(uv.subarray((b * L + t) * d, (b * L + t + 1) * d), want, { rtol: 1e-5, atol: 1e-5 }, `mean b${b} t${t}`);
          if (t === batch.lengths[b] - 1) expectClose(lv.subarray(b * d, (b + 1) * d), want, { rtol: 1e-5, atol: 1e-5 }, `last b${b}`);
        }
      }
      [zt, u, ul].forEach((t) => t.dispose());
    });
  });

  it('each MFL loss switches off alone (L_cons survives w/o L_title)', async () => {
    for (const [name, off] of [['mufasa-no-title', 'title'], ['mufasa-no-cf', 'cf'], ['mufasa-no-cons', 'cons'], ['mufasa-no-fuscl', 'fusCl']] as const) {
      await withModel(name, async (m, z) => {
        const mfl = m.fusion!;
        const title = ds.items.modalities.find((x) => x.name === 'title')!;
        const n = 8;
        const ls = tidy(() => {
          const zz = z();
          const rows = indexTensor(Array.from({ length: n }, (_, i) => i), [n], I);
          const r = mfl.losses(gatherRows(zz, rows), {
            titles: gatherRows(tensor(title.values, [I, title.dim]), rows),
            titled: null,
            cf: gatherRows(zz, rows),
            itemIds: tensor(Int32Array.from({ length: n }, (_, i) => i), [n], { dtype: 'i32' }),
            seed: 3,
          });
          return [r.total, ...(['title', 'cf', 'cons', 'fusCl'] as const).map((k) => (r[k] ? r[k]! : tensor([NaN], [1])))];
        }) as Tensor[];
        const vals = [];
        for (const t of ls) vals.push((await t.data())[0]);
        const terms = { title: vals[1], cf: vals[2], cons: vals[3], fusCl: vals[4] };
        for (const [k, v] of Object.entries(terms)) expect(Number.isNaN(v), `${name}: ${k}`).toBe(k === off);
        ls.forEach((t) => t.dispose());
      });
    }
  });

  it('mufasa-no-mfl trains with neither CF pretraining nor an MFL stage', async () => {
    const res = await train(ds, deepMerge(deepMerge(small, presetOverrides('mufasa-no-mfl')), { epochs: 1, batchSize: 8 }));
    expect(res.log.map((l) => l.stage)).toEqual(['sal']);
    expect(Number.isFinite(res.test['HR@10'])).toBe(true);
  });

  it("itemTower 'id' trains the SAL stage only, whatever cfEpochs and mflEpochs say (there is no content to pretrain)", async () => {
    const res = await train(ds, deepMerge(small, { model: { itemTower: 'id' }, cfEpochs: 1, mflEpochs: 1, epochs: 1, batchSize: 8 }));
    expect(res.log.map((l) => l.stage)).toEqual(['sal']);
    expect(Number.isFinite(res.test['HR@10'])).toBe(true);
  });

  it('with no content modality left, MUFASA says so and names the ways out; the concat tower with IDs still builds', () => {
    const none = deepMerge(small, { excludeModalities: ['title', 'visual', 'tags'] });
    expect(() => buildModel(ds, none)).toThrow(/MFL item tower needs at least one content modality.*excludeModalities.*itemTower 'id'.*mufasa-id-only/);
    const ids = buildModel(ds, deepMerge(none, { model: { itemTower: 'concat' } })) as Mufasa;
    expect(ids.fusion).toBeNull();
    expect(ids.concatProj).toBeNull();
    ids.dispose();
  });

  it('train() rejects MUFASA without content before CF pretraining runs', async () => {
    const epochs: string[] = [];
    const cfg = deepMerge(small, { excludeModalities: ['title', 'visual', 'tags'], cfEpochs: 1, mflEpochs: 1 });
    await expect(train(ds, cfg, { onEpoch: (l) => void epochs.push(l.stage) })).rejects.toThrow(/needs at least one content modality/);
    expect(epochs).toEqual([]);
    // Every model field is checked there, not only the content (checkMufasaConfig).
    const bad = deepMerge(small, { model: { layers: 2, userHead: 'ffn' }, cfEpochs: 1, mflEpochs: 1 });
    await expect(train(ds, bad, { onEpoch: (l) => void epochs.push(l.stage) })).rejects.toThrow(/layers 2 needs userHead 'block'/);
    expect(epochs).toEqual([]);
  });
});
