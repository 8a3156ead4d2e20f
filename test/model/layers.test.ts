// MufasaConfig.layers (SAL + 'block' head stacked, as SASRec stacks its Transformer blocks) and
// MufasaConfig.layerDropout (SASRec's hidden dropout inside each layer); the paper has neither.
// - Two layers: the user vectors are the second layer's SAL and head over the first layer's output,
//   x₁ = FFN-block(LN(H + SAL₀(H))), u = FFN-block(LN(x₁ + SAL₁(x₁))), built here from the public,
//   separately reference-tested pieces (SAL.forward, ffnHead, layerNorm); the last-item path equals
//   the every-position path's last rows; every parameter of both layers is trained.
// - The stack's backward against central differences of its own forward (f32 on the GPU, d/dH of a
//   random projection, eps 1e-2: the tolerance of the other f32 finite-difference tests).
// - The dense and mean ablation towers stack the same way (own Q/K/V per dense layer, unique names),
//   and every matrix and gain of both layers gets a gradient.
// - One layer initialises exactly as before the field existed (upper layers draw their values last).
// - Layer dropout acts in training only, at the two residual branches of every layer, with masks
//   from the step seed past H's draws; configs that cannot work are errors naming the field.
import { it, expect } from 'vitest';
import { buildModel } from '../../src/train/build.ts';
import { Mufasa, ffnHead } from '../../src/model/mufasa.ts';
import { tidy, dropout, layerNorm, add } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { randn } from '../reference/nd.ts';
import { expectClose, gpuGrads, finiteDiff } from '../helpers.ts';
import { ds, D, batch, tinyConfig as config, withTinyModel as withModel } from './tiny-mufasa.ts';

/** One 'block' layer by hand: FFN-block(LN(x + drop(SAL(x)))), the FFN's output through `drop` too. */
function layerByHand(m: Mufasa, l: number, x: Tensor, drop: (t: Tensor) => Tensor = (t) => t): Tensor {
  const { sal, head } = l === 0 ? { sal: m.sal, head: m.head! } : { sal: m.upper[l - 1].sal!, head: m.upper[l - 1].head };
  return ffnHead(layerNorm(add(x, drop(sal.forward(x, batch.lengths))), head.ln0!.g, head.ln0!.beta, 1e-5), head, drop);
}

it('layers 2: the second SAL layer and head over the first layer\'s output, at every position and the last; both layers trained', async () => {
  await withModel({ layers: 2, dropout: 0 }, async (m, z) => {
    expect(m.upper).toHaveLength(1);
    const names = m.parameters().map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['sal.window.q', 'sal1.window.q', 'sal1.gate', 'head.ff1', 'head1.ff1', 'head1.ln0.gamma']));
    const got = tidy(() => m.userVectors(z(), batch));
    const want = tidy(() => layerByHand(m, 1, layerByHand(m, 0, m.sequenceVectors(z(), batch))));
    const one = tidy(() => layerByHand(m, 0, m.sequenceVectors(z(), batch)));
    const g = await got.data();
    expectClose(g, await want.data(), { rtol: 1e-6, atol: 1e-6 }, 'two-layer user vectors');
    // The second layer changes the answer (it is not skipped).
    const o = await one.data();
    expect(g.some((v, i) => Math.abs(v - o[i]) > 1e-3)).toBe(true);
    const last = tidy(() => m.userVectors(z(), batch, true));
    expect([...last.shape]).toEqual([3, 1, D]);
    const l = await last.data();
    batch.lengths.forEach((n, b) => expectClose(l.subarray(b * D, (b + 1) * D), g.subarray((b * 7 + n - 1) * D, (b * 7 + n) * D), { rtol: 1e-5, atol: 1e-5 }, `last item of sequence ${b}`));
    [got, want, one, last].forEach((t) => t.dispose());

    const loss = tidy(() => m.userItemLoss(z(), batch));
    loss.backward();
    // Every weight matrix and layer norm of both layers gets a gradient (biases start at 0 but are
    // trained too; checking the matrices is enough to see each layer is on the path).
    const trained = m.parameters().filter((p) => /^(sal1?|head1?)\.(window|block|core)\.[qkv]$|^(sal1?)\.(phi|gate)$|^head1?\.(ff1|ff2|ln\.gamma|ln0\.gamma)$/.test(p.name!));
    expect(trained).toHaveLength(2 * (9 + 2 + 4));
    for (const p of trained) expect((await p.grad!.data()).some((v) => v !== 0), p.name).toBe(true);
    loss.dispose();
  });
});

