// MufasaConfig.userHead ('ffn', 'block') and MufasaConfig.dropout (issue #5 model changes; the paper has neither).
// - ffnHead against a float64 reference of LN(u + W₂·gelu(W₁u + b₁) + b₂) on odd shapes (rows 7, d 5,
//   inner 20), and its gradients (u and all six parameters) against float64 central differences of
//   that reference; f32 throughout on the GPU, so forward 2e-5 and gradients 1e-3 relative.
// - The model applies the head after the user tower, in evaluation and in the loss; 'block' first adds
//   the query item and layer-normalises (LN(h_t + SAL(H)_t)).
// - Dropout acts on H in training only: with a seed the user vectors equal SAL(dropout(H, p, seed)),
//   without one they equal SAL(H); the same seed gives the same loss, another seed another loss.
import { it, expect } from 'vitest';
import { defaultTrainConfig, savedTrainConfig } from '../../src/train/config.ts';
import { buildModel } from '../../src/train/build.ts';
import { deepMerge } from '../../src/model/presets.ts';
import { Mufasa, ffnHead } from '../../src/model/mufasa.ts';
import { tidy, dropout, layerNorm, add } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { expectClose, gpuGrads } from '../helpers.ts';
import { ds, batch, withTinyModel } from './tiny-mufasa.ts';

// ---------------------------------------------------------------- float64 reference of the head
function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** [n, d] rows of LN(u + W₂·gelu(W₁u + b₁) + b₂). */
function headRef(u: Nd, w1: Nd, b1: Nd, w2: Nd, b2: Nd, g: Nd, beta: Nd): Float64Array {
  const [n, d] = u.shape;
  const inner = w1.shape[1];
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    const hid = new Float64Array(inner);
    for (let j = 0; j < inner; j++) {
      let s = b1.data[j];
      for (let c = 0; c < d; c++) s += u.data[r * d + c] * w1.data[c * inner + j];
      hid[j] = geluRef(s);
    }
    const x = new Float64Array(d);
    for (let c = 0; c < d; c++) {
      let s = b2.data[c];
      for (let j = 0; j < inner; j++) s += hid[j] * w2.data[j * d + c];
      x[c] = u.data[r * d + c] + s;
    }
    const mu = x.reduce((a, v) => a + v, 0) / d;
    const vr = x.reduce((a, v) => a + (v - mu) ** 2, 0) / d;
    for (let c = 0; c < d; c++) out[r * d + c] = ((x[c] - mu) / Math.sqrt(vr + 1e-5)) * g.data[c] + beta.data[c];
  }
  return out;
}

it('ffnHead: forward and every gradient match a float64 reference (central differences)', async () => {
  const n = 7;
  const d = 5;
  const inner = 20;
  const inputs = [
    randn([n, d], 1),
    randn([d, inner], 2, 0.4),
    randn([inner], 3, 0.1),
    randn([inner, d], 4, 0.3),
    randn([d], 5, 0.1),
    randn([d], 6, 0.2).map((v) => 1 + v),
    randn([d], 7, 0.1),
  ];
  const w = randn([n, d], 8);
  const f = (xs: Tensor[]) => tidy(() => ffnHead(xs[0], { w1: xs[1], b1: xs[2], w2: xs[3], b2: xs[4], g: xs[5], beta: xs[6] }));
  const { out, grads } = await gpuGrads(f, inputs, w);
  const ref = (xs: Nd[]) => headRef(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], xs[6]);
  expectClose(out.data, ref(inputs), { rtol: 2e-5, atol: 2e-5 }, 'ffnHead forward');
  const loss = (xs: Nd[]) => ref(xs).reduce((a, v, i) => a + v * w.data[i], 0);
  const names = ['u', 'w1', 'b1', 'w2', 'b2', 'gamma', 'beta'];
  const h = 1e-6;
  inputs.forEach((x, k) => {
    const num = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const at = (s: number) => loss(inputs.map((y, j) => (j === k ? y.map((v, e) => (e === i ? v + s : v)) : y)));
      num[i] = (at(h) - at(-h)) / (2 * h);
    }
    expectClose(grads[k].data, num, { rtol: 1e-3, atol: 1e-4 }, `ffnHead d${names[k]}`);
  });
});

// One SAL layer: the expected values below build that one layer by hand.
const withModel = (model: object, f: (m: Mufasa, z: () => Tensor) => Promise<void>) => withTinyModel({ layers: 1, ...model }, f);

for (const kind of ['ffn', 'block'] as const) {
  it(`userHead '${kind}': user vectors are the head over SAL's output (at every position and the last), and the head is trained`, async () => {
    await withModel({ userHead: kind, dropout: 0 }, async (m, z) => {
      expect(m.head?.w1.shape).toEqual([8, 32]);
      expect(m.head?.ln0 !== null).toBe(kind === 'block');
      const got = tidy(() => m.userVectors(z(), batch));
      const want = tidy(() => {
        const h = m.sequenceVectors(z(), batch);
        const u = m.sal.forward(h, batch.lengths);
        // 'block': a Transformer layer around SAL, the query item h_t as the residual.
        return ffnHead(kind === 'block' ? layerNorm(add(h, u), m.head!.ln0!.g, m.head!.ln0!.beta, 1e-5) : u, m.head!);
      });
      expectClose(await got.data(), await want.data(), { rtol: 1e-6, atol: 1e-6 }, 'user vectors with the head');
      const last = tidy(() => m.userVectors(z(), batch, true));
      const g = await got.data();
      const l = await last.data();
      batch.lengths.forEach((n, b) => expectClose(l.subarray(b * 8, b * 8 + 8), g.subarray((b * 7 + n - 1) * 8, (b * 7 + n) * 8), { rtol: 1e-5, atol: 1e-5 }, `last item of sequence ${b}`));
      [got, want, last].forEach((t) => t.dispose());
      const loss = tidy(() => m.userItemLoss(z(), batch));
      loss.backward();
      const trained = [m.head!.w1, m.head!.w2, m.head!.g, ...(m.head!.ln0 ? [m.head!.ln0.g, m.head!.ln0.beta] : [])];
      for (const p of trained) expect((await p.grad!.data()).some((v) => v !== 0), p.name).toBe(true);
      expect(m.parameters()).toEqual(expect.arrayContaining(trained));
      loss.dispose();
    });
  });
}

it('dropout: on H in training only, reproducible from the step seed', async () => {
  await withModel({ dropout: 0.4 }, async (m, z) => {
    expect(m.stochastic).toBe(true);
    const evalU = tidy(() => m.userVectors(z(), batch));
    const plain = tidy(() => {
      const h = m.sequenceVectors(z(), batch);
      return m.withHead(m.sal.forward(h, batch.lengths), h);
    });
    expectClose(await evalU.data(), await plain.data(), { rtol: 0, atol: 0 }, 'no dropout without a seed');
    const trainU = tidy(() => m.userVectors(z(), batch, false, { seed: 11 }));
    const dropped = tidy(() => {
      const h = dropout(m.sequenceVectors(z(), batch), 0.4, 11);
      return m.withHead(m.sal.forward(h, batch.lengths), h);
    });
    expectClose(await trainU.data(), await dropped.data(), { rtol: 1e-6, atol: 1e-6 }, 'SAL(dropout(H))');
    const a = await trainU.data();
    const b = await evalU.data();
    expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-4)).toBe(true);
    [evalU, plain, trainU, dropped].forEach((t) => t.dispose());
    const lossAt = async (seed: number) => {
      const l = tidy(() => m.userItemLoss(z(), batch, { seed }));
      const v = (await l.data())[0];
      l.dispose();
      return v;
    };
    const l1 = await lossAt(3);
    expect(await lossAt(3)).toBe(l1);
    expect(Math.abs((await lossAt(4)) - l1)).toBeGreaterThan(1e-6);
  });
  await withModel({ dropout: 0 }, async (m) => expect(m.stochastic).toBe(false));
});

it('a saved config from before userHead/dropout/windowStride/score existed restores the model it trained (no head, no dropout, last window, cosine)', () => {
  const old = savedTrainConfig({ model: { dim: 8, positions: 0 } });
  expect(old.model.userHead).toBe('none');
  expect(old.model.dropout).toBe(0);
  // Likewise training windows: a run from before them trained each sequence's last maxLen items only.
  expect(old.windowStride).toBe('last');
  // And one SAL layer, also under the 'block' head (layers came after it).
  expect(old.model.layers).toBe(1);
  expect(savedTrainConfig({ model: { userHead: 'block', dropout: 0.3 } }).model.layers).toBe(1);
  // And cosine scores (the default until 'dot' measured better), whatever else the run had.
  expect(old.model.score).toBe('cosine');
  expect(savedTrainConfig({ model: { userHead: 'block', temperature: 0.1 } }).model.score).toBe('cosine');
  expect(savedTrainConfig({ model: { score: 'dot', temperature: 1 } }).model.score).toBe('dot');
  const now = savedTrainConfig(defaultTrainConfig);
  expect(now.model.score).toBe('dot');
  expect(now.windowStride).toBe(defaultTrainConfig.windowStride);
  expect(now.model.userHead).toBe('block');
  expect(now.model.dropout).toBe(0.3);
  expect(savedTrainConfig({ model: { userHead: 'ffn', dropout: 0.5 } }).model.dropout).toBe(0.5);
  expect(() => savedTrainConfig({ model: { heads: 2 } }, 'ck/config')).toThrow(/ck\/config: unknown field 'heads'.*saved by a newer mufasa-gpu/);
  const m = buildModel(ds, deepMerge(old, { model: { sal: { blockSize: 2, topK: 2 } }, maxLen: 12 })) as Mufasa;
  expect(m.head).toBeNull();
  m.dispose();
});