it('layers 2: the stack\'s gradient with respect to H matches central differences of its forward', async () => {
  await withModel({ layers: 2, dropout: 0 }, async (m) => {
    const h = randn([3, 7, D], 21);
    const w = randn([3, 7, D], 22);
    // Padding rows: H is zero there in the model (sequenceVectors), and their outputs are never read
    // (no loss row, masked as keys). There each layer norm sees a zero vector, where it is not
    // differentiable at the scale of eps 1e-2, so they are left out of the projection.
    batch.lengths.forEach((n, b) => {
      for (let t = n; t < 7; t++) for (let c = 0; c < D; c++) h.data[(b * 7 + t) * D + c] = w.data[(b * 7 + t) * D + c] = 0;
    });
    const f = (xs: Tensor[]) => tidy(() => m.encode(xs[0], batch));
    const { grads } = await gpuGrads(f, [h], w);
    const fd = await finiteDiff(f, [h], 0, 1e-2, w);
    expect(grads[0].data.some((v) => Math.abs(v) > 1e-2)).toBe(true);
    expectClose(grads[0].data, fd, { rtol: 2e-2, atol: 2e-3 }, 'd(stack)/dH vs finite differences');
  });
});

it('layers 1 builds the same first layer, with the same initial values, as before `layers` existed', async () => {
  const one = buildModel(ds, config({ layers: 1 })) as Mufasa;
  const two = buildModel(ds, config({ layers: 2 })) as Mufasa;
  try {
    expect(one.upper).toHaveLength(0);
    const twoByName = new Map(two.parameters().map((p) => [p.name, p]));
    for (const p of one.parameters()) expect(Array.from(await twoByName.get(p.name)!.data()), p.name).toEqual(Array.from(await p.data()));
  } finally {
    one.dispose();
    two.dispose();
  }
});

it('layerDropout: at both residual branches of every layer in training only, masks from the step seed after H\'s', async () => {
  const p = 0.3;
  await withModel({ layers: 2, dropout: 0, layerDropout: p }, async (m, z) => {
    expect(m.stochastic).toBe(true);
    const evalU = tidy(() => m.userVectors(z(), batch));
    const plain = tidy(() => layerByHand(m, 1, layerByHand(m, 0, m.sequenceVectors(z(), batch))));
    expectClose(await evalU.data(), await plain.data(), { rtol: 1e-6, atol: 1e-6 }, 'no layer dropout without a seed');
    const trainU = tidy(() => m.userVectors(z(), batch, false, { seed: 9 }));
    const byHand = tidy(() => {
      const h = m.sequenceVectors(z(), batch);
      let offset = h.size;
      const drop = (t: Tensor) => {
        const y = dropout(t, p, 9, offset);
        offset += t.size;
        return y;
      };
      return layerByHand(m, 1, layerByHand(m, 0, h, drop), drop);
    });
    const a = await trainU.data();
    expectClose(a, await byHand.data(), { rtol: 1e-6, atol: 1e-6 }, 'dropout at SAL and FFN outputs of both layers');
    const b = await evalU.data();
    expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-3)).toBe(true);
    [evalU, plain, trainU, byHand].forEach((t) => t.dispose());
  });
  await withModel({ dropout: 0, layerDropout: 0 }, async (m) => expect(m.stochastic).toBe(false));
});

for (const userTower of ['dense', 'mean'] as const) {
  it(`layers 2 with the ${userTower} tower (an ablation): the tower stacks too, and every parameter is trained`, async () => {
    await withModel({ layers: 2, dropout: 0, userTower }, async (m, z) => {
      expect(m.upper[0].sal).toBeNull();
      expect(m.upper[0].dense !== null).toBe(userTower === 'dense');
      const names = m.parameters().map((p) => p.name!);
      expect(new Set(names).size).toBe(names.length);
      if (userTower === 'dense') expect(names).toEqual(expect.arrayContaining(['dense.q', 'dense1.q', 'dense1.k', 'dense1.v']));
      const loss = tidy(() => m.userItemLoss(z(), batch));
      expect(Number.isFinite((await loss.data())[0])).toBe(true);
      loss.backward();
      // Every matrix and every gain (biases and betas start at zero; their gradients may be too).
      const trained = m.parameters().filter((p) => /^(dense1?\.[qkv]|head1?\.(ff1|ff2|ln\.gamma|ln0\.gamma))$/.test(p.name!));
      expect(trained).toHaveLength(userTower === 'dense' ? 6 + 8 : 8);
      for (const p of trained) expect((await p.grad!.data()).some((v) => v !== 0), p.name).toBe(true);
      loss.dispose();
    });
  });
}

it('layers and layerDropout: bad values are errors naming the field', () => {
  expect(() => buildModel(ds, config({ layers: 0 }))).toThrow(/layers must be a positive integer, got 0/);
  expect(() => buildModel(ds, config({ layers: 1.5 }))).toThrow(/layers must be a positive integer, got 1.5/);
  expect(() => buildModel(ds, config({ layers: 2, userHead: 'ffn' }))).toThrow(/layers 2 needs userHead 'block'.*got 'ffn'/);
  expect(() => buildModel(ds, config({ layerDropout: 1 }))).toThrow(/layerDropout must be in \[0, 1\), got 1/);
});
